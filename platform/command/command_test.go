package command

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// run runs a fresh verb with args and returns its output.
func run(t *testing.T, cmdArgs []string, env map[string]string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var cmd = Jobs()
	if cmdArgs[0] == "serve" {
		cmd = Serve(nil)
	}
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(cmdArgs[1:])
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestJobsVerbs: weir jobs submits, lists, shows and cancels over the API,
// with the token from WEIR_TOKEN or --token-file, and prints the server's
// refusals with the pipeline's lines.
func TestJobsVerbs(t *testing.T) {
	dir := t.TempDir()
	// The jobs' processes cannot start: the test is of the verbs, not jobs.
	s, err := platform.Open(platform.Config{Dir: filepath.Join(dir, "data"), Executable: "/nonexistent/weir",
		Restart: platform.RestartPolicy{InitialBackoff: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	token, _ := s.NewToken()
	tokenFile := filepath.Join(s.Dir(), "token")
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("version: 1\ninputs:\n  g: {type: generator, count: 1, fields: {a: seq}}\noutputs:\n  o: {type: stdout, from: g}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ninputs:\n  g: {type: nope}\noutputs:\n  o: {type: stdout, from: g}\n"), 0o600)
	srv := "--server=" + hs.URL
	env := map[string]string{"WEIR_TOKEN": token}

	out, err := run(t, []string{"jobs", "submit", good, "--name", "one", srv}, env)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "j") || len(id) != 13 {
		t.Fatalf("submit printed %q; want the job's ID", out)
	}
	out, err = run(t, []string{"jobs", "list", srv, "--token-file", tokenFile}, map[string]string{"WEIR_TOKEN": ""})
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "one") {
		t.Errorf("list with --token-file: %v\n%s", err, out)
	}
	out, err = run(t, []string{"jobs", "show", id, srv}, env)
	if err != nil || !strings.Contains(out, "id:") || !strings.Contains(out, "checkpoints:") {
		t.Errorf("show: %v\n%s", err, out)
	}
	out, err = run(t, []string{"jobs", "show", id, srv, "--json"}, env)
	if err != nil || !strings.Contains(out, `"id": "`+id+`"`) {
		t.Errorf("show --json: %v\n%s", err, out)
	}
	out, err = run(t, []string{"jobs", "cancel", id, srv}, env)
	if err != nil || !strings.Contains(out, "canceled") {
		t.Errorf("cancel: %v\n%s", err, out)
	}
	out, err = run(t, []string{"jobs", "alerts", srv, "--state", "open"}, env)
	if err != nil || !strings.HasPrefix(out, "ID  ") || !strings.Contains(out, "MESSAGE") {
		t.Errorf("alerts: %v\n%s", err, out)
	}
	out, err = run(t, []string{"jobs", "alerts", srv, "--json"}, env)
	if err != nil || !strings.Contains(out, `"alerts": [`) {
		t.Errorf("alerts --json: %v\n%s", err, out)
	}
	_, err = run(t, []string{"jobs", "alerts", srv, "--state", "shut"}, env)
	if err == nil || !strings.Contains(err.Error(), `invalid state "shut"`) {
		t.Errorf("alerts --state shut: %v; want it refused", err)
	}
	_, err = run(t, []string{"jobs", "submit", bad, srv}, env)
	if err == nil || !strings.Contains(err.Error(), "pipeline.yaml:3:") || !strings.Contains(err.Error(), `unknown type "nope"`) {
		t.Errorf("submitting an invalid pipeline: %v; want its mistake with its line", err)
	}
	_, err = run(t, []string{"jobs", "list", srv}, map[string]string{"WEIR_TOKEN": ""})
	if err == nil || !strings.Contains(err.Error(), "WEIR_TOKEN") {
		t.Errorf("list without a token: %v; want it to say where the token comes from", err)
	}
	_, err = run(t, []string{"jobs", "list", srv}, map[string]string{"WEIR_TOKEN": strings.Repeat("f", 64)})
	if err == nil || !strings.Contains(err.Error(), "invalid token") {
		t.Errorf("list with a wrong token: %v", err)
	}
}

// TestServeFlags: weir serve refuses to listen beyond loopback without
// TLS, and needs its data directory.
func TestServeFlags(t *testing.T) {
	badConfig := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(badConfig, []byte("alerts:\n  rules:\n    - {name: x, metric: m, op: '==', threshold: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "needs --data"},
		{[]string{"serve", "--data", t.TempDir(), "--listen", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{"serve", "--data", t.TempDir(), "--listen", "[::]:0"}, "not a loopback address"},
		{[]string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--port", "1"}, "not both"},
		{[]string{"serve", "--data", t.TempDir(), "--tls-cert", "x.pem"}, "go together"},
		{[]string{"serve", "--data", t.TempDir(), "--log-level", "loud"}, "invalid --log-level"},
		{[]string{"serve", "--data", t.TempDir(), "--port", "-1"}, "invalid --port -1"},
		{[]string{"serve", "--data", t.TempDir(), "--port", "70000"}, "invalid --port 70000"},
		{[]string{"serve", "--data", t.TempDir(), "--config", badConfig}, "config.yaml:3:32: rule \"x\": unknown op"},
		{[]string{"serve", "--data", t.TempDir(), "--config", filepath.Join(t.TempDir(), "none.yaml")}, "server configuration: open"},
	} {
		_, err := run(t, tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("weir %v: %v; want %q", tc.args, err, tc.want)
		}
	}
}
