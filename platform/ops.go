package platform

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The job operations beyond submit, stop and cancel: restore a job from one
// of its checkpoints or savepoints, rescale it, delete an ended one.
//
// A restore is a new run of the same job (its ID, directory and pipeline),
// as Flink's `run -s` is a new run from a savepoint: the job's next process
// starts from the chosen snapshot; its checkpoints go on in the same
// directory with higher IDs. Until the new run has completed a checkpoint of
// its own, a restart after a failure starts from the chosen snapshot again,
// not from the newest one of the run before (jobSpec.RestoreFrom).

// RestoreRequest is the body of POST /api/v1/jobs/{id}/restore.
type RestoreRequest struct {
	// From names the checkpoint or savepoint in the job's checkpoint
	// directory: "chk-<id>" or "sp-<id>", or "latest" (the default) for
	// the newest. It is a name, not a path: nothing outside the job's
	// directory can be named.
	From string `json:"from,omitempty"`
	// Parallelism, when not zero, is the new run's parallelism.
	Parallelism int `json:"parallelism,omitempty"`
}

// RescaleRequest is the body of POST /api/v1/jobs/{id}/rescale.
type RescaleRequest struct {
	Parallelism int `json:"parallelism"`
}

// snapshotPattern is what RestoreRequest.From may be, besides "latest".
var snapshotPattern = regexp.MustCompile(`^(chk|sp)-[0-9]{1,19}$`)

// findSnapshot returns the completed checkpoint or savepoint of dir that
// from names, or an error to answer with status 400 or 404.
func findSnapshot(dir, from string) (CheckpointFile, int, error) {
	l := listCheckpoints(dir)
	if from == "" || from == "latest" {
		if l.Latest == nil {
			return CheckpointFile{}, http.StatusConflict, fmt.Errorf("the job has no completed checkpoint or savepoint to restore")
		}
		return *l.Latest, 0, nil
	}
	if !snapshotPattern.MatchString(from) {
		return CheckpointFile{}, http.StatusBadRequest, fmt.Errorf("invalid from: want latest, chk-<id> or sp-<id> (a name in the job's checkpoint directory, not a path)")
	}
	kind, num, _ := strings.Cut(from, "-")
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return CheckpointFile{}, http.StatusBadRequest, fmt.Errorf("invalid from %q: the ID is too large", from)
	}
	for _, c := range checkpointsOf(dir) {
		if c.ID == id && (kind == "sp") == (c.Kind == "savepoint") {
			return c, 0, nil
		}
	}
	return CheckpointFile{}, http.StatusNotFound, fmt.Errorf("the job has no completed %s %d (see its checkpoints in GET /api/v1/jobs/{id})", map[string]string{"chk": "checkpoint", "sp": "savepoint"}[kind], id)
}

// checkpointsOf lists every completed checkpoint and savepoint of dir.
func checkpointsOf(dir string) []CheckpointFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var all []CheckpointFile
	for _, e := range entries {
		if !e.IsDir() || !snapshotPattern.MatchString(e.Name()) {
			continue
		}
		kind, num, _ := strings.Cut(e.Name(), "-")
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
		}
		all = append(all, c)
	}
	return all
}

// highestID is the highest checkpoint or savepoint ID in dir, complete or
// not: the new run's checkpoints have higher ones.
func highestID(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var h int64
	for _, e := range entries {
		if !snapshotPattern.MatchString(e.Name()) {
			continue
		}
		_, num, _ := strings.Cut(e.Name(), "-")
		if id, err := strconv.ParseInt(num, 10, 64); err == nil {
			h = max(h, id)
		}
	}
	return h
}

// restoreArgs is the --restore of the job's next process: the snapshot a
// restore chose until the new run has a checkpoint of its own, else the
// newest one, else none.
func restoreArgs(j *job) []string {
	j.mu.Lock()
	from, above := j.mu.spec.RestoreFrom, j.mu.spec.RestoreAbove
	j.mu.Unlock()
	l := listCheckpoints(j.path(checkpoints))
	if from != "" && (l.Latest == nil || l.Latest.ID <= above) {
		return []string{"--restore", j.path(filepath.Join(checkpoints, from))}
	}
	if l.Latest != nil {
		return []string{"--restore", "latest"}
	}
	return nil
}

// rerun starts a new run of the ended job old, with its spec changed by f:
// a new job value takes old's place, so that whoever still holds old sees
// it ended. It fails with 409 when old is live or was replaced meanwhile.
func (s *Server) rerun(old *job, f func(spec *jobSpec)) (*job, int, error) {
	v := old.view()
	if v.State.Live() {
		return nil, http.StatusConflict, fmt.Errorf("the job is %s: stop or cancel it first", v.State)
	}
	<-old.done
	old.mu.Lock()
	spec := old.mu.spec
	old.mu.Unlock()
	spec.State = Running
	spec.Savepoint = ""
	f(&spec)
	j := newJob(old.dir, spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mu.closed:
		return nil, http.StatusServiceUnavailable, fmt.Errorf("the server is shutting down")
	case s.mu.jobs[spec.ID] != old:
		return nil, http.StatusConflict, fmt.Errorf("the job was changed by another request meanwhile; try again")
	}
	j.mu.Lock()
	err := j.saveLocked()
	j.mu.Unlock()
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("cannot write the job's state: %v", err)
	}
	s.mu.jobs[spec.ID] = j
	s.startSupervisor(j)
	return j, 0, nil
}

// restoreFrom starts a new run of the ended job j from the snapshot c, at
// parallelism p (0: as before).
func (s *Server) restoreFrom(j *job, c CheckpointFile, p int) (*job, int, error) {
	above := highestID(j.path(checkpoints))
	return s.rerun(j, func(spec *jobSpec) {
		spec.RestoreFrom = filepath.Base(c.Path)
		spec.RestoreAbove = above
		if p > 0 {
			spec.Parallelism = p
		}
	})
}

func checkParallelism(p int, zeroOK bool) error {
	if (p == 0 && zeroOK) || (p >= 1 && p <= maxParallelism) {
		return nil
	}
	return fmt.Errorf("invalid parallelism %d: want 1 to %d", p, maxParallelism)
}

func (s *Server) restoreJob(w http.ResponseWriter, r *http.Request, j *job) {
	var req RestoreRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if err := checkParallelism(req.Parallelism, true); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if st := j.view().State; st.Live() {
		writeError(w, http.StatusConflict, fmt.Sprintf("the job is %s: stop or cancel it before restoring it", st))
		return
	}
	c, status, err := findSnapshot(j.path(checkpoints), req.From)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	nj, status, err := s.restoreFrom(j, c, req.Parallelism)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	s.log.Info("job restored", "job", nj.id(), "from", c.Path)
	writeJSON(w, http.StatusOK, nj.view())
}

// rescaleJob stops a running job with a savepoint and starts it again from
// that savepoint at the new parallelism; a stopped job starts from the
// savepoint it stopped with.
func (s *Server) rescaleJob(w http.ResponseWriter, r *http.Request, j *job) {
	var req RescaleRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if err := checkParallelism(req.Parallelism, false); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v := j.view()
	switch v.State {
	case Running:
		var status int
		var err error
		if v, status, err = s.stop(r.Context(), j); err != nil {
			writeError(w, status, "rescale: "+err.Error())
			return
		}
	case Stopped:
	default:
		writeError(w, http.StatusConflict, fmt.Sprintf("the job is %s; a rescale needs it running (or stopped with a savepoint)", v.State))
		return
	}
	if v.Savepoint == "" {
		writeError(w, http.StatusConflict, "the job stopped without a savepoint to rescale from")
		return
	}
	c, status, err := findSnapshot(j.path(checkpoints), filepath.Base(v.Savepoint))
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	nj, status, err := s.restoreFrom(j, c, req.Parallelism)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	s.log.Info("job rescaled", "job", nj.id(), "parallelism", req.Parallelism, "from", c.Path)
	writeJSON(w, http.StatusOK, nj.view())
}

// deleteJob removes an ended job and its directory.
func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request, j *job) {
	v := j.view()
	if v.State.Live() {
		writeError(w, http.StatusConflict, fmt.Sprintf("the job is %s: stop or cancel it before deleting it", v.State))
		return
	}
	<-j.done
	s.mu.Lock()
	if s.mu.jobs[v.ID] != j {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "the job was changed by another request meanwhile; try again")
		return
	}
	delete(s.mu.jobs, v.ID)
	s.mu.Unlock()
	// The directory is renamed first, so that a crash halfway through the
	// removal leaves no job directory that a server would load.
	trash := filepath.Join(s.root, jobsDir, ".deleted-"+v.ID)
	if err := os.Rename(j.dir, trash); err != nil {
		s.mu.Lock()
		s.mu.jobs[v.ID] = j
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "cannot remove the job's directory: "+err.Error())
		return
	}
	if err := os.RemoveAll(trash); err != nil {
		s.log.Error("cannot remove a deleted job's directory", "job", v.ID, "path", trash, "error", err)
	}
	s.log.Info("job deleted", "job", v.ID)
	w.WriteHeader(http.StatusNoContent)
}

// maxRetain bounds a job's retention by time.
const maxRetain = 366 * 24 * time.Hour

// ParseRetain reads a retention: a Go duration, or whole days ("7d").
func ParseRetain(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && !strings.ContainsAny(n, "hmsuµn") {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid retain %q: want a number of days such as 7d, or a duration such as 36h", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid retain %q: want a number of days such as 7d, or a duration such as 36h", s)
	}
	return d, nil
}

// checkRetain checks a submission's retention, or gives it the server's,
// and writes it as the Go duration `weir run --retain` reads.
func (s *Server) checkRetain(req *SubmitRequest) error {
	d := s.cfg.Retain
	if req.Retain != "" {
		var err error
		if d, err = ParseRetain(req.Retain); err != nil {
			return err
		}
	}
	if d < 0 || d > maxRetain {
		return fmt.Errorf("invalid retain %q: want 0 to 366d", req.Retain)
	}
	req.Retain = ""
	if d > 0 {
		req.Retain = d.String()
	}
	return nil
}
