// Package natstest runs a NATS server with JetStream for tests: Debian's
// nats-server binary, started on 127.0.0.1 on a free port with its store
// in a temporary directory, and stopped when the test ends.
package natstest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/weirstream/weir/internal/testserver"
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
	bin := testserver.Binary(t, "nats-server")
	port := testserver.FreePort(t)
	testserver.Start(t, testserver.Process{
		Name:          "nats-server",
		Cmd:           exec.Command(bin, "-js", "-sd", t.TempDir(), "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-n", "weir-test"),
		Ready:         "Server is ready",
		ReadyOnStderr: true,
	})
	var err error
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
