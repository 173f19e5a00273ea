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
)

// The control socket of `weir run --control-socket PATH`: a Unix socket on
// which the run answers HTTP requests from the process that supervises it
// (`weir serve`):
//
//	GET  /metrics    the job's figures as JSON (controlMetrics)
//	POST /savepoint  take a savepoint; answers {"path": "..."} once it has
//	                 completed, or {"error": "..."} with status 409
//
// Stopping with a savepoint is SIGTERM (or SIGINT), as for any run. The
// socket is as private as the directory it is in: nothing on it is
// authenticated.

// controlMetrics is the JSON the control socket's /metrics answers. Its
// field names are the protocol between a run and its supervisor; add
// fields, never rename them.
type controlMetrics struct {
	Operators            []controlOperator   `json:"operators"`
	CheckpointsCompleted int64               `json:"checkpoints_completed"`
	CheckpointsFailed    int64               `json:"checkpoints_failed"`
	LastCheckpoint       *controlCheckpoint  `json:"last_checkpoint,omitempty"`
	Restored             *controlCheckpoint  `json:"restored,omitempty"`
	RestartsTotal        int64               `json:"restarts_total"`
	Checkpoints          []controlCheckpoint `json:"checkpoints,omitempty"`
}

type controlOperator struct {
	Operator             string  `json:"operator"`
	ID                   string  `json:"id"`
	Subtask              int     `json:"subtask"`
	In                   int64   `json:"in"`
	Out                  int64   `json:"out"`
	Filtered             int64   `json:"filtered"`
	DeadLettered         int64   `json:"dead_lettered"`
	Skipped              int64   `json:"skipped"`
	Late                 int64   `json:"late"`
	WatermarkLagSeconds  float64 `json:"watermark_lag_seconds"`
	BackpressuredSeconds float64 `json:"backpressured_seconds"`
}

type controlCheckpoint struct {
	ID              int64     `json:"id"`
	Savepoint       bool      `json:"savepoint"`
	Path            string    `json:"path,omitempty"`
	Time            time.Time `json:"time"`
	DurationSeconds float64   `json:"duration_seconds"`
	Bytes           int64     `json:"bytes"`
	Error           string    `json:"error,omitempty"`
}

func toControlCheckpoint(c weir.CheckpointMetrics) controlCheckpoint {
	cc := controlCheckpoint{ID: c.ID, Savepoint: c.Savepoint, Path: c.Path, Time: c.Time,
		DurationSeconds: c.Duration.Seconds(), Bytes: c.Bytes}
	if c.Err != nil {
		cc.Error = c.Err.Error()
	}
	return cc
}

func toControlMetrics(m weir.JobMetrics) controlMetrics {
	out := controlMetrics{CheckpointsCompleted: m.CheckpointsCompleted, CheckpointsFailed: m.CheckpointsFailed, RestartsTotal: m.RestartsTotal}
	for _, o := range m.Operators {
		out.Operators = append(out.Operators, controlOperator{Operator: o.Operator, ID: o.ID, Subtask: o.Subtask,
			In: o.In, Out: o.Out, Filtered: o.Filtered, DeadLettered: o.DeadLettered, Skipped: o.Skipped, Late: o.Late,
			WatermarkLagSeconds: o.WatermarkLag.Seconds(), BackpressuredSeconds: o.Backpressured.Seconds()})
	}
	for _, c := range m.Checkpoints {
		out.Checkpoints = append(out.Checkpoints, toControlCheckpoint(c))
	}
	for i := len(m.Checkpoints) - 1; i >= 0; i-- {
		if m.Checkpoints[i].Err == nil {
			c := toControlCheckpoint(m.Checkpoints[i])
			out.LastCheckpoint = &c
			break
		}
	}
	if m.Restored != nil {
		c := toControlCheckpoint(*m.Restored)
		out.Restored = &c
	}
	return out
}

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
		writeControlJSON(w, http.StatusOK, toControlMetrics(env.JobMetrics()))
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
