package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// The server talks to a job's process over the Unix socket the process
// opens in the job's directory (`weir run --control-socket`): GET /metrics
// for its figures, POST /savepoint for a savepoint. Stopping with a
// savepoint is SIGTERM, canceling SIGKILL. The socket is as private as the
// job's directory (mode 0700).

// childMetrics mirrors what a job's process answers on /metrics.
type childMetrics struct {
	Operators            []childOperator   `json:"operators"`
	CheckpointsCompleted int64             `json:"checkpoints_completed"`
	CheckpointsFailed    int64             `json:"checkpoints_failed"`
	LastCheckpoint       *childCheckpoint  `json:"last_checkpoint,omitempty"`
	Restored             *childCheckpoint  `json:"restored,omitempty"`
	RestartsTotal        int64             `json:"restarts_total"`
	Checkpoints          []childCheckpoint `json:"checkpoints,omitempty"`
}

type childOperator struct {
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

type childCheckpoint struct {
	ID              int64     `json:"id"`
	Savepoint       bool      `json:"savepoint"`
	Path            string    `json:"path,omitempty"`
	Time            time.Time `json:"time"`
	DurationSeconds float64   `json:"duration_seconds"`
	Bytes           int64     `json:"bytes"`
	Error           string    `json:"error,omitempty"`
}

// maxControlBody bounds what the server reads from a job's process.
const maxControlBody = 16 << 20

func controlClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
}

func controlDo(ctx context.Context, socket, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://job"+path, nil)
	if err != nil {
		return err
	}
	resp, err := controlClient(socket).Do(req)
	if err != nil {
		return fmt.Errorf("the job's process does not answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxControlBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("the job's process answered %s", resp.Status)
	}
	return json.Unmarshal(body, v)
}

// controlSavepoint asks the job's process for a savepoint and returns its
// path once it has completed.
func controlSavepoint(ctx context.Context, socket string) (string, error) {
	var r SavepointResponse
	if err := controlDo(ctx, socket, http.MethodPost, "/savepoint", &r); err != nil {
		return "", err
	}
	return r.Path, nil
}

func controlMetrics(ctx context.Context, socket string) (childMetrics, error) {
	var m childMetrics
	err := controlDo(ctx, socket, http.MethodGet, "/metrics", &m)
	return m, err
}
