// Package testserver starts the external servers tests run against —
// Debian's postgres, redis-server, nats-server — on 127.0.0.1: it finds
// the binary (skipping the test without it, or failing it under
// WEIR_REQUIRE_SERVERS), picks a free port, starts the process, waits for
// the line that says it is ready, and stops it when the test ends. The
// packages connectors/*/…test wrap it with what each server needs.
package testserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing server into
// a failure instead of a skip; make test sets it.
const RequireEnv = "WEIR_REQUIRE_SERVERS"

// readyTimeout bounds the wait for a server's ready line.
const readyTimeout = time.Minute

// Missing skips the test because what is not installed (hint says how to
// install it), or fails it when RequireEnv is set.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s is not installed and %s is set; %s", what, RequireEnv, hint)
	}
	t.Skipf("%s is not installed; %s", what, hint)
}

// Binary returns the path of the executable name on PATH, or calls Missing
// for it with the hint "make deps installs it".
func Binary(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "make deps installs it")
	}
	return bin
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a server process to start.
type Process struct {
	// Name names the server in errors.
	Name string
	// Cmd is the command, not started; its Stdout or Stderr (as
	// ReadyOnStderr says) must be unset.
	Cmd *exec.Cmd
	// Ready is a text of the line the server writes when it accepts
	// connections.
	Ready string
	// ReadyOnStderr says the server writes its log, and so Ready, to
	// standard error rather than standard output.
	ReadyOnStderr bool
	// Stop is the signal that shuts the server down when the test ends;
	// default SIGTERM.
	Stop os.Signal
}

// Start starts p.Cmd, waits up to a minute for its ready line, and stops
// it, waiting for it to exit, when the test ends. A server that exits
// before it is ready fails the test with what it wrote.
func Start(t testing.TB, p Process) {
	t.Helper()
	var out io.Reader
	var err error
	if p.ReadyOnStderr {
		out, err = p.Cmd.StderrPipe()
	} else {
		out, err = p.Cmd.StdoutPipe()
	}
	if err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), p.Ready) {
				ready <- nil
				for sc.Scan() { // keep reading, so that the server never blocks on a full pipe
				}
				return
			}
		}
		ready <- fmt.Errorf("%s exited before it was ready:\n%s", p.Name, strings.Join(lines, "\n"))
	}()
	stop := p.Stop
	if stop == nil {
		stop = syscall.SIGTERM
	}
	t.Cleanup(func() {
		p.Cmd.Process.Signal(stop)
		p.Cmd.Wait()
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(readyTimeout):
		t.Fatalf("%s was not ready after %v", p.Name, readyTimeout)
	}
}
