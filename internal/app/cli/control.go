package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/platform/jobcontrol"
)

// The control socket of `weir run --control-socket PATH` speaks the
// protocol of package jobcontrol to the process that supervises the run
// (`weir serve`).

// serveControl listens on the Unix socket at path and answers the control
// requests for env until the function it returns is called, which closes
// the socket, waits for the requests in progress and removes the file. A
// socket file left by a run that was killed is replaced; any other file at
// path is an error.
func serveControl(path string, env *weir.Env) (stop func(), err error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("--control-socket %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("--control-socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--control-socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, jobcontrol.FromJob(env.JobMetrics()))
	})
	mux.HandleFunc("GET /graph", func(w http.ResponseWriter, r *http.Request) {
		g, err := env.Graph()
		if err != nil {
			writeControlJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeControlJSON(w, http.StatusOK, jobcontrol.FromGraph(g))
	})
	mux.HandleFunc("POST /savepoint", func(w http.ResponseWriter, r *http.Request) {
		path, err := env.Savepoint(r.Context())
		if err != nil {
			writeControlJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeControlJSON(w, http.StatusOK, map[string]string{"path": path})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "weir run: control socket: %v\n", err)
		}
	})
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		wg.Wait()
		os.Remove(path)
	}, nil
}

func writeControlJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
