package platform

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// State is where a job is in its life.
type State string

// The states of a job. Running, Restarting and Stopping are live: the
// server supervises the job, and brings it back when it starts again.
// The others are final.
const (
	// Running: its process runs (or is starting).
	Running State = "running"
	// Restarting: its process failed and it waits out the backoff before
	// starting again from its latest checkpoint.
	Restarting State = "restarting"
	// Stopping: it was asked to stop with a savepoint and its process has
	// not exited yet.
	Stopping State = "stopping"
	// Stopped: it stopped with a savepoint.
	Stopped State = "stopped"
	// Canceled: it was canceled; its process was killed.
	Canceled State = "canceled"
	// Finished: its inputs ended and its process exited cleanly.
	Finished State = "finished"
	// Failed: it failed more often than the restart policy allows.
	Failed State = "failed"
)

// Live reports whether the server supervises a job in state s.
func (s State) Live() bool { return s == Running || s == Restarting || s == Stopping }

// states lists every state, for the metrics.
var states = []State{Running, Restarting, Stopping, Stopped, Canceled, Finished, Failed}

// Job is what the API shows of a job.
type Job struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name,omitempty"`
	State              State     `json:"state"`
	Submitted          time.Time `json:"submitted"`
	Parallelism        int       `json:"parallelism"`
	CheckpointInterval string    `json:"checkpoint_interval"`
	// Retain is how long the job keeps its checkpoints besides the newest
	// 3, so that it can be rewound that far.
	Retain string `json:"retain,omitempty"`
	// Restarts counts the times the server started the job's process again
	// after it failed.
	Restarts int64 `json:"restarts"`
	// LastError is what the job's process printed when it last failed.
	LastError     string     `json:"last_error,omitempty"`
	LastErrorTime *time.Time `json:"last_error_time,omitempty"`
	// PID is the job's process while it runs.
	PID int `json:"pid,omitempty"`
	// Checkpoints are the completed checkpoints and savepoints in the job's
	// directory; filled in by show.
	Checkpoints *CheckpointInfo `json:"checkpoints,omitempty"`
	// Savepoint is the savepoint the job stopped with.
	Savepoint string `json:"savepoint,omitempty"`
	// Output is, for a pipeline whose route isolates its outputs, the one
	// output this job runs; Group lists the jobs its submission made, one
	// per output, in the order of the file.
	Output string   `json:"output,omitempty"`
	Group  []string `json:"group,omitempty"`
}

// CheckpointInfo summarizes a job's checkpoint directory.
type CheckpointInfo struct {
	Dir        string           `json:"dir"`
	Latest     *CheckpointFile  `json:"latest,omitempty"`
	Count      int              `json:"count"`
	Savepoints []CheckpointFile `json:"savepoints,omitempty"`
}

// CheckpointFile is one completed checkpoint or savepoint.
type CheckpointFile struct {
	Kind      string    `json:"kind"` // checkpoint or savepoint
	ID        int64     `json:"id"`
	Path      string    `json:"path"`
	Completed time.Time `json:"completed"`
}

// jobSpec is job.json: what was submitted, and the state the job is in as
// far as a server starting again needs to know.
type jobSpec struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name,omitempty"`
	Submitted          time.Time  `json:"submitted"`
	Parallelism        int        `json:"parallelism"`
	CheckpointInterval string     `json:"checkpoint_interval"`
	State              State      `json:"state"`
	Restarts           int64      `json:"restarts"`
	LastError          string     `json:"last_error,omitempty"`
	LastErrorTime      *time.Time `json:"last_error_time,omitempty"`
	Savepoint          string     `json:"savepoint,omitempty"`
	// RestoreFrom is the chk-/sp- directory a restore chose, which the
	// job's processes start from until the job completes a checkpoint with
	// an ID above RestoreAbove (ops.go).
	RestoreFrom  string `json:"restore_from,omitempty"`
	RestoreAbove int64  `json:"restore_above,omitempty"`
	// Retain is the job's retention by time, a duration (`weir run
	// --retain`).
	Retain string `json:"retain,omitempty"`
	// Output is the isolated output the job runs (`weir run --output`),
	// and Group the jobs of its submission.
	Output string   `json:"output,omitempty"`
	Group  []string `json:"group,omitempty"`
}

// The files of a job's directory.
const (
	specFile     = "job.json"
	pipelineFile = "pipeline.yaml"
	lockFile     = "lock"
	logFile      = "job.log"
	socketFile   = "control.sock"
	checkpoints  = "checkpoints"
)

// idPattern is what a job ID looks like; a path parameter that does not
// match names no job, whatever it holds.
var idPattern = regexp.MustCompile(`^j[0-9a-f]{12}$`)

// namePattern is what a job's name may be: a label, not a path.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newJobID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "j" + hex.EncodeToString(b), nil
}

// job is a job the server knows: its spec and, while it is live, the
// supervisor's view of its process.
type job struct {
	dir string // DIR/jobs/<id>

	mu struct {
		sync.Mutex
		spec jobSpec
		pid  int
		proc *os.Process
		// want is what the API asked of a live job: stop (with a
		// savepoint) or cancel; empty for nothing.
		want State
	}
	// wake interrupts the supervisor's backoff when the API asks
	// something of the job.
	wake chan struct{}
	// done is closed when the supervisor has returned.
	done chan struct{}
}

func newJob(dir string, spec jobSpec) *job {
	j := &job{dir: dir, wake: make(chan struct{}, 1), done: make(chan struct{})}
	j.mu.spec = spec
	return j
}

func (j *job) id() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.spec.ID
}

func (j *job) path(name string) string { return filepath.Join(j.dir, name) }

// view returns what the API shows of j.
func (j *job) view() Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.mu.spec
	return Job{ID: s.ID, Name: s.Name, State: s.State, Submitted: s.Submitted, Parallelism: s.Parallelism,
		CheckpointInterval: s.CheckpointInterval, Restarts: s.Restarts, LastError: s.LastError,
		LastErrorTime: s.LastErrorTime, PID: j.mu.pid, Savepoint: s.Savepoint, Retain: s.Retain,
		Output: s.Output, Group: slices.Clone(s.Group)}
}

// update changes the spec with f under the lock and writes it.
func (j *job) update(f func(s *jobSpec)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.mu.spec)
	return j.saveLocked()
}

// saveLocked writes job.json atomically: a new file, synced, renamed over
// the old.
func (j *job) saveLocked() error {
	b, err := json.MarshalIndent(j.mu.spec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(j.path(specFile), append(b, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadSpec(dir string) (jobSpec, error) {
	var s jobSpec
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return s, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, specFile), err)
	}
	if !idPattern.MatchString(s.ID) || s.ID != filepath.Base(dir) {
		return s, fmt.Errorf("%s: id %q does not match its directory", filepath.Join(dir, specFile), s.ID)
	}
	return s, nil
}

// listCheckpoints lists the completed checkpoints and savepoints of dir:
// the chk-<id> and sp-<id> directories that hold a _metadata file, which
// the engine writes last, by a rename, when one completes.
func listCheckpoints(dir string) CheckpointInfo {
	info := CheckpointInfo{Dir: dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return info
	}
	var all []CheckpointFile
	for _, e := range entries {
		kind, num, ok := strings.Cut(e.Name(), "-")
		if !ok || !e.IsDir() || (kind != "chk" && kind != "sp") {
			continue
		}
		id, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name(), "_metadata"))
		if err != nil {
			continue
		}
		c := CheckpointFile{Kind: "checkpoint", ID: id, Path: filepath.Join(dir, e.Name()), Completed: fi.ModTime().UTC()}
		if kind == "sp" {
			c.Kind = "savepoint"
			info.Savepoints = append(info.Savepoints, c)
		}
		all = append(all, c)
	}
	info.Count = len(all)
	if len(all) > 0 {
		latest := slices.MaxFunc(all, func(a, b CheckpointFile) int {
			if c := cmp.Compare(a.ID, b.ID); c != 0 {
				return c
			}
			return a.Completed.Compare(b.Completed)
		})
		info.Latest = &latest
	}
	return info
}
