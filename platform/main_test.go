package platform_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// weirBin is the weir binary the tests' servers run their jobs in, built
// once by TestMain.
var weirBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weir-platform-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	weirBin = filepath.Join(dir, "weir")
	build := exec.Command("go", "build", "-o", weirBin, "github.com/weirstream/weir/cmd/weir")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building weir:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testServer is a Server behind an httptest server on 127.0.0.1.
type testServer struct {
	*platform.Server
	URL    string
	Token  string
	Client *platform.Client
	logs   *logRecorder
}

// quickRestarts restarts a failed job at once and fails it on its third
// failure.
var quickRestarts = platform.RestartPolicy{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxFailures: 2, Window: time.Hour}

func newTestServer(t *testing.T, cfg platform.Config) *testServer {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "data")
	}
	if cfg.Executable == "" {
		cfg.Executable = weirBin
	}
	if cfg.Restart == (platform.RestartPolicy{}) {
		cfg.Restart = quickRestarts
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 20 * time.Second
	}
	logs := &logRecorder{}
	cfg.Logger = slog.New(logs)
	s, err := platform.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	tok, err := os.ReadFile(filepath.Join(s.Dir(), "token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	return &testServer{Server: s, URL: ts.URL, Token: token, logs: logs,
		Client: &platform.Client{Server: ts.URL, Token: token}}
}

// request sends a request with the token (when auth) and returns the
// status and body.
func (ts *testServer) request(t *testing.T, method, path, body string, auth bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+ts.Token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// submit submits a pipeline and fails the test when the server refuses it.
func (ts *testServer) submit(t *testing.T, yaml string) platform.Job {
	t.Helper()
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: yaml, CheckpointInterval: "200ms"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return j
}

// waitFor polls the job until cond holds, failing the test after a
// minute: a bound for a stuck test, not a measurement.
func (ts *testServer) waitFor(t *testing.T, id, what string, cond func(platform.Job) bool) platform.Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := ts.Client.Show(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			log, _ := ts.Client.Log(context.Background(), id)
			b, _ := json.MarshalIndent(j, "", "  ")
			t.Fatalf("job %s: waited a minute for %s; it is\n%s\nlog:\n%s", id, what, b, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics returns the /metrics text.
func (ts *testServer) metrics(t *testing.T) string {
	t.Helper()
	code, body := ts.request(t, "GET", "/metrics", "", false)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return body
}

// metricValue returns the value of the first sample of name whose labels
// contain every one of labels, or -1.
func metricValue(text, name string, labels ...string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		var v float64
		if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
			return v
		}
	}
	return -1
}

// logRecorder is a slog handler keeping the messages.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

// generator is a pipeline that runs until stopped, writing the even
// numbers to a file output under the data directory.
const generator = `version: 1
inputs:
  numbers:
    type: generator
    rate: 500
    fields:
      id: seq
      kind: '["a", "b"][seq %% 2]'
steps:
  - name: evens
    from: [numbers]
    filter: kind == "a"
outputs:
  out:
    type: file
    from: evens
    path: out/%s
`

// failing is a pipeline whose map fails on its seventh record.
const failing = `version: 1
inputs:
  numbers:
    type: generator
    rate: 1000
    fields:
      id: seq
steps:
  - name: boom
    from: [numbers]
    map:
      x: 'id > 5 ? int("nope") : 1'
outputs:
  out: {type: stdout, from: boom}
`
