// Package failpoint lets a crash test kill the process at named moments.
//
// A failpoint is a call to Hit with a name at a point where a crash is
// interesting (a checkpoint's state written but the checkpoint not
// complete, a sink between prepare and commit, …). Normally Hit does
// nothing but load one atomic flag. When the environment variable
// WEIR_FAILPOINTS names failpoints, as "name=n" pairs separated by commas,
// the n-th hit of each named failpoint kills the process with SIGKILL on the
// spot — no deferred functions, no flushing — which is what a crash test
// needs. Before dying it appends the failpoint's name to the file named by
// WEIR_FAILPOINTS_LOG, if set, so the harness can count which failpoint
// fired.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Names of the failpoints Weir has, for harnesses to arm.
const (
	// StateWritten fires after the coordinator wrote an operator subtask's
	// state file, before the checkpoint's metadata is written.
	StateWritten = "checkpoint-state-written"
	// SinkPreparing fires when a sink's barrier has come, before it
	// prepares its output.
	SinkPreparing = "sink-preparing"
	// SinkPrepared fires after a sink prepared its output at a barrier,
	// before the checkpoint completes.
	SinkPrepared = "sink-prepared"
	// SinkCommitting fires when a checkpoint has completed and a sink is
	// about to commit.
	SinkCommitting = "sink-committing"
)

var (
	armed atomic.Bool
	mu    sync.Mutex
	left  map[string]int // hits left before the kill
)

func init() {
	spec := os.Getenv("WEIR_FAILPOINTS")
	if spec == "" {
		return
	}
	m, err := Parse(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "weir:", err)
		os.Exit(2)
	}
	left = m
	armed.Store(true)
}

// Parse parses a WEIR_FAILPOINTS value.
func Parse(spec string) (map[string]int, error) {
	m := map[string]int{}
	for _, kv := range strings.Split(spec, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(kv), "=")
		hits, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || hits < 1 {
			return nil, fmt.Errorf("WEIR_FAILPOINTS: %q: want name=hits with hits >= 1", kv)
		}
		m[name] = hits
	}
	return m, nil
}

// Hit marks that the program reached the named failpoint; when it is armed
// and this is its n-th hit, the process dies.
func Hit(name string) {
	if !armed.Load() {
		return
	}
	mu.Lock()
	n, ok := left[name]
	if ok {
		n--
		left[name] = n
	}
	mu.Unlock()
	if ok && n == 0 {
		die(name)
	}
}

func die(name string) {
	if path := os.Getenv("WEIR_FAILPOINTS_LOG"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.WriteString(name + "\n")
			f.Sync()
			f.Close()
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL is not delivered synchronously; never go on
}
