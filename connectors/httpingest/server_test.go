package httpingest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}

// serve starts a collector for j on a free loopback port, stopped when the
// test ends.
func serve(t *testing.T, h http.Handler, cfg httpingest.ServerConfig) *httpingest.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := httpingest.Listen(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

// generous bounds a wait for the server to cut a client off: long, since
// the point is that it happens, not how fast.
const generous = 20 * time.Second

// cutOff reads from conn until the server closes it, and fails the test
// if it does not within a generous bound.
func cutOff(t *testing.T, conn net.Conn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(generous))
	b, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a slow client's connection open for %v (read %q)", generous, b)
	}
	return string(b)
}

// A client sending its headers slowly (slowloris) is cut off after
// ReadHeaderTimeout; one sending its body slowly after ReadTimeout.
func TestSlowClients(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 1})
	h := newHandler(t, httpingest.Config{Journal: j})
	t.Run("headers", func(t *testing.T) {
		s := serve(t, h, httpingest.ServerConfig{ReadHeaderTimeout: 50 * time.Millisecond, ReadTimeout: time.Hour, IdleTimeout: time.Hour})
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "POST /events HTTP/1.1\r\nHost: collector\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		if got := cutOff(t, conn); strings.Contains(got, "200 OK") {
			t.Fatalf("answered %q", got)
		}
	})
	t.Run("body", func(t *testing.T) {
		s := serve(t, h, httpingest.ServerConfig{ReadHeaderTimeout: time.Hour, ReadTimeout: 50 * time.Millisecond, IdleTimeout: time.Hour})
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "POST /events HTTP/1.1\r\nHost: collector\r\nContent-Length: 100\r\n\r\n{\"a\":"); err != nil {
			t.Fatal(err)
		}
		if got := cutOff(t, conn); got != "" && !strings.Contains(got, "400 Bad Request") {
			t.Fatalf("answered %q, want a 400 or nothing", got)
		}
	})
	t.Run("headers too large", func(t *testing.T) {
		s := serve(t, h, httpingest.ServerConfig{MaxHeaderBytes: 1024})
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /events HTTP/1.1\r\nHost: collector\r\nX-Big: %s\r\n\r\n", strings.Repeat("x", 8192))
		if got := cutOff(t, conn); !strings.Contains(got, "431") {
			t.Fatalf("answered %q, want 431", got)
		}
	})
	if got := all(journalValues(t, j)); len(got) != 0 {
		t.Fatalf("slow clients appended %v", got)
	}
}

// Requests beyond MaxInFlight are answered 503 at once instead of being
// read into memory.
func TestMaxInFlight(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 1})
	h := newHandler(t, httpingest.Config{Journal: j, MaxInFlight: 2})
	s := serve(t, h, httpingest.ServerConfig{})
	// Two clients send headers and hold back their bodies: their requests
	// hold both slots.
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "POST /events HTTP/1.1\r\nHost: collector\r\nContent-Length: 7\r\n\r\n{\"a\""); err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	deadline := time.Now().Add(time.Minute)
	for h.Metrics().InFlight < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("metrics %+v: the held requests never got in", h.Metrics())
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Post("http://"+s.Addr()+"/events", "application/json", strings.NewReader(`{"a":2}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "2 requests are in flight") {
		t.Fatalf("answer %d %s, Retry-After %q; want 503", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// The held requests finish, and the slots are free again.
	for _, conn := range held {
		if _, err := io.WriteString(conn, ":1}"); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
			t.Fatalf("a held request was answered %q, %v", line, err)
		}
	}
	resp, err = http.Post("http://"+s.Addr()+"/events", "application/json", strings.NewReader(`{"a":3}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the held requests finished: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	if got := all(journalValues(t, j)); !slices.Equal(got, []string{`{"a":1}`, `{"a":1}`, `{"a":3}`}) {
		t.Fatalf("journal holds %v", got)
	}
}

// client posts events from several goroutines and records which got a
// 200.
type client struct {
	url  string
	http *http.Client
	mu   sync.Mutex
	acks []string
	// others counts the answers that were neither 200 nor a transport
	// error, by status.
	others map[int]int
}

func newClient(addr string) *client {
	return &client{url: "http://" + addr + "/events", http: &http.Client{Timeout: time.Minute}, others: map[int]int{}}
}

// run posts requests of batch events each from workers goroutines until
// it has posted n requests or stop is closed; events are named
// prefix-worker-request-event.
func (c *client) run(prefix string, workers, n, batch int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < n/workers; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var body bytes.Buffer
				var ids []string
				for e := range batch {
					id := fmt.Sprintf("%s-%d-%d-%d", prefix, w, i, e)
					ids = append(ids, id)
					fmt.Fprintf(&body, "{\"view\":\"view-%d\",\"event\":\"%s\",\"n\":%d}\n", (w*7+i+e)%13, id, e)
				}
				resp, err := c.http.Post(c.url, "application/x-ndjson", &body)
				if err != nil {
					continue // not acknowledged: a crash, say
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				c.mu.Lock()
				if resp.StatusCode == http.StatusOK {
					c.acks = append(c.acks, ids...)
				} else {
					c.others[resp.StatusCode]++
				}
				c.mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.http.CloseIdleConnections()
}

func (c *client) acked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.acks)
}

// Events posted to the collector reach a job reading the journal, each
// once; concurrent requests share group commits.
func TestRoundTrip(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 4})
	h := newHandler(t, httpingest.Config{Journal: j, PartitionField: "view", Check: httpingest.Decodes(format.JSON[beacon]())})
	s := serve(t, h, httpingest.ServerConfig{})

	src, err := journal.NewSource(journal.SourceConfig[beacon]{Journal: j, Decoder: format.JSON[beacon]()})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, t.TempDir()), weir.StopOn(stop))
	got := weir.Collect(weir.Map(weir.From(env, src), func(b beacon) string { return b.Event }))
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()

	c := newClient(s.Addr())
	const requests = 400
	c.run("rt", 16, requests, 3, nil)
	acked := c.acked()
	if len(acked) != requests*3 || len(c.others) != 0 {
		t.Fatalf("%d events acknowledged, want %d; other answers %v", len(acked), requests*3, c.others)
	}
	deadline := time.Now().Add(time.Minute)
	for len(got.Values()) < len(acked) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := multisetDiff(got.Values(), acked); d != "" {
		t.Fatalf("the job read %s", d)
	}
	m, jm := h.Metrics(), j.Metrics()
	if m.Accepted != requests || m.Events != int64(len(acked)) || jm.Records != int64(len(acked)) {
		t.Fatalf("collector metrics %+v, journal metrics %+v", m, jm)
	}
	// Each request touches up to 3 partitions; without group commit there
	// would be a commit per request.
	if jm.Commits >= requests {
		t.Fatalf("%d requests took %d group commits (%d fsyncs): no request shared one", requests, jm.Commits, jm.Syncs)
	}
	t.Logf("%d requests from 16 clients: %d commits, %d fsyncs", requests, jm.Commits, jm.Syncs)
}

// A job reading the collector's journal stops with a savepoint at
// parallelism 2 and is restored at 1 while the collector goes on taking
// events: the two runs read every acknowledged event once.
func TestRestoreAtOtherParallelism(t *testing.T) {
	j := openJournal(t, journal.Config{Partitions: 4})
	h := newHandler(t, httpingest.Config{Journal: j, PartitionField: "view"})
	s := serve(t, h, httpingest.ServerConfig{})
	chk := t.TempDir()
	run := func(p int, restore bool, want int) []string {
		t.Helper()
		src, err := journal.NewSource(journal.SourceConfig[beacon]{Journal: j, Decoder: format.JSON[beacon]()})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		opts := []weir.Option{weir.Parallelism(p), weir.Checkpoints(20*time.Millisecond, chk), weir.StopOn(stop)}
		if restore {
			opts = append(opts, weir.Restore("latest"))
		}
		env := weir.New(opts...)
		got := weir.Collect(weir.Map(weir.From(env, src).ID("beacons"), func(b beacon) string { return b.Event }))
		done := make(chan error, 1)
		go func() { done <- env.Run(context.Background()) }()
		deadline := time.Now().Add(time.Minute)
		for len(got.Values()) < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return got.Values()
	}
	c := newClient(s.Addr())
	c.run("before", 4, 100, 3, nil)
	first := run(2, false, len(c.acked()))
	c.run("after", 4, 100, 3, nil)
	second := run(1, true, len(c.acked())-len(first))
	if d := multisetDiff(append(first, second...), c.acked()); d != "" {
		t.Fatalf("the two runs read %s", d)
	}
	if len(first) != 300 || len(second) != 300 {
		t.Fatalf("the runs read %d and %d events, want 300 each", len(first), len(second))
	}
}

// multisetDiff describes how got differs from want as multisets.
func multisetDiff(got, want []string) string {
	count := map[string]int{}
	for _, w := range want {
		count[w]++
	}
	for _, g := range got {
		count[g]--
	}
	var missing, extra []string
	for k, n := range count {
		switch {
		case n > 0:
			missing = append(missing, k)
		case n < 0:
			extra = append(extra, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return fmt.Sprintf("%d records for %d: missing %d %v, repeated or unexpected %d %v",
		len(got), len(want), len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))])
}
