package weir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// checkpointConfig is how a job takes checkpoints and what it restores.
type checkpointConfig struct {
	dir               string
	interval          time.Duration
	timeout           time.Duration
	minPause          time.Duration
	tolerableFailures int
	writers           int
	retain            int
	retainFor         time.Duration
	restore           string
	allowNonRestored  bool
	params            map[string]string
	stop              <-chan struct{}
	onComplete        func(CheckpointMetrics)
}

// Checkpoints makes the job take a checkpoint every interval into dir: an
// asynchronous barrier snapshot of every operator's state, the source
// positions and the sinks' prepared output. Exactly-once sinks commit when a
// checkpoint completes; a bounded job takes a final checkpoint when its
// input ends.
//
// dir is a local (or mounted) directory, created when missing, or an
// S3-compatible object store as s3://bucket/prefix. S3 is configured from
// the environment as AWS tools are: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, and for a service
// other than AWS, AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) and
// WEIR_S3_PATH_STYLE (docs/checkpoints.md has the details). Either way the
// job checks at its start that it can write there, and fails at once,
// naming the directory or the bucket and endpoint, when it cannot.
func Checkpoints(interval time.Duration, dir string) Option {
	return optionFunc(func(c *config) { c.checkpoint.interval, c.checkpoint.dir = interval, dir })
}

// CheckpointTimeout fails a checkpoint that has not completed in d (default
// 10 minutes).
func CheckpointTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.checkpoint.timeout = d })
}

// CheckpointMinPause sets the least time between the end of a checkpoint
// and the start of the next (default 0).
func CheckpointMinPause(d time.Duration) Option {
	return optionFunc(func(c *config) { c.checkpoint.minPause = d })
}

// TolerableCheckpointFailures sets how many checkpoints in a row may fail
// (or time out) before the job fails (default 3).
func TolerableCheckpointFailures(n int) Option {
	return optionFunc(func(c *config) { c.checkpoint.tolerableFailures = n })
}

// CheckpointWriters sets how many state files a checkpoint writes at once
// (n ≥ 1). Each task's files are written as soon as it acknowledges the
// checkpoint, by a pool of n writer goroutines. The default is GOMAXPROCS,
// but at least 2 and at most 4: writing a file is encoding, which takes a
// core from the running tasks, then waiting for the disk, so two writers
// keep one encoding while the other waits even on one core, and more than
// four seldom make one disk faster while they take cores from the job.
// Raise it for storage that gains from more writes at once; lower it to 1
// to leave the tasks more of the processors.
func CheckpointWriters(n int) Option {
	return optionFunc(func(c *config) { c.checkpoint.writers = n })
}

// RetainCheckpoints sets how many completed checkpoints are kept (default
// 3); savepoints are never deleted.
func RetainCheckpoints(n int) Option {
	return optionFunc(func(c *config) { c.checkpoint.retain = n })
}

// RetainCheckpointsFor keeps, besides the newest RetainCheckpoints, every
// completed checkpoint completed within the last d (default 0: none), so
// that a job can be restored — rewound — to a checkpoint of that long ago.
func RetainCheckpointsFor(d time.Duration) Option {
	return optionFunc(func(c *config) { c.checkpoint.retainFor = d })
}

// Restore makes the job start from a checkpoint or savepoint: "latest" for
// the newest one in the checkpoint directory (Checkpoints), or the location
// of one: its path, or its URL on S3 (s3://bucket/prefix/chk-<id>, where
// the ID may be written without its leading zeros), or the location of a
// checkpoint storage, for its newest. The log
// (Logger) and JobMetrics().Restored say which one it took: checkpoint or
// savepoint, ID and path. Every
// operator's state, every source split's position and watermark, and the
// output sinks had prepared are restored, at any parallelism.
func Restore(from string) Option {
	return optionFunc(func(c *config) { c.checkpoint.restore = from })
}

// StopOn makes the job stop with a savepoint when stop is closed: the
// sources take a savepoint and stop reading, sinks commit what it covers,
// and Run returns nil; the savepoint (sp-<id> in the checkpoint directory)
// resumes the job with Restore. OnCheckpoint reports it with Stop set,
// JobMetrics keeps it as Stopped, and the job's log names its ID and path. Unlike the end of a bounded input there is
// no final watermark: pending event-time timers stay in the savepoint. It
// needs Checkpoints. Canceling Run's context still stops at once, without
// a savepoint.
func StopOn(stop <-chan struct{}) Option {
	return optionFunc(func(c *config) { c.checkpoint.stop = stop })
}

// OnCheckpoint calls f after each checkpoint or savepoint completes, with
// what JobMetrics keeps of it: its kind (Savepoint, Kind), ID and Path —
// what Restore takes —, whether it is the savepoint the job stops with
// (Stop) or the final checkpoint of a bounded job (Final), and its
// Duration, from its trigger to its completion (the barriers' way through
// the job, the asynchronous writes and the metadata), with where that went.
// f runs on the coordinator's goroutine and must return quickly.
func OnCheckpoint(f func(CheckpointMetrics)) Option {
	return optionFunc(func(c *config) { c.checkpoint.onComplete = f })
}

// ErrTooManyCheckpointFailures is what a job fails with when more
// checkpoints fail in a row than TolerableCheckpointFailures allows.
var ErrTooManyCheckpointFailures = runtime.ErrTooManyCheckpointFailures

// ErrNotRunning reports a request that needs the job to be running.
var ErrNotRunning = errors.New("weir: the job is not running with checkpoints")

// Savepoint takes a savepoint of the running job — a checkpoint that is
// kept until deleted, in the checkpoint directory as sp-<id> — and returns
// its location once it has completed. The job goes on. It needs
// Checkpoints, and may be called from any goroutine while Run runs.
func (e *Env) Savepoint(ctx context.Context) (string, error) {
	e.running.Lock()
	coord, store, done := e.running.coord, e.running.store, e.running.done
	e.running.Unlock()
	if coord == nil {
		return "", ErrNotRunning
	}
	reply := make(chan runtime.SavepointResult, 1)
	coord.Savepoint(reply)
	select {
	case r := <-reply:
		if r.Err != nil {
			return "", fmt.Errorf("savepoint %d: %w", r.ID, r.Err)
		}
		return checkpoint.RefLocation(store.dir.Location(), ref(r.ID, true)), nil
	case <-done:
		return "", fmt.Errorf("savepoint: %w", ErrNotRunning)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// AllowNonRestoredState lets a job restore from a checkpoint holding state
// of operators it no longer has; that state is dropped. Without it such a
// restore fails, naming the operators.
func AllowNonRestoredState() Option {
	return optionFunc(func(c *config) { c.checkpoint.allowNonRestored = true })
}

// InputParameters records with every checkpoint and savepoint the
// parameters that decide what the job reads — a generator's seed, how many
// records it makes — by name. A restore from a checkpoint that recorded one
// of them with another value fails, naming the parameter and both values:
// the positions it restores would point into other input. A parameter only
// one side has is not compared, so a job may gain parameters, and
// checkpoints taken without any restore as before. Leave out what does not
// change the input, such as a rate limit.
func InputParameters(params map[string]string) Option {
	return optionFunc(func(c *config) { c.checkpoint.params = maps.Clone(params) })
}

func (c checkpointConfig) validate() error {
	var errs []error
	if c.interval < 0 {
		errs = append(errs, fmt.Errorf("Checkpoints: interval %v must not be negative", c.interval))
	}
	if c.interval > 0 && c.dir == "" {
		errs = append(errs, errors.New("Checkpoints: a directory is required"))
	}
	if c.stop != nil && c.interval <= 0 {
		errs = append(errs, errors.New("StopOn: stopping with a savepoint needs Checkpoints"))
	}
	if c.restore != "" && c.dir == "" && c.restore == "latest" {
		errs = append(errs, errors.New(`Restore: "latest" needs a checkpoint directory (Checkpoints)`))
	}
	if c.timeout < 0 || c.minPause < 0 || c.tolerableFailures < 0 {
		errs = append(errs, fmt.Errorf("checkpoint timeout %v, min pause %v and tolerable failures %d must not be negative",
			c.timeout, c.minPause, c.tolerableFailures))
	}
	if c.writers < 1 {
		errs = append(errs, fmt.Errorf("CheckpointWriters: %d must be at least 1", c.writers))
	}
	if c.retainFor < 0 {
		errs = append(errs, fmt.Errorf("RetainCheckpointsFor: %v must not be negative", c.retainFor))
	}
	if c.retain < 1 {
		errs = append(errs, fmt.Errorf("RetainCheckpoints: %d must be at least 1", c.retain))
	}
	return errors.Join(errs...)
}

// restoredCheckpoint is a checkpoint a job restores from.
type restoredCheckpoint struct {
	id             int64
	savepoint      bool   // a savepoint (sp-<id>), not a checkpoint
	location       string // its path
	maxParallelism int
	ops            map[string]*restoredOperator // by operator ID
	params         map[string]string            // InputParameters when it was taken
	open           func(file string) (io.ReadCloser, error)
}

// restoredOperator is an operator's state in a checkpoint: one entry per old
// subtask.
type restoredOperator struct {
	name        string
	parallelism int      // 0 when the checkpoint does not say
	files       []string // state files of the old subtasks; "" for none
	// natives are the old subtasks' native files, parallel to files (nil
	// for a state file in the snapshot format), which fetch copies.
	natives      []*checkpoint.NativeState
	fetch        func(f checkpoint.NativeFile, path string) error
	splits       []runtime.SplitState
	committables [][]byte
	enumerator   *runtime.EnumeratorState
}

// opRestore is one new operator subtask's share of a restored checkpoint.
type opRestore struct {
	// files are the state files of every old subtask: a backend keeps the
	// key groups it owns and redistributes operator state.
	files        []string
	natives      []*checkpoint.NativeState // parallel to files
	fetch        func(f checkpoint.NativeFile, path string) error
	open         func(file string) (io.ReadCloser, error)
	committables [][]byte
	// parallelism is the operator's in the checkpoint, 0 when unknown.
	parallelism int
}

// into restores the operator subtask's backend. The backend reads of each
// state file only the parts it keeps.
func (r *opRestore) into(b state.Backend) error {
	if r == nil || len(r.files) == 0 {
		return nil
	}
	var files []state.SnapshotFile
	for _, f := range r.files {
		rc, err := r.open(f)
		if err != nil {
			return permanent(fmt.Errorf("restore: %w", err))
		}
		defer rc.Close()
		sf, err := snapshotFile(f, rc)
		if err != nil {
			return permanent(fmt.Errorf("restore: %s: %w", f, err))
		}
		files = append(files, sf)
	}
	if slices.ContainsFunc(r.natives, func(n *checkpoint.NativeState) bool { return n != nil }) {
		return r.intoFiles(b, files)
	}
	if err := b.Restore(files); err != nil {
		return permanent(fmt.Errorf("restore: %w", err))
	}
	return nil
}

// snapshotFile gives a backend random access to an opened state file: a
// file (io.ReaderAt with Stat) is read in place; anything else is read
// into memory first.
func snapshotFile(name string, rc io.Reader) (state.SnapshotFile, error) {
	if f, ok := rc.(interface {
		io.ReaderAt
		Stat() (fs.FileInfo, error)
	}); ok {
		fi, err := f.Stat()
		if err != nil {
			return state.SnapshotFile{}, err
		}
		return state.SnapshotFile{Name: name, R: f, Size: fi.Size()}, nil
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		return state.SnapshotFile{}, err
	}
	return state.BytesSnapshot(name, b), nil
}

// share returns the part of op's restored state that subtask i of p gets:
// all state files (backends pick their key groups) and the committables
// dealt round robin.
func (op *restoredOperator) share(open func(string) (io.ReadCloser, error), i, p int) *opRestore {
	r := &opRestore{open: open, parallelism: op.parallelism, fetch: op.fetch}
	for i, f := range op.files {
		if f != "" {
			r.files = append(r.files, f)
			var n *checkpoint.NativeState
			if i < len(op.natives) {
				n = op.natives[i]
			}
			r.natives = append(r.natives, n)
		}
	}
	for j, c := range op.committables {
		if j%p == i {
			r.committables = append(r.committables, c)
		}
	}
	return r
}

// matchRestored checks that every operator of the checkpoint is in the job
// (unless allowed to drop it) and that the job's max parallelism is the
// checkpoint's.
func (p *plan) matchRestored(rc *restoredCheckpoint) error {
	if rc.maxParallelism != p.cfg.maxParallelism {
		return fmt.Errorf("restore: the checkpoint has max parallelism %d, the job %d; key groups cannot change",
			rc.maxParallelism, p.cfg.maxParallelism)
	}
	var differ []string
	for _, k := range slices.Sorted(maps.Keys(rc.params)) {
		if v, ok := p.cfg.checkpoint.params[k]; ok && v != rc.params[k] {
			differ = append(differ, fmt.Sprintf("%s=%s, the job runs with %s=%s", k, rc.params[k], k, v))
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("restore: the checkpoint was taken with %s; its positions are in other input: restore with the values it was taken with, or start without restoring",
			strings.Join(differ, "; with "))
	}
	ids := map[string]bool{}
	for _, v := range p.vertices {
		for _, n := range v.nodes {
			ids[n.id] = true
		}
	}
	// A checkpoint's dead letters not yet committed need a dead-letter
	// output to be committed to; without any, the job may drop the output.
	if op := rc.ops[deadLettersID]; op != nil && p.cfg.deadLetters == "" && len(op.committables) > 0 && !p.cfg.checkpoint.allowNonRestored {
		return fmt.Errorf("restore: the checkpoint holds dead letters not yet committed to their directory; give the job its dead-letter output (DeadLetters, --dead-letters), or allow dropping them (AllowNonRestoredState)")
	}
	ids[deadLettersID] = true
	var missing []string
	for id, op := range rc.ops {
		if !ids[id] {
			missing = append(missing, fmt.Sprintf("%q (id %s)", op.name, id))
		}
	}
	if len(missing) > 0 && !p.cfg.checkpoint.allowNonRestored {
		slices.Sort(missing)
		return fmt.Errorf("restore: the checkpoint holds state of operators the job does not have: %v; give them their old IDs, or allow dropping their state (the AllowNonRestoredState option; --allow-non-restored-state on the weir command line)", missing)
	}
	return nil
}

// assignRestoredSplits deals a source's splits to its subtasks on restore:
// the splits the checkpoint knows, with their positions and watermarks, then
// new ones, split j to subtask j mod p.
func assignRestoredSplits(op *restoredOperator, splits []Split, origin func(Split) int32, p int) ([][]assignedSplit, error) {
	per := make([][]assignedSplit, p)
	known := map[string]bool{}
	j := 0
	deal := func(a assignedSplit) {
		per[j%p] = append(per[j%p], a)
		j++
	}
	byID := map[string]Split{}
	for _, s := range splits {
		byID[s.ID] = s
	}
	if op != nil {
		for _, st := range op.splits {
			known[st.Split] = true
			s, ok := byID[st.Split]
			if !ok {
				if !st.Ended && op.enumerator == nil {
					return nil, fmt.Errorf("restore: split %q is in the checkpoint, unfinished, but the source no longer lists it", st.Split)
				}
				// A finished split the source no longer lists (a file
				// deleted after it was read) is kept as finished; so is
				// any split a split enumerator found, which the source's
				// initial listing need not name.
				s = Split{ID: st.Split}
			}
			deal(assignedSplit{split: s, origin: origin(s), position: st.Position, restored: true,
				watermark: st.Watermark, ended: st.Ended})
		}
	}
	if op != nil && op.enumerator != nil {
		// Splits the enumerator had found that no reader's state holds
		// were not being read yet at the barrier: they start from the
		// beginning.
		for _, id := range op.enumerator.Splits {
			if known[id] {
				continue
			}
			known[id] = true
			s, ok := byID[id]
			if !ok {
				s = Split{ID: id}
			}
			deal(assignedSplit{split: s, origin: origin(s)})
		}
	}
	for _, s := range splits {
		if !known[s.ID] {
			known[s.ID] = true
			deal(assignedSplit{split: s, origin: origin(s)})
		}
	}
	return per, nil
}
