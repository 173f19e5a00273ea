package platform

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir/pipeline"
	"github.com/weirstream/weir/platform/jobcontrol"
)

// The dashboard is a page and its assets, built from platform/ui by `make
// ui` into platform/ui/dist and compiled into the binary, and the API
// routes it reads besides the jobs' own:
//
//	GET    /                                the page, no token
//	GET    /ui/{file}                       its assets, no token
//	POST   /api/v1/session                  sign in with the token (SignInRequest)
//	GET    /api/v1/session                  the session's CSRF token
//	DELETE /api/v1/session                  sign out
//	GET    /api/v1/stats                    every job's latest rate and lag (Stats)
//	GET    /api/v1/jobs/{id}/graph          its operators and edges, with their figures (GraphView)
//	GET    /api/v1/jobs/{id}/history        its last hour of figures and recent checkpoints (HistoryView)
//	GET    /api/v1/jobs/{id}/deadletters    its latest dead letters (DeadLetters)
//
// The page asks for GET /api/v1/alerts too, and shows an empty panel when
// the server has no such route.

//go:embed ui/dist
var uiDist embed.FS

// uiAsset is one file of the dashboard, with its gzipped form.
type uiAsset struct {
	body, gz []byte
	ctype    string
	etag     string
}

var (
	uiOnce   sync.Once
	uiAssets map[string]*uiAsset
)

// loadUI reads the embedded assets and gzips them, once.
func loadUI() map[string]*uiAsset {
	uiOnce.Do(func() {
		uiAssets = map[string]*uiAsset{}
		dist, _ := fs.Sub(uiDist, "ui/dist")
		_ = fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(dist, p)
			if err != nil {
				return err
			}
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			sum := sha256.Sum256(b)
			ct := mime.TypeByExtension(path.Ext(p))
			if ct == "" {
				ct = "application/octet-stream"
			}
			uiAssets[p] = &uiAsset{body: b, gz: gz.Bytes(), ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
			return nil
		})
	})
	return uiAssets
}

// dashboardCSP lets the page load its own scripts and styles and call its
// own origin, and nothing else.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// publicRoute reports whether r is for the dashboard's page, its assets
// or its sign-in, which need no token.
func publicRoute(r *http.Request) bool {
	switch {
	case safeMethod(r.Method) && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/ui/")):
		return true
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/session":
		return true
	}
	return false
}

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serveAsset(w, r, "index.html") })
	mux.HandleFunc("GET /ui/{file}", func(w http.ResponseWriter, r *http.Request) {
		f := r.PathValue("file")
		if f == "index.html" || f == "manifest.json" {
			http.NotFound(w, r)
			return
		}
		serveAsset(w, r, f)
	})
	mux.HandleFunc("POST /api/v1/session", s.signIn)
	mux.HandleFunc("GET /api/v1/session", s.showSession)
	mux.HandleFunc("DELETE /api/v1/session", s.signOut)
	mux.HandleFunc("GET /api/v1/stats", s.stats)
	mux.HandleFunc("GET /api/v1/jobs/{id}/graph", s.withJob(s.graphJob))
	mux.HandleFunc("GET /api/v1/jobs/{id}/history", s.withJob(s.historyJob))
	mux.HandleFunc("GET /api/v1/jobs/{id}/deadletters", s.withJob(s.deadLettersJob))
}

// serveAsset answers one embedded file, gzipped when the client takes it.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a := loadUI()[name]
	if a == nil {
		writeError(w, http.StatusNotFound, "no such file of the dashboard")
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// JobStats are a job's latest figures in Stats.
type JobStats struct {
	Time             time.Time `json:"t"`
	RecordsPerSecond float64   `json:"records_per_second"`
	LagSeconds       float64   `json:"lag_seconds"`
}

// Stats is the answer of GET /api/v1/stats: the latest figures of every
// job that has any, by job ID.
type Stats struct {
	Jobs map[string]JobStats `json:"jobs"`
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st := Stats{Jobs: map[string]JobStats{}}
	for _, j := range s.jobs() {
		v := j.view()
		if smp, ok := s.hist.latest(v.ID); ok && v.PID != 0 {
			st.Jobs[v.ID] = JobStats{Time: smp.Time, RecordsPerSecond: smp.RecordsPerSecond, LagSeconds: smp.LagSeconds}
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// GraphOperator is an operator of GraphView: its place in the graph and
// its latest figures.
type GraphOperator struct {
	jobcontrol.GraphOperator
	OperatorStats
}

// GraphView is the answer of GET /api/v1/jobs/{id}/graph: the graph of
// the job's current (or last) process, with each operator's figures over
// the latest sampling interval. Operators and Edges are empty until the
// server has sampled a process of the job.
type GraphView struct {
	Running   bool                   `json:"running"`
	Operators []GraphOperator        `json:"operators"`
	Edges     []jobcontrol.GraphEdge `json:"edges"`
}

func (s *Server) graphJob(w http.ResponseWriter, r *http.Request, j *job) {
	v := j.view()
	g, ops, _ := s.hist.current(v.ID)
	gv := GraphView{Running: v.PID != 0, Operators: []GraphOperator{}, Edges: []jobcontrol.GraphEdge{}}
	if g != nil {
		for _, o := range g.Operators {
			gv.Operators = append(gv.Operators, GraphOperator{GraphOperator: o, OperatorStats: ops[o.ID]})
		}
		gv.Edges = g.Edges
	}
	writeJSON(w, http.StatusOK, gv)
}

// HistoryView is the answer of GET /api/v1/jobs/{id}/history: the job's
// samples of the last hour, oldest first — with the ranges the
// learned-normal alert rules expected for them (Sample.Expected) — and the
// recent checkpoints and savepoints of its current process, with their
// sizes and durations.
type HistoryView struct {
	IntervalSeconds float64                 `json:"interval_seconds"`
	Samples         []Sample                `json:"samples"`
	Checkpoints     []jobcontrol.Checkpoint `json:"checkpoints"`
}

func (s *Server) historyJob(w http.ResponseWriter, r *http.Request, j *job) {
	id := j.id()
	_, _, ckpts := s.hist.current(id)
	if ckpts == nil {
		ckpts = []jobcontrol.Checkpoint{}
	}
	samples := s.hist.samples(id)
	s.alerts.fillExpected(id, samples)
	writeJSON(w, http.StatusOK, HistoryView{IntervalSeconds: s.hist.interval.Seconds(), Samples: samples, Checkpoints: ckpts})
}

// DeadLetter is one dead letter of DeadLetters: the fields of a line of
// the dead-letter output (docs/dead-letters.md), the record cut to
// maxDeadRecord bytes of its JSON.
type DeadLetter struct {
	Time     time.Time       `json:"time"`
	Operator string          `json:"operator"`
	Subtask  int             `json:"subtask"`
	Source   string          `json:"source,omitempty"`
	Offset   *int64          `json:"offset,omitempty"`
	Line     *int64          `json:"line,omitempty"`
	Error    string          `json:"error"`
	Record   json.RawMessage `json:"record,omitempty"`
	File     string          `json:"file"`
}

// DeadLetters is the answer of GET /api/v1/jobs/{id}/deadletters: the
// latest committed dead letters of the job's dead-letter output, newest
// first; Dir is empty when its pipeline has none.
type DeadLetters struct {
	Dir     string       `json:"dir,omitempty"`
	Letters []DeadLetter `json:"letters"`
}

// The bounds of a dead-letter answer: letters, bytes read per file, files
// read, and the bytes of a record's JSON shown.
const (
	maxDeadLetters = 100
	maxDeadTail    = 256 << 10
	maxDeadFiles   = 16
	maxDeadRecord  = 2 << 10
)

func (s *Server) deadLettersJob(w http.ResponseWriter, r *http.Request, j *job) {
	out := DeadLetters{Letters: []DeadLetter{}}
	b, err := os.ReadFile(j.path(pipelineFile))
	if err != nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	p, err := pipeline.Parse(pipelineFile, b, pipeline.Options{LookupEnv: noEnv, ReadFile: s.conf.readFile})
	if err != nil || p.DeadLetter == nil || s.conf.check("dead_letter", p.DeadLetter.Path) != nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	dir := p.DeadLetter.Path
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.root, dir)
	}
	out.Dir = dir
	entries, _ := os.ReadDir(dir)
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		// Hidden files are not committed yet.
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "part-") || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			files = append(files, file{e.Name(), fi.ModTime()})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return b.mod.Compare(a.mod) })
	for i, f := range files {
		if i == maxDeadFiles || len(out.Letters) >= maxDeadLetters {
			break
		}
		var letters []DeadLetter
		sc := bufio.NewScanner(bytes.NewReader(tailOf(filepath.Join(dir, f.name), maxDeadTail)))
		sc.Buffer(nil, maxDeadTail)
		for sc.Scan() {
			var l DeadLetter
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			if len(l.Record) > maxDeadRecord {
				l.Record, _ = json.Marshal(string(l.Record[:maxDeadRecord]) + "…")
			}
			l.File = f.name
			letters = append(letters, l)
		}
		slices.Reverse(letters)
		out.Letters = append(out.Letters, letters[:min(len(letters), maxDeadLetters-len(out.Letters))]...)
	}
	writeJSON(w, http.StatusOK, out)
}
