package testserver

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// Start returns once the server has written its ready line, and the
// server is stopped, by the signal asked for, when the test ends.
func TestStartWaitsForReadyAndStops(t *testing.T) {
	sh := Binary(t, "sh")
	for _, tc := range []struct {
		name   string
		script string
		stderr bool
		stop   os.Signal
	}{
		{"stdout", `echo starting; echo "server ready"; exec tail -f /dev/null`, false, nil},
		{"stderr, SIGINT", `echo starting >&2; echo "server ready" >&2; exec tail -f /dev/null`, true, syscall.SIGINT},
	} {
		var cmd *exec.Cmd
		t.Run(tc.name, func(t *testing.T) {
			cmd = exec.Command(sh, "-c", tc.script)
			Start(t, Process{Name: "sh", Cmd: cmd, Ready: "server ready", ReadyOnStderr: tc.stderr, Stop: tc.stop})
			if cmd.ProcessState != nil {
				t.Fatal("the server has exited while the test runs")
			}
		})
		want := syscall.SIGTERM
		if tc.stop != nil {
			want = tc.stop.(syscall.Signal)
		}
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != want {
			t.Errorf("%s: the server ended with %v, want it stopped by %v", tc.name, cmd.ProcessState, want)
		}
	}
}

// A port FreePort returns can be listened on.
func TestFreePortIsFree(t *testing.T) {
	p := FreePort(t)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("port %d: %v", p, err)
	}
	ln.Close()
}
