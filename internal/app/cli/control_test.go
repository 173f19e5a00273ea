package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// TestRunControlSocket: `weir run --control-socket` answers the job's
// figures and takes a savepoint on request, then removes its socket.
func TestRunControlSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("version: 1\ninputs:\n  g:\n    type: generator\n    rate: 1000\n    fields: {a: seq}\noutputs:\n  o: {type: file, from: g, path: "+filepath.Join(dir, "out")+"}\n"), 0o600)
	sock := filepath.Join(dir, "c.sock")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := make(chan struct{})
	cmd := NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"run", file, "--checkpoint-dir", filepath.Join(dir, "chk"), "--progress", "0", "--control-socket", sock})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(WithStop(ctx, stop)) }()

	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	var m jobcontrol.Metrics
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get("http://job/metrics")
		if err == nil {
			m = jobcontrol.Metrics{}
			err = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if err == nil && len(m.Operators) > 0 && m.Operators[len(m.Operators)-1].Out > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no records out on the control socket: %v %+v\n%s", err, m, errOut.String())
		}
	}
	var sawOutput bool
	for _, o := range m.Operators {
		sawOutput = sawOutput || o.ID == "output/o"
	}
	if !sawOutput {
		t.Errorf("metrics lack output/o: %+v", m.Operators)
	}
	resp, err := client.Post("http://job/savepoint", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sp struct{ Path string }
	json.NewDecoder(resp.Body).Decode(&sp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(sp.Path, "sp-") {
		t.Fatalf("savepoint: %d %+v", resp.StatusCode, sp)
	}
	if _, err := os.Stat(filepath.Join(sp.Path, "_metadata")); err != nil {
		t.Errorf("the savepoint is not complete: %v", err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after the run: %v", err)
	}
}
