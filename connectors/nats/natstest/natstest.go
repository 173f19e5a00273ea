// Package natstest runs a NATS server with JetStream for tests: Debian's
// nats-server binary, started on 127.0.0.1 on a free port with its store
// in a temporary directory, and stopped when the test ends.
package natstest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a running nats-server.
type Server struct {
	t   testing.TB
	url string
	nc  *natsio.Conn
	js  jetstream.JetStream
}

// Start starts a nats-server with JetStream. Without the binary (package
// nats-server, which make deps installs) the test is skipped, unless
// WEIR_REQUIRE_SERVERS is set (make test sets it): then it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("WEIR_REQUIRE_SERVERS") != "" {
			t.Fatal("nats-server is not installed and WEIR_REQUIRE_SERVERS is set; make deps installs it")
		}
		t.Skip("nats-server is not installed; make deps installs it")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-n", "weir-test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "Server is ready") {
				ready <- nil
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("nats-server exited before it was ready:\n%s", strings.Join(lines, "\n"))
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("nats-server was not ready after a minute")
	}
	s := &Server{t: t, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	s.nc, err = natsio.Connect(s.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.nc.Close)
	if s.js, err = jetstream.New(s.nc); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL returns the server's URL, nats://127.0.0.1:port.
func (s *Server) URL() string { return s.url }

// JetStream returns a JetStream context of the server's test connection.
func (s *Server) JetStream() jetstream.JetStream { return s.js }

// Stream creates a file-stored stream with the limits retention policy
// capturing subjects, keeping message IDs for duplicates (0: the server's
// default, 2 minutes).
func (s *Server) Stream(name string, duplicates time.Duration, subjects ...string) {
	s.t.Helper()
	_, err := s.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: subjects, Duplicates: duplicates})
	if err != nil {
		s.t.Fatalf("create stream %s: %v", name, err)
	}
}

// Publish publishes each data to subject and waits for the stream's
// acknowledgements.
func (s *Server) Publish(subject string, data ...[]byte) {
	s.t.Helper()
	for _, d := range data {
		if _, err := s.js.Publish(context.Background(), subject, d); err != nil {
			s.t.Fatalf("publish to %s: %v", subject, err)
		}
	}
}

// Messages returns the data of every message the stream holds, in
// sequence order.
func (s *Server) Messages(stream string) [][]byte {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		s.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatalf("stream %s: %v", stream, err)
	}
	var out [][]byte
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			if strings.Contains(err.Error(), "not found") {
				continue
			}
			s.t.Fatalf("stream %s: message %d: %v", stream, seq, err)
		}
		out = append(out, m.Data)
	}
	return out
}
