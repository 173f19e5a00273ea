package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/app/demo"
	"github.com/weirstream/weir/platform"
	"github.com/weirstream/weir/platform/command"
)

// serverExecutable is the weir binary the demo's server runs its job in;
// a variable so that tests, which are not weir, can name one.
var serverExecutable = os.Executable

// maxBeaconBatch bounds the beacons of one POST: a few hundred KiB, under
// the HTTP ingest's 1 MiB body limit.
const maxBeaconBatch = 2000

// demoServer is what `weir demo` runs by default: a job server on a free
// port of 127.0.0.1 with the video-quality job submitted to it, fed by
// beacons the demo generates and posts to the job's HTTP ingest input.
type demoServer struct {
	data    string // --data; empty: a temporary directory
	port    int
	stdout  *lineCounter
	stderr  io.Writer
	o       demo.Options
	started time.Time
}

func (d *demoServer) run(ctx context.Context) (err error) {
	exe, err := serverExecutable()
	if err != nil {
		return fmt.Errorf("cannot find the weir binary to run the job in: %w", err)
	}
	dir := d.data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "weir-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	logger := slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := platform.Open(platform.Config{Dir: dir, Executable: exe, Logger: logger, ShutdownGrace: 20 * time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)))
	if err != nil {
		return fmt.Errorf("--port: %w", err)
	}
	srv := command.NewHTTPServer(s.Handler())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	url := "http://" + ln.Addr().String()
	token, ok := s.NewToken()
	if !ok {
		b, err := os.ReadFile(filepath.Join(s.Dir(), "token"))
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(d.stderr, "weir demo: %s\n", describeDemo(d.o))
	fmt.Fprintf(d.stderr, "weir demo: the job server (weir serve) runs at %s with data directory %s\n", url, s.Dir())
	fmt.Fprintf(d.stderr, "weir demo: dashboard %s/  API token %s\n", url, token)
	fmt.Fprintf(d.stderr, "weir demo: try: WEIR_TOKEN=%s weir jobs list --server %s\n", token, url)

	// One client for the API, the ingest and /metrics, its idle
	// connections closed at the end.
	hc := &http.Client{Timeout: 2 * time.Minute}
	defer hc.CloseIdleConnections()
	client := &platform.Client{Server: url, Token: token, HTTP: hc}
	job, err := client.Submit(ctx, platform.SubmitRequest{Name: "video-quality", Parallelism: d.o.Parallelism,
		CheckpointInterval: d.o.CheckpointInterval.String(),
		Pipeline:           demo.Pipeline(d.o.BlockSize, fmt.Sprintf("demo/%d/beacons", time.Now().UnixNano()))})
	if err != nil {
		return fmt.Errorf("submitting the demo job: %w", err)
	}
	fmt.Fprintf(d.stderr, "weir demo: job %s (video-quality) submitted\n", job.ID)

	tail := &logTail{path: filepath.Join(s.Dir(), "jobs", job.ID, "job.log"), out: d.stdout}
	tctx, stopTail := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopTail()
	wg.Go(func() { tail.follow(tctx) })

	ingest, err := tail.waitIngest(ctx, client, job.ID)
	if err != nil {
		return err
	}
	sent, genErr := d.generate(ctx, hc, ingest)
	if genErr != nil && !errors.Is(genErr, context.Canceled) {
		return genErr
	}
	if ctx.Err() != nil {
		// The second Ctrl-C: the server kills the job as it closes.
		return nil
	}
	// Stop the job with a savepoint once it has read every view posted:
	// the savepoint's barrier follows them through the job, so every alert
	// they raise is printed before it completes.
	waitRead(ctx, hc, url, sent)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := client.Stop(sctx, job.ID); err != nil {
		fmt.Fprintf(d.stderr, "weir demo: stopping the job: %v\n", err)
	}
	tail.drain()
	fmt.Fprintf(d.stderr, "weir demo: stopped after %.1fs, %d views posted, %d lines printed\n", time.Since(d.started).Seconds(), sent, d.stdout.lines.Load())
	return nil
}

// generate posts the views to the job's ingest at the demo's rate until
// the duration is over, the views are all posted, or the demo is stopped;
// it returns how many views were accepted.
func (d *demoServer) generate(ctx context.Context, hc *http.Client, ingest string) (int64, error) {
	var timeout <-chan time.Time
	if d.o.Duration > 0 {
		t := time.NewTimer(d.o.Duration)
		defer t.Stop()
		timeout = t.C
	}
	const tick = 50 * time.Millisecond
	batch := int64(maxBeaconBatch)
	if d.o.Rate > 0 {
		batch = max(1, int64(d.o.Rate*tick.Seconds()))
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	var seq int64
	var buf bytes.Buffer
	for {
		if d.o.Views > 0 && seq >= d.o.Views {
			return seq, nil
		}
		n := batch
		if d.o.Rate > 0 {
			// Catch up with the rate rather than drift behind it, a
			// bounded batch at a time: after a stall (a loaded machine,
			// a job restoring) one body of everything owed would pass
			// the ingest's body limit.
			n = min(max(0, int64(d.o.Rate*time.Since(start).Seconds())-seq), maxBeaconBatch)
		}
		if d.o.Views > 0 {
			n = min(n, d.o.Views-seq)
		}
		if n > 0 {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			for i := range n {
				_ = enc.Encode(demo.BeaconOf(demo.GenerateView(seq + i)))
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, ingest, bytes.NewReader(buf.Bytes()))
			if err != nil {
				return seq, err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return seq, fmt.Errorf("posting beacons to %s: %w", ingest, err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return seq, fmt.Errorf("posting beacons to %s: %s: %s", ingest, resp.Status, body)
			}
			seq += n
		}
		select {
		case <-ctx.Done():
			return seq, ctx.Err()
		case <-d.o.Stop:
			return seq, nil
		case <-timeout:
			return seq, nil
		case <-t.C:
		}
	}
}

// waitRead waits, for at most a minute, until the job's input has read n
// views, as the server's /metrics counts them.
func waitRead(ctx context.Context, hc *http.Client, url string, n int64) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if readByInput(hc, url, "input/beacons") >= n {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readByInput sums weir_operator_records_in_total of operator op over its
// subtasks.
func readByInput(hc *http.Client, url, op string) int64 {
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "weir_operator_records_in_total{") || !strings.Contains(l, `operator="`+op+`"`) {
			continue
		}
		if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return int64(sum)
}

// logTail follows a job's log: it finds the address the job's HTTP input
// listens on, and prints the alert lines of its output.
type logTail struct {
	path string
	out  io.Writer

	mu      sync.Mutex
	off     int64
	partial []byte
	ingest  string
}

var ingestLine = regexp.MustCompile(`input beacons takes events posted to (http://\S+)`)

// follow reads what the log gains every 100 ms until ctx ends.
func (t *logTail) follow(ctx context.Context) {
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	for {
		t.drain()
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// drain reads the log to its end, printing the alert lines.
func (t *logTail) drain() {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if err != nil {
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, t.off, 1<<62))
	if err != nil {
		return
	}
	t.off += int64(len(b))
	b = append(t.partial, b...)
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		t.partial = b
		return
	}
	t.partial = append([]byte(nil), b[i+1:]...)
	for line := range strings.SplitSeq(string(b[:i]), "\n") {
		if m := ingestLine.FindStringSubmatch(line); m != nil {
			t.ingest = m[1]
			continue
		}
		if !strings.HasPrefix(line, "{") {
			continue
		}
		if l, ok := demo.AlertLine([]byte(line)); ok {
			fmt.Fprintln(t.out, l)
		}
	}
}

// waitIngest waits until the job's process has printed the address of its
// HTTP input, or fails with the job's error.
func (t *logTail) waitIngest(ctx context.Context, c *platform.Client, id string) (string, error) {
	for {
		t.mu.Lock()
		addr := t.ingest
		t.mu.Unlock()
		if addr != "" {
			return addr, nil
		}
		j, err := c.Show(ctx, id)
		if err != nil {
			return "", err
		}
		if !j.State.Live() {
			return "", fmt.Errorf("the demo job is %s: %s", j.State, j.LastError)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
