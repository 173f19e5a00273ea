package weir

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/runtime"
)

// LogJobFailed is the message of the error record a job logs when Run
// returns its failure; a program that prints that error itself can leave
// the record out.
const LogJobFailed = "job failed"

// Logger makes the job log what happens to it on l, as structured records:
// the job's start and end, each checkpoint completed (id, duration and its
// sync, async and metadata parts, bytes, alignment; see CheckpointMetrics)
// or failed (why), the checkpoint it restores, each restart and
// its cause, and the operator error that failed a run (operator, subtask,
// the record's source, split and offset). Nothing is logged per record.
// Without Logger a job logs nothing.
func Logger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// logger returns the job's logger, one that discards when none was given.
func (c config) log() *slog.Logger {
	if c.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.logger
}

// CheckpointMetrics describe one checkpoint or savepoint that completed or
// failed.
type CheckpointMetrics struct {
	ID        int64
	Savepoint bool
	// Stop marks the savepoint the job stopped with (StopOn): the one to
	// resume it from. Final marks the checkpoint a bounded job takes when
	// its input has ended.
	Stop, Final bool
	// Path is where a completed checkpoint or savepoint is, in the
	// checkpoint directory (chk-<id> or sp-<id>): what Restore takes. It is
	// empty for one that failed, since nothing of it is kept.
	Path string
	// Time is when it completed or failed.
	Time time.Time
	// Duration runs from the trigger to the completion or the failure.
	Duration time.Duration
	// SyncDuration, AsyncDuration and MetadataDuration show where
	// Duration went, as Flink's checkpoint statistics split a subtask's
	// time into a sync and an async part:
	//
	//   - SyncDuration, from the trigger to the last task's
	//     acknowledgement: the barriers' way through the job (alignment
	//     included) and the tasks' synchronous snapshots, while the state
	//     files of the tasks that acknowledged earlier are being written;
	//   - AsyncDuration, from then until the last state file was written:
	//     the writes the checkpoint still waited for (zero when none was
	//     left);
	//   - MetadataDuration, writing the metadata that completes it.
	//
	// What Duration holds beyond them is the coordinator's own handling,
	// normally negligible. A part the checkpoint did not reach before it
	// failed is zero.
	SyncDuration, AsyncDuration, MetadataDuration time.Duration
	// Bytes is the size of the state files it wrote.
	Bytes int64
	// Alignment is the longest time one task waited between the first and
	// the last barrier on its inputs, holding back the inputs that had
	// delivered theirs.
	Alignment time.Duration
	// Err is why it failed; nil when it completed.
	Err error
}

// JobMetrics are the figures of a whole job: what Metrics returns per
// operator subtask, its checkpoints and its restarts. They are kept for the
// whole Run, restarts included.
type JobMetrics struct {
	// Operators are the counts of every operator subtask of the current
	// (or last) run; a restart starts them over.
	Operators []OperatorMetrics
	// CheckpointsCompleted and CheckpointsFailed count checkpoints and
	// savepoints.
	CheckpointsCompleted, CheckpointsFailed int64
	// Checkpoints are the most recent ones, oldest first (at most
	// RecentCheckpoints).
	Checkpoints []CheckpointMetrics
	// RestartsTotal counts the job's restarts; Restarts are the most
	// recent, oldest first (at most RecentRestarts).
	RestartsTotal int64
	Restarts      []Restart
	// Restored is the checkpoint or savepoint the job restored when it
	// started (Restore), and Stopped the savepoint it stopped with
	// (StopOn); nil when it did neither. Of Restored only ID, Savepoint
	// and Path are known.
	Restored, Stopped *CheckpointMetrics
}

// RecentCheckpoints and RecentRestarts are how many checkpoints and
// restarts JobMetrics keeps, so that a job running for months keeps a
// bounded history.
const (
	RecentCheckpoints = 64
	RecentRestarts    = 64
)

// jobStats are the figures of a job kept across its runs.
type jobStats struct {
	mu          sync.Mutex
	completed   int64
	failed      int64
	checkpoints []CheckpointMetrics
	restarted   int64
	restarts    []Restart
	restored    *CheckpointMetrics
	stopped     *CheckpointMetrics
}

func (s *jobStats) checkpoint(m CheckpointMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Err == nil {
		s.completed++
	} else {
		s.failed++
	}
	if len(s.checkpoints) == RecentCheckpoints {
		s.checkpoints = append(s.checkpoints[:0], s.checkpoints[1:]...)
	}
	s.checkpoints = append(s.checkpoints, m)
	if m.Stop && m.Err == nil {
		s.stopped = &m
	}
}

// restoredFrom notes the checkpoint the job restored when it started.
func (s *jobStats) restoredFrom(m CheckpointMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restored = &m
}

// stoppedWith returns the savepoint the job stopped with, nil for none.
func (s *jobStats) stoppedWith() *CheckpointMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

func (s *jobStats) restart(r Restart) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarted++
	if len(s.restarts) == RecentRestarts {
		s.restarts = append(s.restarts[:0], s.restarts[1:]...)
	}
	s.restarts = append(s.restarts, r)
}

// JobMetrics returns the figures of the running (or finished) job.
func (e *Env) JobMetrics() JobMetrics {
	m := JobMetrics{Operators: e.Metrics()}
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	m.CheckpointsCompleted, m.CheckpointsFailed = e.stats.completed, e.stats.failed
	m.Checkpoints = append([]CheckpointMetrics(nil), e.stats.checkpoints...)
	m.RestartsTotal = e.stats.restarted
	m.Restarts = append([]Restart(nil), e.stats.restarts...)
	if r := e.stats.restored; r != nil {
		c := *r
		m.Restored = &c
	}
	if r := e.stats.stopped; r != nil {
		c := *r
		m.Stopped = &c
	}
	return m
}

// Kind returns "checkpoint" or "savepoint".
func (m CheckpointMetrics) Kind() string {
	if m.Savepoint {
		return "savepoint"
	}
	return "checkpoint"
}

// reportCheckpoint is the coordinator's report of a checkpoint: it is
// logged, kept for JobMetrics and, once completed, handed to OnCheckpoint.
// dir is the checkpoint directory's path.
func (e *Env) reportCheckpoint(log *slog.Logger, dir string, s runtime.CheckpointStats) {
	m := CheckpointMetrics{ID: s.ID, Savepoint: s.Savepoint, Stop: s.Stop, Final: s.Final, Time: time.Now(), Duration: s.Duration,
		SyncDuration: s.SyncDuration, AsyncDuration: s.AsyncDuration, MetadataDuration: s.MetadataDuration,
		Bytes: s.Bytes, Alignment: s.Alignment, Err: s.Err}
	if s.Err == nil {
		m.Path = checkpoint.RefLocation(dir, ref(s.ID, s.Savepoint))
	}
	e.stats.checkpoint(m)
	kind := m.Kind()
	if s.Err != nil {
		log.Warn(kind+" failed", "id", s.ID, "duration", s.Duration, "error", s.Err)
		return
	}
	attrs := []any{"id", s.ID, "path", m.Path, "duration", s.Duration, "sync", s.SyncDuration, "async", s.AsyncDuration,
		"metadata", s.MetadataDuration, "bytes", s.Bytes, "alignment", s.Alignment}
	switch {
	case m.Stop:
		attrs = append(attrs, "stop", true)
	case m.Final:
		attrs = append(attrs, "final", true)
	}
	log.Info(kind+" completed", attrs...)
	if f := e.cfg.checkpoint.onComplete; f != nil {
		f(m)
	}
}

// failureAttrs are the attributes of a run's failure: the error and, when
// an operator failed, which one and on what.
func failureAttrs(err error) []any {
	attrs := []any{"error", err}
	var oe *runtime.OperatorError
	if errors.As(err, &oe) {
		attrs = append(attrs, "operator", oe.Operator, "operator_id", oe.OperatorID, "subtask", oe.Subtask)
		if oe.Origin != nil {
			attrs = append(attrs, "source", oe.Origin.Source, "split", oe.Origin.Split, "offset", oe.Origin.Offset)
		}
		if oe.Timer {
			attrs = append(attrs, "timer", true)
		}
	}
	return attrs
}
