package kinesis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kinesis"
	"github.com/weirstream/weir/connectors/kinesis/kinesistest"
)

// faults stands between the connector and the emulator and refuses
// requests as Kinesis does when a shard's throughput is exceeded.
type faults struct {
	target string
	client *http.Client

	mu struct {
		sync.Mutex
		// getRecords is how many GetRecords calls to refuse from now on;
		// refused counts those refused.
		getRecords, refused int
		// putRecords is how many PutRecords requests to fail every
		// other entry of (-1: forever); failedEntries counts them.
		putRecords, failedEntries int
	}
}

func startFaults(t *testing.T, srv *kinesistest.Server) (*faults, kinesis.Conn) {
	f := &faults{target: srv.Endpoint(), client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	conn := srv.Conn()
	conn.Endpoint = ts.URL
	return f, conn
}

const throttledBody = `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard"}`

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	op := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	refuse := strings.HasSuffix(op, ".GetRecords") && f.mu.getRecords > 0
	if refuse {
		f.mu.getRecords--
		f.mu.refused++
	}
	split := strings.HasSuffix(op, ".PutRecords") && f.mu.putRecords != 0
	if split && f.mu.putRecords > 0 {
		f.mu.putRecords--
	}
	f.mu.Unlock()
	if refuse {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, throttledBody)
		return
	}
	if split {
		f.putHalf(w, r, body)
		return
	}
	resp, err := f.forward(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (f *faults) forward(r *http.Request, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(r.Method, f.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	return f.client.Do(req)
}

type putRequest struct {
	Records []struct {
		Data            []byte
		PartitionKey    string
		ExplicitHashKey string `json:",omitempty"`
	}
	StreamName string `json:",omitempty"`
	StreamARN  string `json:",omitempty"`
}

type putResult struct {
	SequenceNumber, ShardId string `json:",omitempty"`
	ErrorCode, ErrorMessage string `json:",omitempty"`
}

// putHalf forwards the even entries of a PutRecords request and answers
// that the odd ones were throttled.
func (f *faults) putHalf(w http.ResponseWriter, r *http.Request, body []byte) {
	var in putRequest
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fwd := in
	fwd.Records = nil
	for i := 0; i < len(in.Records); i += 2 {
		fwd.Records = append(fwd.Records, in.Records[i])
	}
	b, _ := json.Marshal(fwd)
	resp, err := f.forward(r, b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var out struct {
		FailedRecordCount int
		Records           []putResult
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.Records) != len(fwd.Records) {
		http.Error(w, fmt.Sprintf("PutRecords: status %d, %v", resp.StatusCode, err), http.StatusBadGateway)
		return
	}
	res := make([]putResult, len(in.Records))
	failed := 0
	for i := range res {
		if i%2 == 0 {
			res[i] = out.Records[i/2]
		} else {
			res[i] = putResult{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard"}
			failed++
		}
	}
	f.mu.Lock()
	f.mu.failedEntries += failed
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"FailedRecordCount": failed + out.FailedRecordCount, "Records": res})
}

// A reader whose GetRecords calls Kinesis throttles, more times in a row
// than the SDK retries, backs off and reads on, every record once.
func TestGetRecordsThrottled(t *testing.T) {
	srv := kinesistest.Start(t)
	stream := newStream(srv, 1)
	f, conn := startFaults(t, srv)
	f.mu.getRecords = 7
	want := writeKeyed(srv, stream, 3, 0, 20)
	src, err := kinesis.NewSource(kinesis.SourceConfig[string]{Conn: conn, Stream: stream, Decoder: format.String()})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := collectValues(t, src, 1, len(want), t.TempDir(), "")
	if d := diffStrings(sorted(got), sorted(want)); d != "" {
		t.Fatal(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.refused != 7 {
		t.Fatalf("refused %d GetRecords calls, want 7", f.mu.refused)
	}
}

// A PutRecords request Kinesis stores only part of is sent again with the
// refused records alone: each is stored once. When the retries run out,
// Flush fails naming how many records were refused.
func TestPutRecordsPartialFailures(t *testing.T) {
	srv := kinesistest.Start(t)
	ctx := context.Background()

	t.Run("Retried", func(t *testing.T) {
		stream := newStream(srv, 2)
		f, conn := startFaults(t, srv)
		f.mu.putRecords = 4
		sink, err := kinesis.NewSink(kinesis.SinkConfig[string]{Conn: conn, Stream: stream, Encoder: format.String(),
			PartitionKey: func(v string) string { return v[len(v)-1:] }})
		if err != nil {
			t.Fatal(err)
		}
		w, err := sink.Open(ctx, weir.SinkInfo{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range 1200 {
			v := fmt.Sprintf("v%d", i)
			want = append(want, v)
			if err := w.Write(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range srv.Records(stream) {
			got = append(got, string(r.Data))
		}
		if d := diffStrings(sorted(got), sorted(want)); d != "" {
			t.Fatal(d)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.mu.failedEntries == 0 {
			t.Fatal("no entry was refused: the test did not exercise retries")
		}
		t.Logf("%d entries refused and sent again", f.mu.failedEntries)
	})

	t.Run("RetriesRunOut", func(t *testing.T) {
		stream := newStream(srv, 1)
		f, conn := startFaults(t, srv)
		f.mu.putRecords = -1
		sink, err := kinesis.NewSink(kinesis.SinkConfig[string]{Conn: conn, Stream: stream, Encoder: format.String(),
			PartitionKey: func(string) string { return "k" }, Retries: 2})
		if err != nil {
			t.Fatal(err)
		}
		w, err := sink.Open(ctx, weir.SinkInfo{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			if err := w.Write(fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		err = w.(weir.Flusher).Flush()
		if err == nil || !strings.Contains(err.Error(), "still refused after 2 retries") {
			t.Fatalf("Flush: %v, want the records still refused after 2 retries", err)
		}
		w.Close()
	})
}

// Records the sink cannot write fail the job naming why.
func TestSinkRefusesBadRecords(t *testing.T) {
	conn := kinesis.Conn{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", AccessKeyID: "a", SecretAccessKey: "b", Timeout: time.Second}
	for _, tc := range []struct {
		key, data, want string
	}{
		{"", "x", "has 0 characters"},
		{strings.Repeat("k", 257), "x", "has 257 characters"},
		{"k", strings.Repeat("x", kinesis.MaxRecordBytes), "more than Kinesis's"},
	} {
		sink, err := kinesis.NewSink(kinesis.SinkConfig[string]{Conn: conn, Stream: "s", Encoder: format.String(),
			PartitionKey: func(string) string { return tc.key }})
		if err != nil {
			t.Fatal(err)
		}
		w, err := sink.Open(context.Background(), weir.SinkInfo{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write with key of %d characters and %d bytes: %v, want %q", len(tc.key), len(tc.data), err, tc.want)
		}
	}
}
