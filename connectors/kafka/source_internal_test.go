package kafka

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// output collects what a reader emits.
type output struct {
	values  []string
	offsets []int64
}

func (o *output) Emit(v Record[string], offset int64) { o.EmitAt(v, time.Time{}, offset) }
func (o *output) EmitAt(v Record[string], _ time.Time, offset int64) {
	o.values = append(o.values, v.Value)
	o.offsets = append(o.offsets, offset)
}
func (o *output) Watermark(time.Time)      {}
func (o *output) Idle()                    {}
func (o *output) Reject(any, int64, error) {}

// A reader that is not polled lets its partition's buffer fill to its
// bound and no further than the fetch that filled it: the fetches stop,
// the client holding the one response it fetched meanwhile. Polled again,
// the reader reads every record, each once, in order, and the client
// fetched each record once: none it held was dropped to be fetched again.
func TestReaderBackpressureFetchesOnce(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("t", 1)
	const n, size = 200, 1 << 10
	produceNumbered(t, c, "t", 0, n, size)
	const limit, fetch = 8 << 10, 4 << 10
	src, err := NewSource(SourceConfig[string]{Conn: Conn{Brokers: c.Brokers()}, Topics: []string{"t"},
		Decoder: format.String(), BufferBytes: limit, FetchMaxPartitionBytes: fetch})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := src.Splits(ctx); err != nil {
		t.Fatal(err)
	}
	r, woken := openReader(t, src, "t-0")
	var out output
	if st, err := r.Poll(&out, 0); err != nil || st != weir.Wait {
		t.Fatalf("first Poll = %v, %v; want Wait", st, err)
	}
	for full := false; !full; {
		select {
		case <-woken:
		case <-time.After(time.Minute):
			t.Fatal("the partition's buffer never filled")
		}
		r.buf.mu.Lock()
		var bytes int
		full, bytes = r.buf.full, r.buf.bytes
		r.buf.mu.Unlock()
		// Over the bound by at most the last fetch: a batch beyond the
		// fetch limit at most, and 128 bytes counted per record.
		if most := limit + fetch + size + 128*(fetch/size+2); bytes > most {
			t.Fatalf("the buffer holds %d bytes, want at most %d", bytes, most)
		}
	}
	r.buf.mu.Lock()
	buffered := int64(len(r.buf.recs))
	r.buf.mu.Unlock()
	for deadline := time.Now().Add(time.Minute); r.f.fetched.n.Load() <= buffered; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the client fetched nothing beyond the %d records buffered", buffered)
		}
	}
	readAll(t, r, woken, &out, n)
	for i, v := range out.values {
		if !strings.HasPrefix(v, fmt.Sprintf("%04d", i)) || out.offsets[i] != int64(i) {
			t.Fatalf("record %d: %.4s at offset %d", i, v, out.offsets[i])
		}
	}
	if got := r.f.fetched.n.Load(); got != n {
		t.Fatalf("the client fetched %d records to read %d", got, n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// A partition whose reader is not polled holds another's back only for a
// while: the full one's fetches are paused, and the other's reader reads
// all its records.
func TestFullPartitionDoesNotStarveAnother(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("t", 2)
	const n, size = 200, 1 << 10
	produceNumbered(t, c, "t", 0, n, size)
	produceNumbered(t, c, "t", 1, n, size)
	const limit, fetch = 8 << 10, 4 << 10
	src, err := NewSource(SourceConfig[string]{Conn: Conn{Brokers: c.Brokers()}, Topics: []string{"t"},
		Decoder: format.String(), BufferBytes: limit, FetchMaxPartitionBytes: fetch})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := src.Splits(ctx); err != nil {
		t.Fatal(err)
	}
	slow, _ := openReader(t, src, "t-0")
	fast, woken := openReader(t, src, "t-1")
	var out output
	for _, r := range []*reader[string]{slow, fast} {
		if _, err := r.Poll(&out, 0); err != nil {
			t.Fatal(err)
		}
	}
	readAll(t, fast, woken, &out, n)
	slow.buf.mu.Lock()
	paused := slow.buf.paused
	slow.buf.mu.Unlock()
	if !paused {
		t.Fatal("the partition that was not read is not paused")
	}
	for _, r := range []*reader[string]{slow, fast} {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// produceNumbered writes n records of size bytes to partition p of topic,
// each starting with its number, uncompressed and one per batch, so that
// the fetch limit bounds what a fetch holds and a fetch can stop at any
// record.
func produceNumbered(t *testing.T, c *kafkatest.Cluster, topic string, p int32, n, size int) {
	t.Helper()
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		v := fmt.Sprintf("%04d%s", i, strings.Repeat("x", size-4))
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v), Partition: p}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// openReader opens split id of src, with a wake-up that signals the
// channel returned.
func openReader(t *testing.T, src *Source[string], id string) (*reader[string], chan struct{}) {
	t.Helper()
	rd, err := src.OpenSplit(context.Background(), weir.Split{ID: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rd.(*reader[string])
	woken := make(chan struct{}, 1)
	r.SetWake(func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	})
	return r, woken
}

// readAll polls r until out holds n values.
func readAll(t *testing.T, r *reader[string], woken chan struct{}, out *output, n int) {
	t.Helper()
	start := len(out.values)
	for len(out.values)-start < n {
		st, err := r.Poll(out, 7)
		if err != nil {
			t.Fatal(err)
		}
		if st == weir.Wait && len(out.values)-start < n {
			select {
			case <-woken:
			case <-time.After(time.Minute):
				t.Fatalf("%s: read %d records of %d, then nothing came", r.id, len(out.values)-start, n)
			}
		}
	}
}

// A split opened twice in one process (two jobs sharing a Source value)
// is an error, not two readers splitting its records.
func TestSplitOpenedTwice(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("t", 1)
	src, err := NewSource(SourceConfig[string]{Conn: Conn{Brokers: c.Brokers()}, Topics: []string{"t"}, Decoder: format.String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := src.Splits(ctx); err != nil {
		t.Fatal(err)
	}
	rd, err := src.OpenSplit(ctx, weir.Split{ID: "t-0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.OpenSplit(ctx, weir.Split{ID: "t-0"}, nil); err == nil || !strings.Contains(err.Error(), `split "t-0" is open already`) {
		t.Fatalf("second OpenSplit = %v, want an error saying the split is open already", err)
	}
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	// The failed open gave its use of the client back: the last close
	// closed it.
	if src.f != nil || src.users != 0 {
		t.Fatalf("after closing the reader the source holds a client (%d users)", src.users)
	}
}

// The fetch pools hand out slices with room for what was asked, and a
// slice put back serves only requests it has room for.
func TestFetchPoolsSizes(t *testing.T) {
	var p fetchPools
	for _, n := range []int{0, 1, 2, 3, 100, 128, 129, 5000} {
		rs := p.GetRecords(n)
		if cap(rs) < n || len(rs) != 0 {
			t.Fatalf("GetRecords(%d): len %d cap %d", n, len(rs), cap(rs))
		}
		p.PutRecords(rs[:cap(rs)])
		b := p.GetDecompressBytes(make([]byte, n), kgo.CodecGzip)
		if cap(b) < 4*n || len(b) != 0 {
			t.Fatalf("GetDecompressBytes(%d bytes of gzip): len %d cap %d", n, len(b), cap(b))
		}
		p.PutDecompressBytes(b)
	}
	// A slice grown to an odd size goes back to the class below it, not
	// to serve a request for more than it holds.
	p.PutDecompressBytes(make([]byte, 0, 3000))
	if b := p.GetDecompressBytes(make([]byte, 1000), kgo.CodecLz4); cap(b) < 4000 {
		t.Fatalf("GetDecompressBytes(1000 bytes of lz4) after putting 3000: cap %d", cap(b))
	}
	snappy := s2.EncodeSnappy(nil, bytes.Repeat([]byte("weir "), 2000))
	if b := p.GetDecompressBytes(snappy, kgo.CodecSnappy); cap(b) < 10000 {
		t.Fatalf("GetDecompressBytes(snappy of 10000 bytes): cap %d", cap(b))
	}
}

// A reader reports its partition's consumer lag: the records after its
// offset, as of the last fetch.
func TestReaderReportsLag(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("t", 1)
	produceNumbered(t, c, "t", 0, 50, 16)
	src, err := NewSource(SourceConfig[string]{Conn: Conn{Brokers: c.Brokers()}, Topics: []string{"t"}, Decoder: format.String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Splits(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, woken := openReader(t, src, "t-0")
	if ms := r.Metrics(); ms != nil {
		t.Fatalf("before any fetch: %v, want no metric", ms)
	}
	var out output
	readAll(t, r, woken, &out, 20)
	lag := func() float64 {
		ms := r.Metrics()
		if len(ms) != 1 || ms[0].Name != "kafka_consumer_lag_records" || fmt.Sprint(ms[0].Labels) != "[[topic t] [partition 0]]" {
			t.Fatalf("metrics %v, want kafka_consumer_lag_records of t/0", ms)
		}
		return ms[0].Value
	}
	if got, want := lag(), float64(50-len(out.values)); got != want {
		t.Fatalf("lag after reading %d of 50: %v, want %v", len(out.values), got, want)
	}
	readAll(t, r, woken, &out, 50-len(out.values))
	if got := lag(); got != 0 {
		t.Fatalf("lag after reading all: %v, want 0", got)
	}
}
