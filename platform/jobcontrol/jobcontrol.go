// Package jobcontrol is the protocol between a job's process (`weir run
// --control-socket PATH`) and the server that supervises it (`weir
// serve`): HTTP on a Unix socket in the job's directory.
//
//	GET  /metrics    the job's figures as JSON (Metrics)
//	POST /savepoint  take a savepoint; answers {"path": "..."} once it has
//	                 completed, or {"error": "..."} with status 409
//
// Stopping with a savepoint is SIGTERM (or SIGINT), as for any run;
// canceling is SIGKILL. The socket is as private as the directory it is
// in: nothing on it is authenticated. The JSON field names are the
// protocol: add fields, never rename them.
package jobcontrol

import (
	"time"

	"github.com/weirstream/weir"
)

// Metrics is what /metrics answers.
type Metrics struct {
	Operators            []Operator   `json:"operators"`
	CheckpointsCompleted int64        `json:"checkpoints_completed"`
	CheckpointsFailed    int64        `json:"checkpoints_failed"`
	LastCheckpoint       *Checkpoint  `json:"last_checkpoint,omitempty"`
	Restored             *Checkpoint  `json:"restored,omitempty"`
	RestartsTotal        int64        `json:"restarts_total"`
	Checkpoints          []Checkpoint `json:"checkpoints,omitempty"`
}

// Operator is one operator subtask's figures.
type Operator struct {
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

// Checkpoint is one checkpoint or savepoint.
type Checkpoint struct {
	ID              int64     `json:"id"`
	Savepoint       bool      `json:"savepoint"`
	Path            string    `json:"path,omitempty"`
	Time            time.Time `json:"time"`
	DurationSeconds float64   `json:"duration_seconds"`
	Bytes           int64     `json:"bytes"`
	Error           string    `json:"error,omitempty"`
}

// FromJob is the Metrics of a job's figures.
func FromJob(m weir.JobMetrics) Metrics {
	out := Metrics{CheckpointsCompleted: m.CheckpointsCompleted, CheckpointsFailed: m.CheckpointsFailed, RestartsTotal: m.RestartsTotal}
	for _, o := range m.Operators {
		out.Operators = append(out.Operators, Operator{Operator: o.Operator, ID: o.ID, Subtask: o.Subtask,
			In: o.In, Out: o.Out, Filtered: o.Filtered, DeadLettered: o.DeadLettered, Skipped: o.Skipped, Late: o.Late,
			WatermarkLagSeconds: o.WatermarkLag.Seconds(), BackpressuredSeconds: o.Backpressured.Seconds()})
	}
	for _, c := range m.Checkpoints {
		out.Checkpoints = append(out.Checkpoints, fromCheckpoint(c))
	}
	for i := len(m.Checkpoints) - 1; i >= 0; i-- {
		if m.Checkpoints[i].Err == nil {
			c := fromCheckpoint(m.Checkpoints[i])
			out.LastCheckpoint = &c
			break
		}
	}
	if m.Restored != nil {
		c := fromCheckpoint(*m.Restored)
		out.Restored = &c
	}
	return out
}

func fromCheckpoint(c weir.CheckpointMetrics) Checkpoint {
	cc := Checkpoint{ID: c.ID, Savepoint: c.Savepoint, Path: c.Path, Time: c.Time,
		DurationSeconds: c.Duration.Seconds(), Bytes: c.Bytes}
	if c.Err != nil {
		cc.Error = c.Err.Error()
	}
	return cc
}
