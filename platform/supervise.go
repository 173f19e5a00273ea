package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// supervise runs j until it reaches a final state or ctx is canceled (the
// server closing), restarting its process when it fails.
func (s *Server) supervise(ctx context.Context, j *job) {
	defer close(j.done)
	lock, err := s.lockJob(ctx, j)
	if err != nil {
		if errors.Is(err, errCanceledWaiting) {
			s.finish(j, Canceled, "")
			return
		}
		if ctx.Err() == nil {
			s.finish(j, Failed, fmt.Sprintf("cannot lock the job: %v", err))
		}
		return
	}
	defer lock.Close()
	var failures []time.Time
	for {
		if j.wanted() == Canceled {
			s.finish(j, Canceled, "")
			return
		}
		exitErr, closing, err := s.runProcess(ctx, j, lock)
		if err != nil {
			// The process could not start: a failure like any other.
			exitErr = err
		}
		want := j.wanted()
		switch {
		case closing:
			// The server is closing: the job stays live for the next start.
			j.setProcess(nil)
			return
		case want == Canceled:
			s.finish(j, Canceled, "")
			return
		case exitErr == nil && want == Stopping:
			sp := ""
			if l := listCheckpoints(j.path(checkpoints)); len(l.Savepoints) > 0 {
				sp = l.Savepoints[len(l.Savepoints)-1].Path
				for _, c := range l.Savepoints {
					if c.ID > l.Savepoints[len(l.Savepoints)-1].ID {
						sp = c.Path
					}
				}
			}
			s.finishWith(j, Stopped, func(spec *jobSpec) { spec.Savepoint = sp })
			return
		case exitErr == nil:
			s.finish(j, Finished, "")
			return
		}
		// A failure.
		msg := lastError(j.path(logFile), exitErr)
		now := time.Now()
		failures = append(failures, now)
		for len(failures) > 0 && now.Sub(failures[0]) > s.cfg.Restart.Window {
			failures = failures[1:]
		}
		s.log.Warn("job failed", "job", j.id(), "error", msg, "failures_in_window", len(failures))
		if len(failures) > s.cfg.Restart.MaxFailures {
			s.finishWith(j, Failed, func(spec *jobSpec) {
				spec.LastError = msg
				spec.LastErrorTime = &now
			})
			return
		}
		_ = j.update(func(spec *jobSpec) {
			spec.State = Restarting
			spec.Restarts++
			spec.LastError = msg
			spec.LastErrorTime = &now
			j.mu.want = ""
		})
		backoff := s.cfg.Restart.InitialBackoff << min(len(failures)-1, 30)
		if backoff > s.cfg.Restart.MaxBackoff || backoff <= 0 {
			backoff = s.cfg.Restart.MaxBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-j.wake:
			// Only a cancel wakes a restarting job: the loop sees it.
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// errCanceledWaiting ends the wait for a job's lock when the job is
// canceled.
var errCanceledWaiting = errors.New("canceled while waiting for the job's lock")

// lockJob takes the job's lock, waiting while another process holds it:
// the process of this job that a server killed a moment ago, which dies
// with it but not at the same instant.
func (s *Server) lockJob(ctx context.Context, j *job) (*os.File, error) {
	f, err := os.OpenFile(j.path(lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		if !logged {
			s.log.Info("job is locked by another process; waiting", "job", j.id())
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-j.wake:
			if j.wanted() == Canceled {
				f.Close()
				return nil, errCanceledWaiting
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runProcess starts the job's process and waits for it. exitErr is how it
// ended (nil for exit status 0); closing tells that the server asked it to
// stop because it is closing; err that it could not start.
func (s *Server) runProcess(ctx context.Context, j *job, lock *os.File) (exitErr error, closing bool, err error) {
	// Pdeathsig is sent when the thread that started the process ends, not
	// the process: keep this goroutine on its thread until the process has
	// been waited for, so the thread outlives it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	v := j.view()
	args := []string{"run", j.path(pipelineFile),
		"--checkpoint-dir", j.path(checkpoints),
		"--checkpoint-interval", v.CheckpointInterval,
		"--parallelism", strconv.Itoa(v.Parallelism),
		"--restarts", "0",
		"--progress", "0",
		"--log-level", "info",
		"--control-socket", j.path(socketFile),
	}
	if v.Output != "" {
		args = append(args, "--output", v.Output)
	}
	args = append(args, restoreArgs(j)...)
	if v.Retain != "" {
		args = append(args, "--retain", v.Retain)
	}
	logf, err := openJobLog(j.path(logFile), s.cfg.LogMaxBytes, s.cfg.LogFiles)
	if err != nil {
		return nil, false, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "weir serve: %s starting the job's process: weir %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.Command(s.cfg.Executable, args...)
	cmd.Dir = s.root
	cmd.Env = append([]string{}, s.cfg.JobEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The lock goes with the process (as its fd 3): while any process of
	// the job lives, no other server can take it.
	cmd.ExtraFiles = []*os.File{lock}
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("start %s: %w", s.cfg.Executable, err)
	}
	want := j.setProcess(cmd.Process)
	_ = j.update(func(spec *jobSpec) {
		if spec.State == Restarting {
			spec.State = Running
		}
	})
	switch want {
	case Stopping:
		_ = cmd.Process.Signal(syscall.SIGTERM)
	case Canceled:
		_ = cmd.Process.Kill()
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		j.setProcess(nil)
		return err, false, nil
	case <-ctx.Done():
	}
	// The server is closing: stop with a savepoint, then kill.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(s.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-waited:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-waited
	}
	j.setProcess(nil)
	return nil, true, nil
}

// setProcess records the job's running process (nil when it has exited)
// and returns what the API has asked of the job.
func (j *job) setProcess(p *os.Process) State {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.mu.proc = p
	j.mu.pid = 0
	if p != nil {
		j.mu.pid = p.Pid
	}
	return j.mu.want
}

func (j *job) wanted() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.want
}

func (s *Server) finish(j *job, st State, lastErr string) {
	s.finishWith(j, st, func(spec *jobSpec) {
		if lastErr != "" {
			now := time.Now()
			spec.LastError, spec.LastErrorTime = lastErr, &now
		}
	})
}

func (s *Server) finishWith(j *job, st State, f func(*jobSpec)) {
	err := j.update(func(spec *jobSpec) {
		spec.State = st
		f(spec)
		j.mu.want = ""
		j.mu.proc, j.mu.pid = nil, 0
	})
	if err != nil {
		s.log.Error("cannot write the job's state", "job", j.id(), "error", err)
	}
	s.log.Info("job ended", "job", j.id(), "state", st)
}

// lastError is the error a failed process printed — the last line its log
// holds starting "weir: " (what the weir command prints when it fails) —
// with how it ended; or the log's last line when there is no such line
// (a panic, a kill).
func lastError(logPath string, exitErr error) string {
	tail := logTail(logPath, 64<<10)
	lines := strings.Split(strings.TrimRight(string(tail), "\n"), "\n")
	msg := ""
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "weir: ") && !strings.HasPrefix(lines[i], "weir: serve") {
			msg = strings.TrimPrefix(lines[i], "weir: ")
			break
		}
	}
	if msg == "" {
		for i := len(lines) - 1; i >= 0; i-- {
			if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "weir serve: ") {
				msg = l
				break
			}
		}
	}
	how := "the process ended"
	if exitErr != nil {
		how = exitErr.Error()
	}
	if msg == "" {
		return how
	}
	return msg + " (" + how + ")"
}

// tailOf returns up to n bytes of the end of the file at path, from the
// start of a line.
func tailOf(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return nil
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}
