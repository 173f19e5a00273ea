package httpingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
)

type beacon struct {
	View  string `json:"view"`
	Event string `json:"event"`
	N     int    `json:"n"`
}

func openJournal(t *testing.T, cfg journal.Config) *journal.Journal {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	j, err := journal.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func newHandler(t *testing.T, cfg httpingest.Config) *httpingest.Handler {
	t.Helper()
	h, err := httpingest.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// post sends body to h and returns the answer's status, body and
// Retry-After.
func post(h http.Handler, path, contentType, body string) (int, string, string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header().Get("Retry-After")
}

// journalValues reads every record of j, by partition.
func journalValues(t *testing.T, j *journal.Journal) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	for p := range j.Partitions() {
		first, _, err := j.Bounds(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := j.NewReader(journal.ReaderConfig{Partition: p, Offset: first})
		if err != nil {
			t.Fatal(err)
		}
		for {
			n, err := r.Read(100, func(_ int64, _ time.Time, v []byte) { out[p] = append(out[p], string(v)) })
			if err != nil {
				t.Fatal(err)
			}
			if n < 100 {
				break
			}
		}
		r.Close()
	}
	return out
}

func all(m map[int][]string) []string {
	var out []string
	for _, vs := range m {
		out = append(out, vs...)
	}
	slices.Sort(out)
	return out
}

// Every accepted body shape puts its events, unchanged, in the partition
// of their view.
func TestAccepts(t *testing.T) {
	a := `{"view":"v1","event":"play","n":1}`
	b := `{"n":2, "event":"pause", "view":"v2"}`
	c := `{"view":"v\u0031","n":3,"nested":{"view":"x"}}`
	for _, tc := range []struct {
		name, contentType, body string
		want                    []string
		noCheck                 bool // the event is not a beacon
	}{
		{"one event", "application/json", a, []string{a}, false},
		{"an array", "application/json; charset=utf-8", "[" + a + ",\n " + b + "," + c + "]", []string{a, b, c}, false},
		{"JSON lines", "application/x-ndjson", a + "\n\n" + b + "\r\n" + c, []string{a, b, c}, false},
		{"JSON lines with parameters", "Application/X-NDJSON ; charset=utf-8", a + "\n" + b, []string{a, b}, false},
		{"text/plain, one event", "text/plain;charset=UTF-8", a, []string{a}, false},
		{"text/plain, an array", "text/plain", "[" + a + "," + b + "]", []string{a, b}, false},
		{"text/plain, lines", "text/plain", a + "\n" + b + "\n", []string{a, b}, false},
		{"no Content-Type, lines", "", a + "\n" + c, []string{a, c}, false},
		{"a number as the key", "application/json", `{"view":12.5}`, []string{`{"view":12.5}`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := openJournal(t, journal.Config{Partitions: 4})
			cfg := httpingest.Config{Journal: j, PartitionField: "view", Check: httpingest.Decodes(format.JSON[beacon]())}
			if tc.noCheck {
				cfg.Check = nil
			}
			h := newHandler(t, cfg)
			status, body, _ := post(h, "/events", tc.contentType, tc.body)
			if status != http.StatusOK || body != fmt.Sprintf("{\"accepted\":%d}\n", len(tc.want)) {
				t.Fatalf("answer %d %s", status, body)
			}
			got := journalValues(t, j)
			if w := slices.Sorted(slices.Values(tc.want)); !slices.Equal(all(got), w) {
				t.Fatalf("journal holds %v, want %v", got, w)
			}
			for p, vs := range got {
				for _, v := range vs {
					var x struct{ View any }
					json.Unmarshal([]byte(v), &x)
					key := fmt.Sprint(x.View)
					if key == "12.5" {
						continue
					}
					if want := j.Partition([]byte(key)); p != want {
						t.Errorf("%s is in partition %d, want %d (view %q)", v, p, want, key)
					}
				}
			}
			if m := h.Metrics(); m.Requests != 1 || m.Accepted != 1 || m.Events != int64(len(tc.want)) {
				t.Fatalf("metrics %+v", m)
			}
		})
	}
}

// Bad input is refused with a status and a body naming the problem and
// the bad event's index or line; nothing of a refused request is appended.
func TestRefuses(t *testing.T) {
	good := `{"view":"v1","event":"play","n":1}`
	for _, tc := range []struct {
		name, method, path, contentType, body string
		status                                int
		want                                  []string // in the answer's body
	}{
		{"not JSON", "", "", "application/json", "view=v1", 400, []string{"the body is not one JSON event: invalid character 'v'"}},
		{"JSON lines sent as application/json", "", "", "application/json", good + "\n" + good, 400, []string{"invalid character '{' after top-level value", "application/x-ndjson"}},
		{"a bad event in an array", "", "", "application/json", "[" + good + "," + good + `,{"view":"v2",}` + "]", 400, []string{`"event 2 of the array: invalid JSON`, `"event":2`}},
		{"a bad line", "", "", "application/x-ndjson", good + "\n" + good + "\n{nope}\n" + good, 400, []string{`line 3: invalid JSON: invalid character 'n'`, `"line":3`, "no event of the request was accepted"}},
		{"two bad lines", "", "", "", good + "\n[\n{", 400, []string{`line 2: invalid JSON`, "and 1 more bad events", `"line":2`}},
		{"no partition field", "", "", "application/json", `[` + good + `,{"event":"play"}]`, 400, []string{`event 1: has no field \"view\"`, `"event":1`}},
		{"a null partition field", "", "", "application/json", `{"view":null}`, 400, []string{`event 0: field \"view\" is not a string or a number (it is null)`}},
		{"not an object", "", "", "application/json", `[` + good + `,"just text"]`, 400, []string{`event 1: it is not a JSON object`}},
		{"the decoder refuses", "", "", "application/json", `{"view":"v1","n":"one"}`, 400, []string{`event 0: json: `, "beacon.n"}},
		{"empty", "", "", "application/json", "  \n", 400, []string{"the body holds no events"}},
		{"an empty array", "", "", "application/json", "[ ]", 400, []string{"an empty array"}},
		{"only blank lines", "", "", "application/x-ndjson", "\n\n", 400, []string{"the body holds no events"}},
		{"too large", "", "", "application/json", "[" + strings.Repeat(good+",", 40) + good + "]", 413, []string{"larger than the limit of 1024 bytes"}},
		{"another content type", "", "", "application/xml", "<x/>", 415, []string{`Content-Type \"application/xml\"`}},
		{"another route", "", "/other", "application/json", good, 404, []string{"no route /other: events go to POST /events"}},
		{"GET", http.MethodGet, "", "", "", 405, []string{"method GET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := openJournal(t, journal.Config{Partitions: 2})
			h := newHandler(t, httpingest.Config{Journal: j, PartitionField: "view", MaxBodyBytes: 1024, Check: httpingest.Decodes(format.JSON[beacon]())})
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/events"
			}
			req := httptest.NewRequest(method, path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("answer %s does not say %s", rec.Body, w)
				}
			}
			if got := all(journalValues(t, j)); len(got) != 0 {
				t.Fatalf("a refused request appended %v", got)
			}
			if m := h.Metrics(); m.Accepted != 0 || m.Events != 0 {
				t.Fatalf("metrics %+v", m)
			}
		})
	}
}

// A body of unknown length (chunked) is cut at the limit too.
func TestTooLargeChunked(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 1})
	h := newHandler(t, httpingest.Config{Journal: j, MaxBodyBytes: 100})
	req := httptest.NewRequest(http.MethodPost, "/events", io.MultiReader(strings.NewReader("["), strings.NewReader(strings.Repeat(`{"a":1},`, 50)+`{"a":1}]`)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "limit of 100 bytes") {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if m := h.Metrics(); m.TooLarge != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// With dead letters, the good events of a request go in and each bad one
// goes to the dead-letter journal, naming its problem and place.
func TestDeadLetters(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 2})
	dlq := openJournal(t, journal.Config{Partitions: 1})
	h := newHandler(t, httpingest.Config{Journal: j, DeadLetters: dlq, PartitionField: "view"})
	a, b := `{"view":"v1"}`, `{"view":"v2"}`
	status, body, _ := post(h, "/events", "application/x-ndjson", a+"\nnot json\n"+b+"\n{\"other\":1}")
	if status != 200 || body != "{\"accepted\":2,\"deadLettered\":2}\n" {
		t.Fatalf("answer %d %s", status, body)
	}
	if got := all(journalValues(t, j)); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("journal holds %v", got)
	}
	type letter struct {
		Unit, Error, Event, Remote string
		N                          int
	}
	var letters []letter
	for _, v := range all(journalValues(t, dlq)) {
		var l letter
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			t.Fatal(err)
		}
		letters = append(letters, l)
	}
	slices.SortFunc(letters, func(x, y letter) int { return x.N - y.N })
	if len(letters) != 2 || letters[0].N != 2 || letters[0].Unit != "line" || letters[0].Event != "not json" || !strings.Contains(letters[0].Error, "invalid JSON") ||
		letters[1].N != 4 || !strings.Contains(letters[1].Error, `has no field "view"`) || letters[1].Remote == "" {
		t.Fatalf("dead letters %+v", letters)
	}
	if m := h.Metrics(); m.Events != 2 || m.BadEvents != 2 || m.DeadLettered != 2 || m.BadRequests != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// Readers too far behind make the collector answer 429, a journal that
// cannot take appends 503, both with Retry-After.
func TestBackpressure(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 1})
	h := newHandler(t, httpingest.Config{Journal: j, MaxLag: 3, RetryAfter: 1500 * time.Millisecond})
	r, err := j.NewReader(journal.ReaderConfig{Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if status, body, _ := post(h, "/events", "", "1\n2\n3"); status != 200 {
		t.Fatalf("answer %d %s", status, body)
	}
	// 3 behind is allowed, 4 is not.
	if status, body, _ := post(h, "/events", "", "4"); status != 200 {
		t.Fatalf("answer %d %s", status, body)
	}
	status, body, retry := post(h, "/events", "", "5")
	if status != http.StatusTooManyRequests || retry != "2" || !strings.Contains(body, "4 events behind, more than the 3 allowed") {
		t.Fatalf("answer %d %s, Retry-After %q: want 429 and Retry-After 2", status, body, retry)
	}
	if _, err := r.Read(10, func(int64, time.Time, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := post(h, "/events", "", "5"); status != 200 {
		t.Fatalf("after the reader caught up: %d %s", status, body)
	}
	r.Close()
	j.Close()
	status, body, retry = post(h, "/events", "", "6")
	if status != http.StatusServiceUnavailable || retry != "2" || !strings.Contains(body, "journal: closed") {
		t.Fatalf("answer %d %s, Retry-After %q: want 503", status, body, retry)
	}
	if m := h.Metrics(); m.Throttled != 1 || m.Unavailable != 1 || m.Accepted != 3 || m.Events != 5 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestConfigValidate(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 1})
	_, err := httpingest.NewHandler(httpingest.Config{Route: "events", MaxLag: -1, DeadLetters: j})
	for _, want := range []string{"Journal is required", `Route "events" must start with /`, "MaxLag (-1)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewHandler: %v, want it to say %s", err, want)
		}
	}
	if _, err := httpingest.NewHandler(httpingest.Config{Journal: j, DeadLetters: j}); err == nil {
		t.Error("the same journal for events and dead letters was accepted")
	}
}

// A request whose client has gone before its events were queued appends
// nothing.
func TestCanceledRequest(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 1})
	h := newHandler(t, httpingest.Config{Journal: j})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(`{"a":1}`)).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "none was") {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if got := all(journalValues(t, j)); len(got) != 0 || h.Metrics().Failed != 0 {
		t.Fatalf("journal holds %v; metrics %+v", got, h.Metrics())
	}
}
