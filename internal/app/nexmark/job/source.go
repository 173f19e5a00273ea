package job

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/internal/app/nexmark"
)

// generatorSource is the in-process Nexmark generator as a source. Split i
// of n yields events i, i+n, i+2n, …; each split is in event-time order.
// Split IDs carry n ("2/4"), so a restore with another split count fails
// naming the split instead of reading events twice.
type generatorSource struct {
	gen    *nexmark.Generator
	splits int
	rate   float64 // events per wall-clock second over all splits; 0: no limit
	read   *atomic.Int64
}

func (g *generatorSource) Splits(context.Context) ([]weir.Split, error) {
	out := make([]weir.Split, g.splits)
	for i := range out {
		out[i] = weir.Split{ID: strconv.Itoa(i) + "/" + strconv.Itoa(g.splits)}
	}
	return out, nil
}

func (g *generatorSource) Bounded() bool { return g.gen.Config().Events > 0 }

func (g *generatorSource) OpenSplit(_ context.Context, s weir.Split, pos []byte) (weir.SplitReader[nexmark.Event], error) {
	is, ns, _ := strings.Cut(s.ID, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if err1 != nil || err2 != nil || n != g.splits || i < 0 || i >= n {
		return nil, fmt.Errorf("nexmark generator: no split %q among %d splits (a restore must use the split count of the run it restores)", s.ID, g.splits)
	}
	r := &generatorReader{gen: g.gen, next: int64(i), stride: int64(n), end: g.gen.Config().Events, read: g.read}
	if g.rate > 0 {
		r.rate, r.start = g.rate/float64(n), time.Now()
	}
	if pos != nil {
		next, k := binary.Varint(pos)
		if k <= 0 || next < 0 || next%r.stride != int64(i) {
			return nil, fmt.Errorf("nexmark generator: split %q: bad position %x", s.ID, pos)
		}
		r.next = next
	}
	return r, nil
}

type generatorReader struct {
	gen          *nexmark.Generator
	next, stride int64
	end          int64 // 0: no end
	rate         float64
	start        time.Time
	sent         int64
	read         *atomic.Int64 // events emitted by every reader of the job
}

func (r *generatorReader) Poll(out weir.SourceOutput[nexmark.Event], max int) (weir.PollStatus, error) {
	if r.rate > 0 {
		due := int64(time.Since(r.start).Seconds()*r.rate) - r.sent
		if due <= 0 {
			return weir.Wait, nil
		}
		max = int(min(int64(max), due))
		r.sent += int64(max)
	}
	// Counted before they are emitted, so that no row the progress line
	// counts comes from an event it does not: one add per poll, not per
	// event, since the readers of all subtasks share the counter.
	n := int64(max)
	if r.end > 0 {
		n = min(n, (r.end-r.next+r.stride-1)/r.stride)
	}
	if n > 0 {
		r.read.Add(n)
	}
	for ; max > 0; max-- {
		if r.end > 0 && r.next >= r.end {
			return weir.End, nil
		}
		out.Emit(r.gen.Event(r.next), r.next)
		r.next += r.stride
	}
	if r.end > 0 && r.next >= r.end {
		return weir.End, nil
	}
	return weir.More, nil
}

func (r *generatorReader) Position() []byte { return binary.AppendVarint(nil, r.next) }
func (r *generatorReader) Close() error     { return nil }

// eventTime is the reference event time: the event's dateTime.
func eventTime(e nexmark.Event) time.Time { return time.UnixMilli(e.DateTime()) }

// fromGenerator adds the generator to e as the job's event source.
func fromGenerator(e *weir.Env, cfg nexmark.Config, splits int, rate float64, read *atomic.Int64) (weir.Stream[nexmark.Event], error) {
	if !(rate >= 0) || math.IsInf(rate, 1) {
		return weir.Stream[nexmark.Event]{}, fmt.Errorf("nexmark generator: rate %v must be a finite number, not negative (0 is as fast as the job goes)", rate)
	}
	gen, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return weir.Stream[nexmark.Event]{}, err
	}
	src := &generatorSource{gen: gen, splits: splits, rate: rate, read: read}
	return weir.From(e, src, weir.EventTime(eventTime, WatermarkDelay)).Name("nexmark").ID("nexmark-generator"), nil
}

// line is one line of an events file, decoded or not. Its JSON form, which
// a dead letter shows, is the line's text.
type line struct {
	text  string
	ev    nexmark.Event
	err   error
	blank bool // empty or only white space: skipped, not an error
}

// MarshalJSON writes the line's text as a JSON string.
func (l line) MarshalJSON() ([]byte, error) { return json.Marshal(l.text) }

// MarshalText returns the line's bytes as they were in the file, which a
// dead letter keeps (in base64 when they are not UTF-8) so that the line
// can be replayed.
func (l line) MarshalText() ([]byte, error) { return []byte(l.text), nil }

// fileSource reads events files (JSON lines, as `weir nexmark generate`
// writes them); each file is a split and a record's offset is its line
// number. A line that does not decode is emitted with its error, for the
// next operator to apply the job's error policy to.
type fileSource struct {
	lines *weir.LinesSource
	read  *atomic.Int64
}

func (f *fileSource) Splits(ctx context.Context) ([]weir.Split, error) { return f.lines.Splits(ctx) }
func (f *fileSource) Bounded() bool                                    { return true }

// OffsetName implements weir.OffsetNamer: offsets are line numbers.
func (f *fileSource) OffsetName() string { return f.lines.OffsetName() }

func (f *fileSource) OpenSplit(ctx context.Context, s weir.Split, pos []byte) (weir.SplitReader[line], error) {
	r, err := f.lines.OpenSplit(ctx, s, pos)
	if err != nil {
		return nil, err
	}
	return &fileReader{SplitReader: r, read: f.read}, nil
}

type fileReader struct {
	weir.SplitReader[string]
	out  weir.SourceOutput[line]
	read *atomic.Int64 // lines emitted by every reader of the job
}

func (r *fileReader) Poll(out weir.SourceOutput[line], max int) (weir.PollStatus, error) {
	r.out = out
	return r.SplitReader.Poll(r, max)
}

// Emit decodes one line of the file.
func (r *fileReader) Emit(text string, offset int64) {
	// Counted before the emit, as the generator counts, and as the
	// source's metrics do, blank lines too; decoding costs far more than
	// the shared add.
	r.read.Add(1)
	l := line{text: text}
	if strings.TrimSpace(text) == "" {
		l.blank = true
		r.out.Emit(l, offset)
		return
	}
	// DecodeJSON neither changes nor keeps its input, so the line's bytes
	// need no copy.
	if err := nexmark.DecodeJSON(unsafe.Slice(unsafe.StringData(text), len(text)), &l.ev); err != nil {
		l.err = err
	}
	r.out.Emit(l, offset)
}

func (r *fileReader) EmitAt(text string, _ time.Time, offset int64) { r.Emit(text, offset) }
func (r *fileReader) Watermark(t time.Time)                         { r.out.Watermark(t) }
func (r *fileReader) Idle()                                         { r.out.Idle() }
func (r *fileReader) Reject(raw any, offset int64, err error)       { r.out.Reject(raw, offset, err) }

// lineTime is a line's event time; a line that did not decode has none
// worth the name and takes the earliest time, which moves no watermark.
func lineTime(l line) time.Time {
	if l.err != nil || l.blank {
		return time.Time{}
	}
	return eventTime(l.ev)
}

// fromFiles adds a source of the events in the files matching patterns to e.
// Blank lines (empty or white space only, as a trailing newline too many
// leaves) are skipped and counted as filtered by the operator "skip blank
// lines", as JSON-lines readers do; lines that do not decode meet the job's
// error policy in the operator "decode".
func fromFiles(e *weir.Env, read *atomic.Int64, patterns ...string) weir.Stream[nexmark.Event] {
	src := weir.From(e, &fileSource{lines: weir.Lines(patterns...), read: read}, weir.EventTime(lineTime, WatermarkDelay)).
		Name("events").ID("nexmark-file")
	src = src.Filter(func(l line) bool { return !l.blank }).Name("skip blank lines").ID("nexmark-blank-lines")
	return weir.TryMap(src, func(l line) (nexmark.Event, error) {
		if l.err != nil {
			return nexmark.Event{}, fmt.Errorf("not a Nexmark event: %w", l.err)
		}
		return l.ev, nil
	}).Name("decode").ID("nexmark-decode")
}

// KafkaInput is a topic of Nexmark events, one JSON event per record.
type KafkaInput struct {
	Brokers []string
	Topic   string
	// Group, when set, is the consumer group the source commits its
	// offsets to at every checkpoint.
	Group string
}

// fromKafka adds a source of the events of a Kafka topic to e, read to the
// end offsets the topic has when the job first starts. A record that does
// not decode meets the job's error policy in the source, with its
// partition and offset.
func fromKafka(e *weir.Env, read *atomic.Int64, k KafkaInput) (weir.Stream[nexmark.Event], error) {
	src, err := kafka.NewSource(kafka.SourceConfig[nexmark.Event]{
		Conn: kafka.Conn{Brokers: k.Brokers}, Topics: []string{k.Topic}, Group: k.Group,
		Decoder: eventDecoder{read}, Bounded: true,
	})
	if err != nil {
		return weir.Stream[nexmark.Event]{}, err
	}
	recs := weir.From(e, src, weir.EventTime(func(r kafka.Record[nexmark.Event]) time.Time { return eventTime(r.Value) }, WatermarkDelay)).
		Name("events").ID("nexmark-kafka")
	return weir.Map(recs, func(r kafka.Record[nexmark.Event]) nexmark.Event { return r.Value }).
		Name("value").ID("nexmark-kafka-value"), nil
}

// eventDecoder decodes a record's JSON event, counting the records for the
// progress line.
type eventDecoder struct{ read *atomic.Int64 }

func (d eventDecoder) Decode(b []byte) (nexmark.Event, error) {
	d.read.Add(1)
	var ev nexmark.Event
	if err := nexmark.DecodeJSON(b, &ev); err != nil {
		return nexmark.Event{}, fmt.Errorf("not a Nexmark event: %w", err)
	}
	return ev, nil
}
