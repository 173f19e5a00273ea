// Package redistest runs Debian's redis-server for tests, on 127.0.0.1 on
// a free port, without persistence, stopped when the test ends.
package redistest

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/weirstream/weir/internal/testserver"
)

// Server is a running redis-server.
type Server struct {
	addr string
	cl   *goredis.Client
}

// Start starts a redis-server. Without the binary (package redis-server,
// which make deps installs) the test is skipped, unless
// WEIR_REQUIRE_SERVERS is set (make test sets it): then it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testserver.Binary(t, "redis-server")
	port := testserver.FreePort(t)
	testserver.Start(t, testserver.Process{
		Name: "redis-server",
		Cmd: exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--daemonize", "no"),
		Ready: "Ready to accept connections",
	})
	s := &Server{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.cl = goredis.NewClient(&goredis.Options{Addr: s.addr})
	t.Cleanup(func() { s.cl.Close() })
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client() *goredis.Client { return s.cl }
