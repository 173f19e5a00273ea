package platform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Config configures a Server. Dir and Executable are required; a zero
// field of the rest takes its default.
type Config struct {
	// Dir is the data directory: the token, and every job's pipeline,
	// checkpoints and log. It is made (mode 0700) when it does not exist.
	Dir string
	// Executable is the weir binary the jobs run in (`weir run`); `weir
	// serve` passes its own.
	Executable string
	// Restart says how a failing job is restarted.
	Restart RestartPolicy
	// ShutdownGrace is how long Close waits for the jobs to stop with a
	// savepoint before it kills them (default 30s).
	ShutdownGrace time.Duration
	// MaxBodyBytes bounds a request's body (default 2 MiB: a pipeline file
	// may hold 1 MiB, and JSON escaping can double it).
	MaxBodyBytes int64
	// MaxJobs bounds the jobs the server keeps, finished ones included
	// (default 100).
	MaxJobs int
	// ScrapeTimeout bounds how long /metrics waits for one job's figures
	// (default 2s).
	ScrapeTimeout time.Duration
	// JobEnv is the environment of the job processes, "KEY=value" each;
	// empty by default, so a pipeline's ${env:…} resolves alike in the
	// server's check and in the job.
	JobEnv []string
	// HistoryInterval is how often the server samples each running job's
	// figures for the dashboard's charts (default 5s); it keeps an hour of
	// them (HistoryWindow).
	HistoryInterval time.Duration
	// SessionLifetime is how long a dashboard's sign-in lasts (default
	// 12h).
	SessionLifetime time.Duration
	// Retain is the retention by time of the jobs submitted without their
	// own (SubmitRequest.Retain): every checkpoint completed within it is
	// kept, so a job can be rewound that far. 0 keeps the newest 3 only.
	Retain time.Duration
	// EnrichAllow lists the URL prefixes (scheme://host[:port][/path]) a
	// submitted pipeline's HTTP enrich steps may look up; empty allows
	// none. The admin token lifts it.
	EnrichAllow []string
	// LogMaxBytes is the size past which a job's log, job.log, is moved to
	// job.log.1 (default 8 MiB); LogFiles is how many such older files are
	// kept, job.log.1 to job.log.<LogFiles> (default 3; -1 keeps none).
	LogMaxBytes int64
	LogFiles    int
	// Logger receives the server's events; nil logs nothing.
	Logger *slog.Logger
	// Alerting is the alert rules and their deliveries (ParseConfig);
	// nil is DefaultAlerting: the built-in rules, to the log.
	Alerting *Alerting
}

// RestartPolicy says how a job whose process fails is restarted: after
// InitialBackoff, doubling with each failure in the window up to
// MaxBackoff; a job that fails more than MaxFailures times within Window is
// failed instead. A zero field takes its default.
type RestartPolicy struct {
	InitialBackoff time.Duration // default 1s
	MaxBackoff     time.Duration // default 1 minute
	MaxFailures    int           // default 5
	Window         time.Duration // default 10 minutes
}

func (c *Config) defaults() {
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = defaultLogMaxBytes
	}
	switch {
	case c.LogFiles == 0:
		c.LogFiles = defaultLogFiles
	case c.LogFiles < 0:
		c.LogFiles = 0
	case c.LogFiles > maxLogFiles:
		c.LogFiles = maxLogFiles
	}
	r := &c.Restart
	if r.InitialBackoff <= 0 {
		r.InitialBackoff = time.Second
	}
	if r.MaxBackoff < r.InitialBackoff {
		r.MaxBackoff = max(time.Minute, r.InitialBackoff)
	}
	if r.MaxFailures <= 0 {
		r.MaxFailures = 5
	}
	if r.Window <= 0 {
		r.Window = 10 * time.Minute
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 2 << 20
	}
	if c.MaxJobs <= 0 {
		c.MaxJobs = 100
	}
	if c.ScrapeTimeout <= 0 {
		c.ScrapeTimeout = 2 * time.Second
	}
	if c.HistoryInterval <= 0 {
		c.HistoryInterval = 5 * time.Second
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 12 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// The server's own entries in the data directory.
const (
	serverLockFile = "server.lock"
	jobsDir        = "jobs"
)

// Server runs and supervises the jobs of one data directory and answers
// the API (Handler). Open starts it; Close stops it.
type Server struct {
	cfg      Config
	root     string
	token    string
	newToken bool
	// admin is the admin token (admin.go), newAdmin whether Open made it.
	admin    string
	newAdmin bool
	lock     *os.File
	conf     confiner
	log      *slog.Logger
	started  time.Time
	// hist and sessions are the dashboard's (history.go, session.go).
	hist     *history
	sessions *sessions

	// ctx is canceled by Close: the supervisors then stop their jobs'
	// processes, leaving the jobs live for the next start.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// alerts evaluates the alert rules; see alerts.go.
	alerts *alerter

	mu struct {
		sync.Mutex
		jobs   map[string]*job
		closed bool
	}
}

// Open opens the data directory — making it and the token on first start,
// and taking its lock, so that one server at a time uses it — and resumes
// every job that was live when the last server stopped, from its latest
// checkpoint.
func Open(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Dir == "" {
		return nil, errors.New("platform: no data directory")
	}
	if cfg.Executable == "" {
		return nil, errors.New("platform: no executable to run the jobs in")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(root)
	switch {
	case err != nil:
		return nil, fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("data directory %s is not a directory", root)
	case fi.Mode().Perm()&0o022 != 0:
		return nil, fmt.Errorf("data directory %s has mode %v: others may write in it; chmod 700 %s", root, fi.Mode().Perm(), root)
	}
	lock, err := os.OpenFile(filepath.Join(root, serverLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another weir serve (%s is locked)", root, filepath.Join(root, serverLockFile))
		}
		return nil, fmt.Errorf("data directory: lock %s: %w", serverLockFile, err)
	}
	s := &Server{cfg: cfg, root: root, lock: lock, conf: confiner{root: root}, log: cfg.Logger, started: time.Now(),
		hist: newHistory(cfg.HistoryInterval), sessions: newSessions(cfg.SessionLifetime)}
	s.mu.jobs = map[string]*job{}
	fail := func(err error) (*Server, error) {
		lock.Close()
		return nil, err
	}
	if s.token, s.newToken, err = loadOrCreateToken(root); err != nil {
		return fail(err)
	}
	if s.admin, s.newAdmin, err = loadOrCreateTokenAt(filepath.Join(root, adminTokenFile)); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(root, jobsDir), 0o700); err != nil {
		return fail(fmt.Errorf("data directory: %w", err))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.loadJobs(); err != nil {
		s.cancel()
		return fail(err)
	}
	s.wg.Go(func() { s.sampleLoop(s.ctx) })
	if err := s.startAlerts(); err != nil {
		s.cancel()
		s.wg.Wait()
		return fail(err)
	}
	return s, nil
}

// NewToken returns the API token when Open made it, for the one time it is
// shown; ok is false when the token already existed.
func (s *Server) NewToken() (token string, ok bool) {
	if !s.newToken {
		return "", false
	}
	return s.token, true
}

// Dir returns the data directory, absolute, its links resolved.
func (s *Server) Dir() string { return s.root }

// loadJobs reads every job's directory and supervises the live ones.
func (s *Server) loadJobs() error {
	entries, err := os.ReadDir(filepath.Join(s.root, jobsDir))
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !idPattern.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(s.root, jobsDir, e.Name())
		spec, err := loadSpec(dir)
		if errors.Is(err, fs.ErrNotExist) {
			// A submission that did not get as far as its spec.
			continue
		}
		if err != nil {
			return fmt.Errorf("job %s: %w", e.Name(), err)
		}
		j := newJob(dir, spec)
		s.mu.jobs[spec.ID] = j
		if spec.State.Live() {
			if spec.State == Stopping {
				// The stop did not finish before the server went away:
				// the job runs on.
				_ = j.update(func(s *jobSpec) { s.State = Running })
			}
			s.log.Info("resuming job", "job", spec.ID, "name", spec.Name)
			s.startSupervisor(j)
		} else {
			close(j.done)
		}
	}
	return nil
}

func (s *Server) startSupervisor(j *job) {
	s.wg.Go(func() { s.supervise(s.ctx, j) })
}

// jobs returns the jobs sorted by submission.
func (s *Server) jobs() []*job {
	s.mu.Lock()
	js := make([]*job, 0, len(s.mu.jobs))
	for _, j := range s.mu.jobs {
		js = append(js, j)
	}
	s.mu.Unlock()
	slices.SortFunc(js, func(a, b *job) int {
		va, vb := a.view(), b.view()
		if c := va.Submitted.Compare(vb.Submitted); c != 0 {
			return c
		}
		return cmpString(va.ID, vb.ID)
	})
	return js
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Server) job(id string) *job {
	if !idPattern.MatchString(id) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.jobs[id]
}

// Close stops supervising: each running job is asked to stop with a
// savepoint (SIGTERM) and killed after ShutdownGrace; the jobs stay live in
// their specs, so the next Open resumes them. It then releases the data
// directory.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return s.lock.Close()
}
