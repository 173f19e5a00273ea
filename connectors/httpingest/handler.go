package httpingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/journal"
)

// Config configures a collector's handler. Journal is required; the rest
// have defaults.
type Config struct {
	// Journal receives the events, one record each.
	Journal *journal.Journal
	// Route is the path events are posted to (default "/events"); other
	// paths get 404.
	Route string
	// PartitionField is the top-level field of every event whose value —
	// a string's text, or a number's JSON — picks the event's partition
	// (Journal.Partition), so that one view's beacons stay in order in one
	// partition. An event that is not an object or lacks the field is a
	// bad event. Empty: each request's events go together to the next
	// partition in turn.
	PartitionField string
	// Check, when set, is called with each event after it has been found
	// valid JSON; an error makes it a bad event. Decoding checks with a
	// format.Decoder (see Decodes).
	Check func(event []byte) error
	// MaxBodyBytes bounds a request's body (default 1 MiB): a larger one
	// is answered 413, naming the limit.
	MaxBodyBytes int64
	// MaxLag, when positive, answers 429 while the journal's readers are
	// behind by more than MaxLag records in a partition
	// (journal.Journal.MaxLag), before reading the body.
	MaxLag int64
	// MaxInFlight bounds the requests being read, checked and appended at
	// once (default 1024); one more is answered 503. With MaxBodyBytes it
	// bounds the memory bodies take.
	MaxInFlight int
	// RetryAfter is what 429 and 503 answers ask the client to wait
	// (default 1s; sent in whole seconds, at least 1).
	RetryAfter time.Duration
	// DeadLetters, when set, makes bad events not fail their request: the
	// good events go to Journal, each bad one to DeadLetters as a JSON
	// object naming the problem (see docs/ingest.md), and the answer is
	// 200. When nil, a request with a bad event is answered 400 and none
	// of its events is appended.
	DeadLetters *journal.Journal
}

const (
	defaultRoute        = "/events"
	defaultMaxBodyBytes = 1 << 20
	defaultRetryAfter   = time.Second
	defaultMaxInFlight  = 1024
)

// Validate checks the configuration and names the field that is wrong.
func (c Config) Validate() error {
	var errs []error
	if c.Journal == nil {
		errs = append(errs, errors.New("httpingest.Config.Journal is required"))
	}
	if c.Route != "" && c.Route[0] != '/' {
		errs = append(errs, fmt.Errorf("httpingest.Config.Route %q must start with /", c.Route))
	}
	if c.MaxBodyBytes < 0 || c.MaxLag < 0 || c.RetryAfter < 0 || c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("httpingest.Config: MaxBodyBytes (%d), MaxLag (%d), MaxInFlight (%d) and RetryAfter (%v) must not be negative",
			c.MaxBodyBytes, c.MaxLag, c.MaxInFlight, c.RetryAfter))
	}
	if c.Journal != nil && c.Journal == c.DeadLetters {
		errs = append(errs, errors.New("httpingest.Config.DeadLetters must be another journal than Journal"))
	}
	return errors.Join(errs...)
}

// Decodes returns a Config.Check that decodes each event with d, so that
// only events a job reading the journal with d can decode are accepted.
func Decodes[T any](d format.Decoder[T]) func([]byte) error {
	return func(event []byte) error {
		_, err := d.Decode(event)
		return err
	}
}

// Handler is the collector's http.Handler: it takes events posted to its
// route and answers 200 once they are durable in the journal.
type Handler struct {
	cfg        Config
	retryAfter string
	next       atomic.Uint64 // the partition of the next request without PartitionField
	pool       sync.Pool     // *request
	// slots holds a token per request in flight (MaxInFlight).
	slots chan struct{}
	m     struct {
		requests, accepted, events, bytes, badRequests, badEvents, deadLettered atomic.Int64
		tooLarge, throttled, unavailable, failed, refused                       atomic.Int64
	}
}

// NewHandler returns a collector's handler.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Route == "" {
		cfg.Route = defaultRoute
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = defaultRetryAfter
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = defaultMaxInFlight
	}
	secs := int64((cfg.RetryAfter + time.Second - 1) / time.Second)
	h := &Handler{cfg: cfg, retryAfter: strconv.FormatInt(max(secs, 1), 10), slots: make(chan struct{}, cfg.MaxInFlight)}
	h.pool.New = func() any { return new(request) }
	return h, nil
}

// request is what serving one request needs, reused across requests.
type request struct {
	body []byte
	recs []journal.Record
	dead []journal.Record
	keys []byte // unescaped partition keys
	out  []byte
}

// Metrics are a collector's counters.
type Metrics struct {
	// Requests counts every request; Accepted those answered 200.
	Requests, Accepted int64
	// Events and Bytes count the events appended to the journal and their
	// bytes.
	Events, Bytes int64
	// BadRequests counts 400 answers; BadEvents the events found bad
	// (refused with their request, or dead-lettered), DeadLettered those
	// appended to the dead-letter journal.
	BadRequests, BadEvents, DeadLettered int64
	// TooLarge counts 413 answers, Throttled 429, Unavailable 503 (a full
	// journal queue, MaxInFlight, a closed journal) and Failed 500.
	TooLarge, Throttled, Unavailable, Failed int64
	// Refused counts requests to another route (404), with another method
	// than POST (405) or another content type (415).
	Refused int64
	// InFlight is how many requests are being read, checked or appended
	// now.
	InFlight int
}

// Metrics returns the handler's counters.
func (h *Handler) Metrics() Metrics {
	return Metrics{
		Requests: h.m.requests.Load(), Accepted: h.m.accepted.Load(),
		Events: h.m.events.Load(), Bytes: h.m.bytes.Load(),
		BadRequests: h.m.badRequests.Load(), BadEvents: h.m.badEvents.Load(), DeadLettered: h.m.deadLettered.Load(),
		TooLarge: h.m.tooLarge.Load(), Throttled: h.m.throttled.Load(), Unavailable: h.m.unavailable.Load(),
		Failed: h.m.failed.Load(), Refused: h.m.refused.Load(), InFlight: len(h.slots),
	}
}

// bodyKind is how a body holds its events.
type bodyKind uint8

const (
	detect bodyKind = iota // text/plain or no Content-Type
	oneOrArray
	lines
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.m.requests.Add(1)
	if r.URL.Path != h.cfg.Route {
		h.m.refused.Add(1)
		h.fail(w, http.StatusNotFound, fmt.Sprintf("no route %s: events go to POST %s", r.URL.Path, h.cfg.Route), "", 0)
		return
	}
	if r.Method != http.MethodPost {
		h.m.refused.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s: events are sent with POST", r.Method), "", 0)
		return
	}
	kind, ok := contentKind(r.Header.Get("Content-Type"))
	if !ok {
		h.m.refused.Add(1)
		h.fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send application/json (an event or an array of events), application/x-ndjson (JSON lines) or text/plain", r.Header.Get("Content-Type")), "", 0)
		return
	}
	if h.cfg.MaxLag > 0 {
		if lag := h.cfg.Journal.MaxLag(); lag > h.cfg.MaxLag {
			h.m.throttled.Add(1)
			w.Header().Set("Retry-After", h.retryAfter)
			h.fail(w, http.StatusTooManyRequests, fmt.Sprintf("the journal's readers are %d events behind, more than the %d allowed: retry later", lag, h.cfg.MaxLag), "", 0)
			return
		}
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.tooLarge(w)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.m.unavailable.Add(1)
		w.Header().Set("Retry-After", h.retryAfter)
		h.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("%d requests are in flight, the most allowed (MaxInFlight): retry later", h.cfg.MaxInFlight), "", 0)
		return
	}
	q := h.pool.Get().(*request)
	defer h.put(q)
	var err error
	q.body, err = readBody(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes), q.body[:0], r.ContentLength)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.tooLarge(w)
			return
		}
		h.m.badRequests.Add(1)
		h.fail(w, http.StatusBadRequest, "reading the body: "+err.Error(), "", 0)
		return
	}
	if status := h.events(w, r, q, kind); status != 0 {
		return
	}
	ctx := r.Context()
	if len(q.dead) > 0 {
		if err := h.cfg.DeadLetters.Append(ctx, q.dead...); err != nil {
			h.appendFailed(w, "the dead-letter journal", err)
			return
		}
		h.m.deadLettered.Add(int64(len(q.dead)))
	}
	if len(q.recs) > 0 {
		if err := h.cfg.Journal.Append(ctx, q.recs...); err != nil {
			h.appendFailed(w, "the journal", err)
			return
		}
	}
	var size int64
	for _, rec := range q.recs {
		size += int64(len(rec.Value))
	}
	h.m.accepted.Add(1)
	h.m.events.Add(int64(len(q.recs)))
	h.m.bytes.Add(size)
	q.out = append(q.out[:0], `{"accepted":`...)
	q.out = strconv.AppendInt(q.out, int64(len(q.recs)), 10)
	if h.cfg.DeadLetters != nil {
		q.out = append(q.out, `,"deadLettered":`...)
		q.out = strconv.AppendInt(q.out, int64(len(q.dead)), 10)
	}
	q.out = append(q.out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(q.out)
}

// put returns q to the pool, unless a huge body made it large.
func (h *Handler) put(q *request) {
	for i := range q.recs {
		q.recs[i] = journal.Record{}
	}
	for i := range q.dead {
		q.dead[i] = journal.Record{}
	}
	q.recs, q.dead = q.recs[:0], q.dead[:0]
	if cap(q.body) <= 4<<20 {
		h.pool.Put(q)
	}
}

func contentKind(ct string) (bodyKind, bool) {
	// The media type without its parameters (charset); compared without
	// regard to case, as RFC 9110 says. No mime.ParseMediaType: it
	// allocates on every request.
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "":
		return detect, true
	case strings.EqualFold(mt, "application/json"):
		return oneOrArray, true
	case strings.EqualFold(mt, "application/x-ndjson"), strings.EqualFold(mt, "application/jsonl"),
		strings.EqualFold(mt, "application/json-lines"), strings.EqualFold(mt, "application/jsonlines"),
		strings.EqualFold(mt, "application/ndjson"):
		return lines, true
	case strings.EqualFold(mt, "text/plain"):
		// What navigator.sendBeacon sends a string as.
		return detect, true
	}
	return 0, false
}

// readBody reads a body of up to the handler's limit into buf.
func readBody(r io.Reader, buf []byte, length int64) ([]byte, error) {
	if length > 0 && int64(cap(buf)) < length+1 {
		buf = make([]byte, 0, length+1)
	} else if cap(buf) < 512 {
		buf = make([]byte, 0, 4096)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// events splits q.body into events, checks them and fills q.recs (and
// q.dead); it answers a bad request itself and then returns its status.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, q *request, kind bodyKind) int {
	b := q.body
	first := skipSpace(b, 0)
	if first == len(b) {
		h.m.badRequests.Add(1)
		return h.fail(w, http.StatusBadRequest, "the body holds no events", "", 0)
	}
	valid := false // b is known to be valid JSON
	if kind == detect {
		switch {
		case b[first] == '[':
			kind = oneOrArray
		case json.Valid(b):
			kind, valid = oneOrArray, true
		default:
			kind = lines
		}
	}
	part := 0
	if h.cfg.PartitionField == "" {
		part = int(h.next.Add(1) % uint64(h.cfg.Journal.Partitions()))
	}
	q.keys = q.keys[:0]
	var bad badEvent
	add := func(ev []byte, unit string, n int) bool {
		if problem := h.check(ev, q, &part); problem != "" {
			h.m.badEvents.Add(1)
			if h.cfg.DeadLetters == nil {
				if bad.problem == "" {
					bad = badEvent{problem: problem, unit: unit, n: n}
				}
				bad.count++
				return true
			}
			q.dead = append(q.dead, journal.Record{
				Partition: int(h.next.Add(1) % uint64(h.cfg.DeadLetters.Partitions())),
				Value:     deadLetter(r, ev, problem, unit, n),
			})
			return true
		}
		q.recs = append(q.recs, journal.Record{Partition: part, Value: ev})
		return true
	}
	switch kind {
	case oneOrArray:
		if !valid && !json.Valid(b) {
			msg, off := syntaxError(b)
			h.m.badRequests.Add(1)
			h.m.badEvents.Add(1)
			if b[first] == '[' {
				n := elementAt(b, off)
				return h.fail(w, http.StatusBadRequest, fmt.Sprintf("event %d of the array: invalid JSON: %s", n, msg), "event", n)
			}
			return h.fail(w, http.StatusBadRequest, fmt.Sprintf("the body is not one JSON event: %s; send JSON lines as application/x-ndjson", msg), "", 0)
		}
		if b[first] == '[' {
			n := 0
			arrayElements(b, func(start, end int) bool {
				add(b[start:end], "event", n)
				n++
				return true
			})
			if n == 0 {
				h.m.badRequests.Add(1)
				return h.fail(w, http.StatusBadRequest, "the body is an empty array: it holds no events", "", 0)
			}
		} else {
			add(bytes.TrimSpace(b), "event", 0)
		}
	case lines:
		line := 0
		for rest := b; len(rest) > 0; {
			line++
			ev := rest
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				ev, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			ev = bytes.TrimSpace(ev)
			if len(ev) == 0 {
				continue
			}
			if !json.Valid(ev) {
				msg, _ := syntaxError(ev)
				if h.cfg.DeadLetters == nil {
					h.m.badEvents.Add(1)
					if bad.problem == "" {
						bad = badEvent{problem: "invalid JSON: " + msg, unit: "line", n: line}
					}
					bad.count++
					continue
				}
				h.m.badEvents.Add(1)
				q.dead = append(q.dead, journal.Record{
					Partition: int(h.next.Add(1) % uint64(h.cfg.DeadLetters.Partitions())),
					Value:     deadLetter(r, ev, "invalid JSON: "+msg, "line", line),
				})
				continue
			}
			add(ev, "line", line)
		}
	}
	if bad.problem != "" {
		h.m.badRequests.Add(1)
		msg := fmt.Sprintf("%s %d: %s", bad.unit, bad.n, bad.problem)
		if bad.count > 1 {
			msg += fmt.Sprintf(" (and %d more bad events)", bad.count-1)
		}
		return h.fail(w, http.StatusBadRequest, msg+"; no event of the request was accepted", bad.unit, bad.n)
	}
	if len(q.recs) == 0 && len(q.dead) == 0 {
		h.m.badRequests.Add(1)
		return h.fail(w, http.StatusBadRequest, "the body holds no events", "", 0)
	}
	return 0
}

type badEvent struct {
	problem string
	unit    string
	n       int
	count   int
}

// check checks a valid JSON event and sets *part to its partition;
// it returns what is wrong with it, or "".
func (h *Handler) check(ev []byte, q *request, part *int) string {
	if max := h.cfg.Journal.MaxRecordBytes(); len(ev) > max {
		return fmt.Sprintf("%d bytes is above the journal's MaxRecordBytes (%d)", len(ev), max)
	}
	if h.cfg.PartitionField != "" {
		key, err := fieldKey(ev, h.cfg.PartitionField, q.keys)
		if err != nil {
			if errors.Is(err, errNotObject) {
				return fmt.Sprintf("it is not a JSON object, so it has no field %q to partition by", h.cfg.PartitionField)
			}
			return err.Error()
		}
		*part = h.cfg.Journal.Partition(key)
	}
	if h.cfg.Check != nil {
		if err := h.cfg.Check(ev); err != nil {
			return err.Error()
		}
	}
	return ""
}

// deadLetter is the dead-letter record of a bad event.
func deadLetter(r *http.Request, ev []byte, problem, unit string, n int) []byte {
	b, _ := json.Marshal(struct {
		Time   time.Time `json:"time"`
		Remote string    `json:"remote"`
		Unit   string    `json:"unit"`
		N      int       `json:"n"`
		Error  string    `json:"error"`
		Event  string    `json:"event"`
	}{time.Now().UTC(), r.RemoteAddr, unit, n, problem, string(ev)})
	return b
}

func (h *Handler) tooLarge(w http.ResponseWriter) {
	h.m.tooLarge.Add(1)
	h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", h.cfg.MaxBodyBytes), "", 0)
}

func (h *Handler) appendFailed(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away before the events were queued: none was
		// appended, and no one reads the answer.
		h.m.unavailable.Add(1)
		h.fail(w, http.StatusServiceUnavailable, "the request ended before its events were appended: none was", "", 0)
	case errors.Is(err, journal.ErrBacklog), errors.Is(err, journal.ErrClosed):
		h.m.unavailable.Add(1)
		w.Header().Set("Retry-After", h.retryAfter)
		h.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("appending to %s: %v: retry later", what, err), "", 0)
	default:
		h.m.failed.Add(1)
		h.fail(w, http.StatusInternalServerError, fmt.Sprintf("appending to %s: %v", what, err), "", 0)
	}
}

// fail answers with status and a JSON error naming the problem and, for a
// bad event, its index or line; it returns status.
func (h *Handler) fail(w http.ResponseWriter, status int, msg, unit string, n int) int {
	body := struct {
		Error string `json:"error"`
		Event *int   `json:"event,omitempty"`
		Line  *int   `json:"line,omitempty"`
	}{Error: msg}
	switch unit {
	case "event":
		body.Event = &n
	case "line":
		body.Line = &n
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return status
}
