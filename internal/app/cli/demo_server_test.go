package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// buildWeir builds the weir binary the demo's server runs its job in: the
// test binary is not weir.
func buildWeir(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	build := exec.Command("go", "build", "-o", bin, "github.com/weirstream/weir/cmd/weir")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building weir: %v\n%s", err, out)
	}
	return bin
}

var dashboardLine = regexp.MustCompile(`weir demo: dashboard (http://127\.0\.0\.1:\d+)/  API token ([0-9a-f]{64})`)

// weir demo --duration 5s is the job server with the demo job: it answers
// /healthz, its API lists the job running, and the job's alert lines are
// on standard output.
func TestDemoRunsTheServer(t *testing.T) {
	bin := buildWeir(t)
	old := serverExecutable
	serverExecutable = func() (string, error) { return bin, nil }
	defer func() { serverExecutable = old }()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := NewRootCommand()
	var stdout, stderr syncBuffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"demo", "--duration", "5s"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var url, token string
	var job platform.Job
	deadline := time.Now().Add(time.Minute)
	for job.ID == "" {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for the demo's server and job; stderr:\n%s", stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("weir demo ended early: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		m := dashboardLine.FindStringSubmatch(stderr.String())
		if m == nil {
			continue
		}
		url, token = m[1], m[2]
		c := &platform.Client{Server: url, Token: token}
		js, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			if j.Name == "video-quality" && j.State == platform.Running && j.PID != 0 {
				job = j
			}
		}
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("GET /healthz: %d %q", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := <-done; err != nil {
		t.Fatalf("weir demo: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	// Five seconds of views are a simulated day: the model has learned
	// enough to open an alert.
	if !strings.Contains(out, "ALERT OPEN   customer=") {
		t.Fatalf("stdout has no alert:\n%s\nstderr:\n%s", out, stderr.String())
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "ALERT ") {
			t.Errorf("stdout line %q is not an alert line", l)
		}
	}
	if !strings.Contains(stderr.String(), "weir demo: stopped after ") {
		t.Errorf("stderr lacks the stop line:\n%s", stderr.String())
	}
	// The temporary data directory is gone.
	m := regexp.MustCompile(`data directory (\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr does not name the data directory:\n%s", stderr.String())
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's temporary data directory %s is still there (%v)", m[1], err)
	}
}

// The flags of the job run in this process need --no-server.
func TestDemoServerRefusesInProcessFlags(t *testing.T) {
	_, _, err := execute(t, "demo", "--checkpoints", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--checkpoints is a flag of the job run in this process: give --no-server too") {
		t.Fatalf("err = %v; want one naming --checkpoints and --no-server", err)
	}
	_, _, err = execute(t, "demo", "--no-server", "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--data and --port are the demo's server's") {
		t.Fatalf("err = %v; want one naming --data", err)
	}
}
