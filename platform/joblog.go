package platform

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// A job's log is what its process prints on its standard output and error,
// with the server's lines about starting it. The process writes to a pipe,
// not to the file: the server copies what it reads into job.log and, when
// job.log has grown past Config.LogMaxBytes, moves it to job.log.1 (and
// job.log.1 to job.log.2, …, keeping Config.LogFiles old files) at the end
// of a line, so a job that logs without end fills at most
// (LogFiles+1)·LogMaxBytes (a line longer than LogMaxBytes is kept whole).

// Defaults of a job's log.
const (
	defaultLogMaxBytes = 8 << 20
	defaultLogFiles    = 3
	// maxLogFiles bounds Config.LogFiles.
	maxLogFiles = 100
)

// jobLog is a job's log file, rotated by size. Its writes come from the
// goroutines os/exec copies the process's output with: one for standard
// output and one for standard error, hence the lock.
type jobLog struct {
	path  string
	max   int64
	files int
	mu    struct {
		sync.Mutex
		f    *os.File
		size int64
		err  error
	}
}

// openJobLog opens the log at path for appending.
func openJobLog(path string, maxBytes int64, files int) (*jobLog, error) {
	l := &jobLog{path: path, max: maxBytes, files: files}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	l.mu.f, l.mu.size = f, fi.Size()
	return l, nil
}

// Write implements io.Writer. Once the file is past its size, the next
// write that ends a line is split there: its first part ends the old file,
// the rest starts the new one.
func (l *jobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.err != nil {
		return 0, l.mu.err
	}
	n := len(p)
	if l.mu.size+int64(len(p)) > l.max {
		if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
			if err := l.writeLocked(p[:i+1]); err != nil {
				return 0, err
			}
			if err := l.rotateLocked(); err != nil {
				l.mu.err = fmt.Errorf("rotate %s: %w", l.path, err)
				return 0, l.mu.err
			}
			p = p[i+1:]
		}
	}
	if err := l.writeLocked(p); err != nil {
		return 0, err
	}
	return n, nil
}

func (l *jobLog) writeLocked(p []byte) error {
	n, err := l.mu.f.Write(p)
	l.mu.size += int64(n)
	return err
}

// rotateLocked moves job.log.k to job.log.k+1 (the oldest one falls off),
// job.log to job.log.1, and starts an empty job.log.
func (l *jobLog) rotateLocked() error {
	if err := l.mu.f.Close(); err != nil {
		return err
	}
	if l.files > 0 {
		_ = os.Remove(olderLog(l.path, l.files))
	}
	for k := l.files - 1; k >= 1; k-- {
		if err := os.Rename(olderLog(l.path, k), olderLog(l.path, k+1)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if l.files > 0 {
		if err := os.Rename(l.path, olderLog(l.path, 1)); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	l.mu.f, l.mu.size = f, 0
	return nil
}

// Close closes the file.
func (l *jobLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.f.Close()
}

// olderLog is the path of the k-th older log of path: path.k.
func olderLog(path string, k int) string { return path + "." + strconv.Itoa(k) }

// logTail returns up to n bytes of the end of the job's log, from the
// start of a line: the end of job.log, preceded by the end of job.log.1
// when job.log holds less than n (just after a rotation).
func logTail(path string, n int64) []byte {
	cur := tailOf(path, n)
	if int64(len(cur)) >= n {
		return cur
	}
	prev := tailOf(olderLog(path, 1), n-int64(len(cur)))
	return append(prev, cur...)
}

// logJob answers GET /api/v1/jobs/{id}/log: the tail of the log, or with
// ?older=k the whole older file job.log.k (1 is the newest of them).
func (s *Server) logJob(w http.ResponseWriter, r *http.Request, j *job) {
	older := r.URL.Query().Get("older")
	if older == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(logTail(j.path(logFile), maxLogTail))
		return
	}
	k, err := strconv.Atoi(older)
	if err != nil || k < 1 || k > s.cfg.LogFiles {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid older %q: want 1 to %d, the number of an older log file (job.log.1 is the newest)", older, s.cfg.LogFiles))
		return
	}
	f, err := os.Open(olderLog(j.path(logFile), k))
	if os.IsNotExist(err) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("the job has no older log %d (yet)", k))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot read the log: "+err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.Copy(w, f)
}
