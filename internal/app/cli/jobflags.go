package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/weirstream/weir"
)

// jobFlags are the flags the run verbs share: how a failing job restarts,
// how it logs, how many state files its checkpoints write at once, and
// where it keeps its state.
type jobFlags struct {
	state             string
	stateDir          string
	stateMemory       int64 // MiB
	stateIncremental  bool
	checkpointWriters int
	restarts          int
	restartBackoff    time.Duration
	restartMaxBackoff time.Duration
	logLevel          string
	logFormat         string

	// logger is the job's logger, which options makes.
	logger *slog.Logger
}

func addJobFlags(f *pflag.FlagSet) *jobFlags {
	j := &jobFlags{state: "memory", stateIncremental: true, restarts: 10, restartBackoff: time.Second, restartMaxBackoff: time.Minute, logLevel: "warn", logFormat: "text"}
	f.StringVar(&j.state, "state", j.state, "keep keyed state in memory (Go values, the fastest), bytes (encoded, on the heap) or pebble (on disk, for state larger than memory); checkpoints of each restore into the others")
	f.StringVar(&j.stateDir, "state-dir", "", "with --state pebble, make each operator subtask's working `directory` here, removed when the job ends (default: the system's temporary directory)")
	f.Int64Var(&j.stateMemory, "state-memory", 64, "with --state pebble, the memory budget of the job's state in MiB, shared by its keyed operator subtasks (Pebble's cache, memtables included, and a cache of decoded value-state entries); given, it also sets the Go memory limit (GOMEMLIMIT) to the same amount unless GOMEMLIMIT is set")
	f.BoolVar(&j.stateIncremental, "state-incremental", j.stateIncremental, "with --state pebble, make checkpoints incremental: each stores only the files the previous one does not hold (savepoints are always full); =false for full checkpoints, which restore on any backend")
	f.IntVar(&j.restarts, "restarts", j.restarts, "with checkpoints, restart a failing job from its latest checkpoint up to this many times in a row; 0 never")
	f.DurationVar(&j.restartBackoff, "restart-backoff", j.restartBackoff, "wait before the first restart; it grows 1.5× with each restart in a row")
	f.DurationVar(&j.restartMaxBackoff, "restart-max-backoff", j.restartMaxBackoff, "the longest wait before a restart")
	f.StringVar(&j.logLevel, "log-level", j.logLevel, "log the job's events at this level and above to standard error: debug, info (checkpoints, restores), warn (restarts, failed checkpoints) or error")
	f.StringVar(&j.logFormat, "log-format", j.logFormat, "log as text or json")
	f.IntVar(&j.checkpointWriters, "checkpoint-writers", j.checkpointWriters, "with checkpoints, write this many state files at once (default: the processors, at least 2 and at most 4)")
	return j
}

// lockedWriter serializes writes: the job's log records come from its
// goroutines while the verb writes its own lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// withoutFailure leaves out the job's "job failed" record, whose error the
// command prints as its last line. JSON logs keep it: a log collector
// reads them, not a person.
type withoutFailure struct{ slog.Handler }

func (h withoutFailure) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelError && r.Message == weir.LogJobFailed {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h withoutFailure) WithAttrs(as []slog.Attr) slog.Handler {
	return withoutFailure{h.Handler.WithAttrs(as)}
}

func (h withoutFailure) WithGroup(name string) slog.Handler {
	return withoutFailure{h.Handler.WithGroup(name)}
}

// options checks the flags, naming the one at fault, and returns the job's
// options: the restart strategy when the job takes checkpoints into
// checkpointDir (given by the flag dirFlag), and the logger writing to
// stderr.
func (j *jobFlags) options(stderr io.Writer, checkpointDir, dirFlag string, changed func(string) bool) ([]weir.Option, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(j.logLevel)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", j.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch j.logFormat {
	case "text":
		// The verb's last line says why the job failed; a text record of
		// the same failure would only repeat it.
		h = withoutFailure{slog.NewTextHandler(stderr, hopts)}
	case "json":
		h = slog.NewJSONHandler(stderr, hopts)
	default:
		return nil, fmt.Errorf("invalid --log-format %q: want text or json", j.logFormat)
	}
	j.logger = slog.New(h)
	opts := []weir.Option{weir.Logger(j.logger)}
	backend, err := j.backend(changed)
	if err != nil {
		return nil, err
	}
	opts = append(opts, weir.StateBackend(backend))
	switch {
	case changed("checkpoint-writers") && j.checkpointWriters < 1:
		return nil, fmt.Errorf("invalid --checkpoint-writers %d: must be at least 1", j.checkpointWriters)
	case changed("checkpoint-writers") && checkpointDir == "":
		return nil, errors.New("--checkpoint-writers needs " + dirFlag + " DIR")
	case changed("checkpoint-writers"):
		opts = append(opts, weir.CheckpointWriters(j.checkpointWriters))
	}
	restartFlag := changed("restarts") || changed("restart-backoff") || changed("restart-max-backoff")
	switch {
	case j.restarts < 0:
		return nil, fmt.Errorf("invalid --restarts %d: must not be negative", j.restarts)
	case j.restartBackoff <= 0:
		return nil, fmt.Errorf("invalid --restart-backoff %v: must be positive", j.restartBackoff)
	case j.restartMaxBackoff < j.restartBackoff:
		return nil, fmt.Errorf("invalid --restart-max-backoff %v: must not be below --restart-backoff %v", j.restartMaxBackoff, j.restartBackoff)
	case checkpointDir == "" && restartFlag && j.restarts > 0:
		return nil, errors.New("--restarts needs " + dirFlag + " DIR: a restart goes back to the latest checkpoint; without one it would read the input again and repeat output")
	case checkpointDir == "" || j.restarts == 0:
		return opts, nil
	}
	return append(opts, weir.Restarts(weir.RestartStrategy{
		MaxAttempts: j.restarts, InitialBackoff: j.restartBackoff, MaxBackoff: j.restartMaxBackoff,
	})), nil
}

// backend returns the state backend --state names, with the options of
// --state-dir, --state-memory and --state-incremental.
func (j *jobFlags) backend(changed func(string) bool) (weir.Backend, error) {
	b, err := weir.ParseBackend(j.state)
	if err != nil {
		return weir.Backend{}, fmt.Errorf("invalid --state %q: want memory, bytes or pebble", j.state)
	}
	if b.String() != "pebble" {
		for _, f := range []string{"state-dir", "state-memory", "state-incremental"} {
			if changed(f) {
				return weir.Backend{}, fmt.Errorf("--%s needs --state pebble", f)
			}
		}
		return b, nil
	}
	if j.stateMemory < 4 || j.stateMemory > 1<<30 {
		return weir.Backend{}, fmt.Errorf("invalid --state-memory %d: want MiB from 4 to %d", j.stateMemory, 1<<30)
	}
	return weir.PebbleBackend(weir.PebbleOptions{Dir: j.stateDir, Memory: j.stateMemory << 20, FullCheckpoints: !j.stateIncremental}), nil
}

// isolatedBackend is the state backend option of one of the jobs of an
// isolated pipeline: with --state pebble each job's working directories go
// under --state-dir/OUTPUT and the jobs share --state-memory evenly; the
// other backends are the flags' as they are. The flags are already checked.
func (j *jobFlags) isolatedBackend(output string, jobs int) []weir.Option {
	if j.state != "pebble" {
		return nil
	}
	dir := j.stateDir
	if dir != "" {
		dir = filepath.Join(dir, output)
	}
	return []weir.Option{weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{Dir: dir,
		Memory: (j.stateMemory << 20) / int64(max(jobs, 1)), FullCheckpoints: !j.stateIncremental}))}
}

// setMemoryLimit and lookupEnv are debug.SetMemoryLimit and os.LookupEnv;
// tests replace them.
var (
	setMemoryLimit = debug.SetMemoryLimit
	lookupEnv      = os.LookupEnv
)

// limitMemory sets the Go runtime's memory limit to the state budget when
// --state-memory is given with --state pebble and GOMEMLIMIT is not set,
// so that the heap, which Pebble's budget does not cover, is collected
// before it outgrows the budget; the function it returns puts the earlier
// limit back. The flags are already checked.
func (j *jobFlags) limitMemory(changed func(string) bool) (restore func()) {
	if j.state != "pebble" || !changed("state-memory") {
		return func() {}
	}
	if _, set := lookupEnv("GOMEMLIMIT"); set {
		return func() {}
	}
	prev := setMemoryLimit(j.stateMemory << 20)
	return func() { setMemoryLimit(prev) }
}
