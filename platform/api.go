package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// APIError is the body of every error the API answers: a message saying
// what was wrong, and for a pipeline that is not valid, each of its
// mistakes with its line and column.
type APIError struct {
	Error   string          `json:"error"`
	Details []PipelineError `json:"details,omitempty"`
}

// PipelineError is one mistake in a submitted pipeline; Line and Col are
// zero when it has no position.
type PipelineError struct {
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

// SubmitRequest is the body of POST /api/v1/jobs.
type SubmitRequest struct {
	// Name labels the job (letters, digits, '.', '_', '-'; at most 64).
	Name string `json:"name,omitempty"`
	// Pipeline is the pipeline file's YAML (docs/pipelines.md).
	Pipeline string `json:"pipeline"`
	// Parallelism of the job's operators (default 1, at most 256).
	Parallelism int `json:"parallelism,omitempty"`
	// CheckpointInterval is a Go duration, from 100ms to 24h (default 10s).
	CheckpointInterval string `json:"checkpoint_interval,omitempty"`
	// Template names a built-in template (GET /api/v1/templates) to run
	// instead of Pipeline, with Params, its parameters by name (strings or
	// numbers).
	Template string         `json:"template,omitempty"`
	Params   map[string]any `json:"params,omitempty"`
	// Retain keeps every checkpoint completed within it, such as "7d" or
	// "36h", besides the newest 3, so the job can be rewound that far
	// (default: the server's --retain, else none).
	Retain string `json:"retain,omitempty"`
}

// SavepointResponse is the answer of POST /api/v1/jobs/{id}/savepoint.
type SavepointResponse struct {
	Path string `json:"path"`
}

// JobList is the answer of GET /api/v1/jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// maxParallelism bounds a submitted job's parallelism.
const maxParallelism = 256

// Handler returns the server's HTTP API:
//
//	GET  /healthz                         liveness, no token
//	GET  /metrics                         Prometheus text format, no token
//	GET  /api/v1/jobs                     list the jobs
//	POST /api/v1/jobs                     submit a pipeline (SubmitRequest)
//	GET  /api/v1/jobs/{id}                show a job, with its checkpoints
//	POST /api/v1/jobs/{id}/cancel         cancel it (its process is killed)
//	POST /api/v1/jobs/{id}/savepoint      take a savepoint; the job goes on
//	POST /api/v1/jobs/{id}/stop           stop it with a savepoint
//	GET  /api/v1/jobs/{id}/log            the tail of its log (text); ?older=k an older file
//	GET  /api/v1/alerts                   open and recently closed alerts
//	POST /api/v1/jobs/{id}/restore        a new run from a checkpoint or savepoint (RestoreRequest)
//	POST /api/v1/jobs/{id}/rescale        savepoint, then a new run at a new parallelism (RescaleRequest)
//	DELETE /api/v1/jobs/{id}              remove an ended job and its directory
//	POST /api/v1/jobs/{id}/rewind         rewind & restatement (RewindRequest)
//	GET  /api/v1/templates                the built-in job templates
//
// and the dashboard's routes (see dashboardRoutes). Every route but
// /healthz, /metrics, the dashboard's page and assets and its sign-in
// needs the header "Authorization: Bearer TOKEN", or the dashboard's
// session cookie (with its CSRF token on a request that changes
// something); a token in the query string is refused.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /api/v1/jobs", s.listJobs)
	mux.HandleFunc("POST /api/v1/jobs", s.submitJob)
	mux.HandleFunc("GET /api/v1/jobs/{id}", s.withJob(s.showJob))
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", s.withJob(s.cancelJob))
	mux.HandleFunc("POST /api/v1/jobs/{id}/savepoint", s.withJob(s.savepointJob))
	mux.HandleFunc("POST /api/v1/jobs/{id}/stop", s.withJob(s.stopJob))
	mux.HandleFunc("GET /api/v1/jobs/{id}/log", s.withJob(s.logJob))
	s.dashboardRoutes(mux)
	// Alerting (alerts.go).
	mux.HandleFunc("GET /api/v1/alerts", s.listAlerts)
	// Job operations (ops.go, rewind.go, templates.go).
	mux.HandleFunc("POST /api/v1/jobs/{id}/restore", s.withJob(s.restoreJob))
	mux.HandleFunc("POST /api/v1/jobs/{id}/rescale", s.withJob(s.rescaleJob))
	mux.HandleFunc("DELETE /api/v1/jobs/{id}", s.withJob(s.deleteJob))
	mux.HandleFunc("POST /api/v1/jobs/{id}/rewind", s.withJob(s.rewindJob))
	mux.HandleFunc("GET /api/v1/templates", s.listTemplates)
	return s.guard(mux)
}

// guard is what every request passes first: security headers, the token,
// and the bound on the body.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		// No Access-Control-* header is ever set: browsers keep other
		// origins' scripts from reading any answer, and a preflight fails.
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		q := r.URL.Query()
		for _, k := range []string{"token", "access_token", "api_key", "apikey", "auth", "authorization"} {
			if q.Has(k) {
				writeError(w, http.StatusBadRequest, "a token in the query string is refused: URLs end up in logs and browser history; send the header Authorization: Bearer TOKEN")
				return
			}
		}
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" || publicRoute(r) {
			next.ServeHTTP(w, r)
			return
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			// The dashboard's session cookie (session.go).
			if handled, ok := s.sessionAuth(w, r); handled {
				if ok {
					next.ServeHTTP(w, r)
				}
				return
			}
		}
		scheme, tok, ok := strings.Cut(auth, " ")
		if auth == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
			writeError(w, http.StatusUnauthorized, "missing token: send the header Authorization: Bearer TOKEN (the token is in the data directory's token file)")
			return
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || !tokenEqual(strings.TrimSpace(tok), s.token) && !tokenEqual(strings.TrimSpace(tok), s.admin) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="weir", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, APIError{Error: msg})
}

// decodeBody reads a JSON body into v: one object, no unknown field, no
// more than the body limit.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("the body must be JSON (Content-Type: application/json), not %q", ct))
		return false
	}
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil && d.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		if _, rerr := d.Token(); rerr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooLarge.Limit))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "the body is empty; want a JSON object")
	default:
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
	}
	return false
}

func (s *Server) withJob(h func(http.ResponseWriter, *http.Request, *job)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		j := s.job(id)
		if j == nil {
			// The ID is not echoed: it may be anything a client sent.
			writeError(w, http.StatusNotFound, "no such job (a job ID is 'j' and 12 hex digits)")
			return
		}
		h(w, r, j)
	}
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	l := JobList{Jobs: []Job{}}
	for _, j := range s.jobs() {
		l.Jobs = append(l.Jobs, j.view())
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) showJob(w http.ResponseWriter, r *http.Request, j *job) {
	v := j.view()
	c := listCheckpoints(j.path(checkpoints))
	v.Checkpoints = &c
	writeJSON(w, http.StatusOK, v)
}

// checkSubmit checks a submission, filling in its defaults, and returns
// its pipeline, or the status and error to answer.
func (s *Server) checkSubmit(req *SubmitRequest) (*pipeline.Pipeline, int, *APIError) {
	bad := func(format string, args ...any) (*pipeline.Pipeline, int, *APIError) {
		return nil, http.StatusBadRequest, &APIError{Error: fmt.Sprintf(format, args...)}
	}
	if req.Template != "" {
		if err := expandTemplate(req); err != nil {
			return bad("%v", err)
		}
	} else if len(req.Params) > 0 {
		return bad("params are a template's; give template too")
	}
	if req.Name != "" && !namePattern.MatchString(req.Name) {
		return bad("invalid name: want letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64")
	}
	if req.Parallelism == 0 {
		req.Parallelism = 1
	}
	if req.Parallelism < 1 || req.Parallelism > maxParallelism {
		return bad("invalid parallelism %d: want 1 to %d", req.Parallelism, maxParallelism)
	}
	if req.CheckpointInterval == "" {
		req.CheckpointInterval = "10s"
	}
	d, err := time.ParseDuration(req.CheckpointInterval)
	if err != nil || d < 100*time.Millisecond || d > 24*time.Hour {
		return bad("invalid checkpoint_interval %q: want a duration from 100ms to 24h, such as 10s", req.CheckpointInterval)
	}
	req.CheckpointInterval = d.String()
	if err := s.checkRetain(req); err != nil {
		return bad("%v", err)
	}
	if strings.TrimSpace(req.Pipeline) == "" {
		return bad("missing pipeline: the pipeline file's YAML")
	}
	p, err := pipeline.Parse(pipelineFile, []byte(req.Pipeline), pipeline.Options{LookupEnv: noEnv, ReadFile: s.conf.readFile})
	if err == nil {
		if errs := s.conf.checkPipeline(p); len(errs) > 0 {
			e := &APIError{Error: "the pipeline uses paths it may not"}
			for _, err := range errs {
				e.Details = append(e.Details, PipelineError{Message: err.Error()})
			}
			return nil, http.StatusUnprocessableEntity, e
		}
		return p, 0, nil
	}
	e := &APIError{Error: "the pipeline is not valid"}
	var perrs pipeline.Errors
	if errors.As(err, &perrs) {
		for _, pe := range perrs {
			e.Details = append(e.Details, PipelineError{Line: pe.Pos.Line, Col: pe.Pos.Col, Message: pe.Msg})
		}
	} else {
		e.Details = []PipelineError{{Message: err.Error()}}
	}
	return nil, http.StatusUnprocessableEntity, e
}

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) {
	var req SubmitRequest
	if !decodeBody(w, r, &req) {
		return
	}
	p, status, e := s.checkSubmit(&req)
	if e == nil {
		status, e = s.checkPrivileges(r, p)
	}
	if e != nil {
		writeJSON(w, status, e)
		return
	}
	s.makeCurrentLinks(p)
	// A pipeline whose route isolates its outputs is one job per output,
	// as Keystone runs one job per sink: each a process of its own, with
	// its own checkpoints, restarts and state (weir run --output).
	var outputs []string
	if p.Isolated() {
		for _, part := range p.Split() {
			outputs = append(outputs, part.Output)
		}
	}
	n := max(len(outputs), 1)
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down")
		return
	}
	if len(s.mu.jobs)+n > s.cfg.MaxJobs {
		s.mu.Unlock()
		msg := fmt.Sprintf("the server keeps at most %d jobs", s.cfg.MaxJobs)
		if n > 1 {
			msg += fmt.Sprintf("; the pipeline isolates its %d outputs, a job each, and %d are kept", n, len(s.mu.jobs))
		}
		writeError(w, http.StatusConflict, msg)
		return
	}
	s.mu.Unlock()
	ids := make([]string, n)
	for i := range ids {
		var err error
		if ids[i], err = newJobID(); err != nil {
			writeError(w, http.StatusInternalServerError, "cannot make a job ID: "+err.Error())
			return
		}
	}
	var first *job
	for i, id := range ids {
		var output string
		var group []string
		if outputs != nil {
			output, group = outputs[i], ids
		}
		j, err := s.createJob(id, req, output, group)
		if err != nil {
			s.log.Error("cannot create a job", "error", err)
			writeError(w, http.StatusInternalServerError, "cannot create the job's directory: "+err.Error())
			return
		}
		s.log.Info("job submitted", "job", j.id(), "name", req.Name, "output", output)
		if first == nil {
			first = j
		}
	}
	writeJSON(w, http.StatusCreated, first.view())
}

// createJob writes the job's directory and starts supervising it.
func (s *Server) createJob(id string, req SubmitRequest, output string, group []string) (*job, error) {
	dir := filepath.Join(s.root, jobsDir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, pipelineFile), []byte(req.Pipeline)); err != nil {
		return nil, err
	}
	spec := jobSpec{ID: id, Name: req.Name, Submitted: time.Now().UTC(), Parallelism: req.Parallelism,
		CheckpointInterval: req.CheckpointInterval, State: Running, Retain: req.Retain, Output: output, Group: group}
	j := newJob(dir, spec)
	j.mu.Lock()
	err := j.saveLocked()
	j.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		// Live in its spec: the next start runs it.
		return j, nil
	}
	s.mu.jobs[id] = j
	s.startSupervisor(j)
	return j, nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, j *job) {
	j.mu.Lock()
	if !j.mu.spec.State.Live() {
		st := j.mu.spec.State
		j.mu.Unlock()
		writeError(w, http.StatusConflict, fmt.Sprintf("the job is %s, not running", st))
		return
	}
	j.mu.want = Canceled
	if j.mu.proc != nil {
		_ = j.mu.proc.Kill()
	}
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	if !waitDone(r.Context(), j) {
		writeError(w, http.StatusGatewayTimeout, "the job is being canceled; it has not ended yet")
		return
	}
	writeJSON(w, http.StatusOK, j.view())
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request, j *job) {
	v, status, err := s.stop(r.Context(), j)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// stop stops a running job with a savepoint and returns it once it has
// stopped, or the status and error to answer.
func (s *Server) stop(ctx context.Context, j *job) (Job, int, error) {
	j.mu.Lock()
	st := j.mu.spec.State
	if st != Running || j.mu.want != "" {
		j.mu.Unlock()
		if st == Restarting {
			return Job{}, http.StatusConflict, errors.New("the job is restarting after a failure: there is no running process to take a savepoint of; cancel it, or wait until it runs")
		}
		return Job{}, http.StatusConflict, fmt.Errorf("the job is %s, not running", st)
	}
	j.mu.want = Stopping
	j.mu.spec.State = Stopping
	_ = j.saveLocked()
	if j.mu.proc != nil {
		_ = j.mu.proc.Signal(syscall.SIGTERM)
	}
	j.mu.Unlock()
	if !waitDone(ctx, j) {
		return Job{}, http.StatusGatewayTimeout, errors.New("the job is stopping; it has not ended yet (see its state)")
	}
	v := j.view()
	if v.State != Stopped {
		return Job{}, http.StatusConflict, fmt.Errorf("the job did not stop with a savepoint: it is %s: %s", v.State, v.LastError)
	}
	return v, 0, nil
}

// waitDone waits for the job's supervisor to return, or for a restart,
// which ends a stop that failed; false when ctx ended first.
func waitDone(ctx context.Context, j *job) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
			if j.view().State == Restarting {
				return true
			}
		}
	}
}

func (s *Server) savepointJob(w http.ResponseWriter, r *http.Request, j *job) {
	v := j.view()
	if v.State != Running || v.PID == 0 {
		writeError(w, http.StatusConflict, fmt.Sprintf("the job is %s; a savepoint needs its process running", v.State))
		return
	}
	path, err := controlSavepoint(r.Context(), j.path(socketFile))
	// A process that has just started may not have opened its socket, or
	// started its job, yet: wait for it while it is the same process.
	for deadline := time.Now().Add(time.Minute); err != nil && notReady(err) && time.Now().Before(deadline); {
		select {
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond):
		}
		if r.Context().Err() != nil || j.view().PID != v.PID {
			break
		}
		path, err = controlSavepoint(r.Context(), j.path(socketFile))
	}
	if err != nil {
		writeError(w, http.StatusConflict, "savepoint failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, SavepointResponse{Path: path})
}

// notReady tells a savepoint refused because the job's process is not
// ready for it yet from one that failed.
func notReady(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), weir.ErrNotRunning.Error())
}

// maxLogTail is how much of a job's log GET …/log answers.
const maxLogTail = 64 << 10
