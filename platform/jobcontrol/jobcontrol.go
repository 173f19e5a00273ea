// Package jobcontrol is the protocol between a job's process (`weir run
// --control-socket PATH`) and the server that supervises it (`weir
// serve`): HTTP on a Unix socket in the job's directory.
//
//	GET  /metrics    the job's figures as JSON (Metrics)
//	GET  /graph      the job's operators and edges as JSON (Graph)
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
	// Connector holds the metrics the operator's connector reports
	// (weir.MetricsReporter).
	Connector []Metric `json:"connector,omitempty"`
	// Watermark is the operator subtask's event-time watermark; absent
	// before the first and after the end of input.
	Watermark *time.Time `json:"watermark,omitempty"`
}

// Graph is what /graph answers: the job's operators, with their
// parallelism and the task chain each runs in, and the edges between
// them (weir.JobGraph).
type Graph struct {
	Operators []GraphOperator `json:"operators"`
	Edges     []GraphEdge     `json:"edges"`
}

// GraphOperator is one operator of a Graph; ID is Operator.ID.
type GraphOperator struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Parallelism int    `json:"parallelism"`
	Task        int    `json:"task"`
}

// GraphEdge is one edge of a Graph, between operator IDs.
type GraphEdge struct {
	From         string `json:"from"`
	To           string `json:"to"`
	Partitioning string `json:"partitioning"`
	Chained      bool   `json:"chained"`
	SideOutput   string `json:"side_output,omitempty"`
}

// FromGraph is the Graph of a job's weir.JobGraph.
func FromGraph(g weir.JobGraph) Graph {
	out := Graph{Operators: []GraphOperator{}, Edges: []GraphEdge{}}
	for _, o := range g.Operators {
		out.Operators = append(out.Operators, GraphOperator{ID: o.ID, Name: o.Name, Kind: o.Kind, Parallelism: o.Parallelism, Task: o.Task})
	}
	for _, e := range g.Edges {
		out.Edges = append(out.Edges, GraphEdge{From: e.From, To: e.To, Partitioning: e.Partitioning, Chained: e.Chained, SideOutput: e.SideOutput})
	}
	return out
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

// Metric is a connector's metric (weir.Metric).
type Metric struct {
	Name    string      `json:"name"`
	Help    string      `json:"help,omitempty"`
	Labels  [][2]string `json:"labels,omitempty"`
	Value   float64     `json:"value"`
	Counter bool        `json:"counter,omitempty"`
}

// FromJob is the Metrics of a job's figures.
func FromJob(m weir.JobMetrics) Metrics {
	out := Metrics{CheckpointsCompleted: m.CheckpointsCompleted, CheckpointsFailed: m.CheckpointsFailed, RestartsTotal: m.RestartsTotal}
	for _, o := range m.Operators {
		op := Operator{Operator: o.Operator, ID: o.ID, Subtask: o.Subtask,
			In: o.In, Out: o.Out, Filtered: o.Filtered, DeadLettered: o.DeadLettered, Skipped: o.Skipped, Late: o.Late,
			WatermarkLagSeconds: o.WatermarkLag.Seconds(), BackpressuredSeconds: o.Backpressured.Seconds(),
			Connector: fromConnector(o.Connector)}
		if !o.Watermark.IsZero() {
			wm := o.Watermark.UTC()
			op.Watermark = &wm
		}
		out.Operators = append(out.Operators, op)
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

func fromConnector(ms []weir.Metric) []Metric {
	var out []Metric
	for _, m := range ms {
		out = append(out, Metric{Name: m.Name, Help: m.Help, Labels: m.Labels, Value: m.Value, Counter: m.Counter})
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
