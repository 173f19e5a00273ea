package platform_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/weirstream/weir/platform"
)

func hasCheckpoint(j platform.Job) bool {
	return j.State == platform.Running && j.PID != 0 && j.Checkpoints != nil && j.Checkpoints.Latest != nil
}

// TestJobRunsAndIsMeasured: a submitted pipeline runs in a process of its
// own, its checkpoints are shown, and its operators' counts are on
// /metrics in a form promtool (or the client library's linter) accepts.
func TestJobRunsAndIsMeasured(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	j := ts.submit(t, fmt.Sprintf(generator, "a"))
	if j.State != platform.Running || j.Parallelism != 1 || j.CheckpointInterval != "200ms" {
		t.Fatalf("submitted job = %+v", j)
	}
	ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
	var text string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		text = ts.metrics(t)
		if metricValue(text, "weir_operator_records_out_total", `job_id="`+j.ID+`"`, `operator="output/out"`, `subtask="0"`) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no records out of output/out on /metrics:\n%s", text)
		}
	}
	for _, want := range []string{
		`weir_server_jobs{state="running"} 1`,
		`weir_job_up{job_id="` + j.ID + `"} 1`,
		`weir_job_restarts_total{job_id="` + j.ID + `"} 0`,
		`weir_operator_records_filtered_total{job_id="` + j.ID + `",operator="step/evens/drop",subtask="0"}`,
		`weir_operator_records_dead_lettered_total{job_id="` + j.ID + `",operator="output/out",subtask="0"} 0`,
		`weir_job_checkpoints_completed_total{job_id="` + j.ID + `"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	lintMetrics(t, text)
	if _, err := os.Stat(filepath.Join(ts.Dir(), "jobs", j.ID, "pipeline.yaml")); err != nil {
		t.Errorf("the job's pipeline is not in its directory: %v", err)
	}
}

// lintMetrics checks the exposition with promtool when it is installed
// (Debian's prometheus package), else with the client library's linter.
func lintMetrics(t *testing.T, text string) {
	t.Helper()
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
		return
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestKilledJobRestartsFromItsCheckpoint: a job's process that is
// SIGKILLed is started again, restoring its latest checkpoint.
func TestKilledJobRestartsFromItsCheckpoint(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	j := ts.submit(t, fmt.Sprintf(generator, "k"))
	j = ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
	if err := syscall.Kill(j.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	old := j.PID
	j = ts.waitFor(t, j.ID, "a restart", func(j platform.Job) bool {
		return j.State == platform.Running && j.PID != 0 && j.PID != old
	})
	if j.Restarts != 1 || !strings.Contains(j.LastError, "signal: killed") {
		t.Errorf("after a kill: restarts %d, last error %q; want 1 and the kill", j.Restarts, j.LastError)
	}
	ts.waitFor(t, j.ID, "the restore in the log", func(platform.Job) bool {
		log, _ := ts.Client.Log(t.Context(), j.ID)
		return strings.Contains(log, "--restore latest") && strings.Contains(log, "weir run: restoring from")
	})
}

// TestFailingJobIsFailed: a job that keeps failing is restarted as the
// policy allows, then failed with the error its process printed.
func TestFailingJobIsFailed(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	j := ts.submit(t, failing)
	j = ts.waitFor(t, j.ID, "failed", func(j platform.Job) bool { return j.State == platform.Failed })
	if j.Restarts != 2 {
		t.Errorf("restarts = %d; want 2 (MaxFailures), then failed", j.Restarts)
	}
	if !strings.Contains(j.LastError, `operator "boom"`) || !strings.Contains(j.LastError, "exit status 1") {
		t.Errorf("last error = %q; want the operator's failure and the exit status", j.LastError)
	}
	text := ts.metrics(t)
	if v := metricValue(text, "weir_job_restarts_total", `job_id="`+j.ID+`"`); v != 2 {
		t.Errorf("weir_job_restarts_total = %v; want 2", v)
	}
	if v := metricValue(text, "weir_server_jobs", `state="failed"`); v != 1 {
		t.Errorf(`weir_server_jobs{state="failed"} = %v; want 1`, v)
	}
}

// TestSavepointStopAndCancel: a savepoint leaves the job running; a stop
// ends it with a savepoint; a cancel kills it; neither is possible twice.
func TestSavepointStopAndCancel(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	a := ts.submit(t, fmt.Sprintf(generator, "s"))
	b := ts.submit(t, fmt.Sprintf(generator, "c"))
	ts.waitFor(t, a.ID, "running", func(j platform.Job) bool { return j.PID != 0 })
	sp, err := ts.Client.Savepoint(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sp, filepath.Join("jobs", a.ID, "checkpoints", "sp-")) {
		t.Errorf("savepoint at %s; want one in the job's checkpoints", sp)
	}
	if _, err := os.Stat(filepath.Join(sp, "_metadata")); err != nil {
		t.Errorf("the savepoint is not complete: %v", err)
	}
	a, err = ts.Client.Stop(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != platform.Stopped || a.Savepoint == "" || a.Savepoint == sp {
		t.Errorf("stopped job = state %s, savepoint %q; want stopped with a new savepoint", a.State, a.Savepoint)
	}
	if _, err := ts.Client.Stop(t.Context(), a.ID); !isStatus(err, http.StatusConflict) {
		t.Errorf("stopping a stopped job: %v; want 409", err)
	}
	ts.waitFor(t, b.ID, "running", func(j platform.Job) bool { return j.PID != 0 })
	b, err = ts.Client.Cancel(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != platform.Canceled {
		t.Errorf("canceled job is %s", b.State)
	}
	if _, err := ts.Client.Savepoint(t.Context(), b.ID); !isStatus(err, http.StatusConflict) {
		t.Errorf("a savepoint of a canceled job: %v; want 409", err)
	}
	jobs, err := ts.Client.List(t.Context())
	if err != nil || len(jobs) != 2 || jobs[0].ID != a.ID || jobs[1].ID != b.ID {
		t.Errorf("list = %+v, %v; want the two jobs in submission order", jobs, err)
	}
}

func isStatus(err error, status int) bool {
	var ce *platform.ClientError
	return errors.As(err, &ce) && ce.Status == status
}

// TestJobLockKeepsAJobFromRunningTwice: a server that finds a job's lock
// held — by a process of the job that a killed server left, still dying —
// waits for it before it starts the job.
func TestJobLockKeepsAJobFromRunningTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ts := newTestServer(t, platform.Config{Dir: dir})
	j := ts.submit(t, fmt.Sprintf(generator, "l"))
	ts.waitFor(t, j.ID, "running", func(j platform.Job) bool { return j.PID != 0 })
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "jobs", j.ID, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the job's lock is held after the server closed: %v", err)
	}
	ts2 := newTestServer(t, platform.Config{Dir: dir})
	for deadline := time.Now().Add(time.Minute); !ts2.logs.has("job is locked by another process; waiting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not wait for the job's lock")
		}
	}
	if got, _ := ts2.Client.Show(t.Context(), j.ID); got.PID != 0 {
		t.Fatalf("the job runs (pid %d) while another process holds its lock", got.PID)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	ts2.waitFor(t, j.ID, "running after the lock was released", func(j platform.Job) bool { return j.PID != 0 })

	// A job canceled while it waits for its lock is canceled at once.
	if err := ts2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the job's lock is held after the server closed: %v", err)
	}
	ts3 := newTestServer(t, platform.Config{Dir: dir})
	for deadline := time.Now().Add(time.Minute); !ts3.logs.has("job is locked by another process; waiting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not wait for the job's lock")
		}
	}
	got, err := ts3.Client.Cancel(t.Context(), j.ID)
	if err != nil || got.State != platform.Canceled {
		t.Fatalf("cancel while waiting for the lock: %+v, %v", got, err)
	}
}

// TestOneServerPerDirectory: a second server on the same directory is
// refused, and the token is made once, readable by its owner only.
func TestOneServerPerDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ts := newTestServer(t, platform.Config{Dir: dir})
	if tok, ok := ts.NewToken(); !ok || tok != ts.Token {
		t.Errorf("NewToken = %q, %v on first start; want the token", tok, ok)
	}
	fi, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if _, err := platform.Open(platform.Config{Dir: dir, Executable: weirBin}); err == nil || !strings.Contains(err.Error(), "in use by another weir serve") {
		t.Fatalf("a second server on the directory: %v; want it refused", err)
	}
	ts.Close()
	s, err := platform.Open(platform.Config{Dir: dir, Executable: weirBin})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.NewToken(); ok {
		t.Error("the second start made a new token")
	}
	s.Close()
	if err := os.Chmod(filepath.Join(dir, "token"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := platform.Open(platform.Config{Dir: dir, Executable: weirBin}); err == nil || !strings.Contains(err.Error(), "readable by its owner only") {
		t.Errorf("a token others can read: %v; want it refused", err)
	}
}

// TestKilledServerBringsJobsBack kills a `weir serve` process with
// SIGKILL: its jobs' processes die with it, and a server started again on
// the directory brings every job back from its latest checkpoint.
func TestKilledServerBringsJobsBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	url, token, srv := startServe(t, dir)
	c := &platform.Client{Server: url, Token: token}
	ts := &testServer{Client: c}
	var ids []string
	var pids []int
	for _, name := range []string{"x", "y"} {
		j, err := c.Submit(t.Context(), platform.SubmitRequest{Pipeline: fmt.Sprintf(generator, name), CheckpointInterval: "200ms"})
		if err != nil {
			t.Fatal(err)
		}
		j = ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
		ids, pids = append(ids, j.ID), append(pids, j.PID)
	}
	if err := srv.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	for _, pid := range pids {
		for deadline := time.Now().Add(time.Minute); alive(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("job process %d outlived its killed server", pid)
			}
		}
	}
	url, token2, _ := startServe(t, dir)
	if token2 != token {
		t.Fatal("the token changed")
	}
	ts.Client = &platform.Client{Server: url, Token: token}
	for _, id := range ids {
		ts.waitFor(t, id, "back and restored", func(j platform.Job) bool {
			if j.State != platform.Running || j.PID == 0 {
				return false
			}
			log, _ := ts.Client.Log(t.Context(), id)
			return strings.Count(log, "weir run: restoring from") >= 1
		})
	}
}

// alive reports whether the process pid exists and is not a zombie (a
// process killed after its parent died waits there for init to reap it).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// startServe starts `weir serve --port 0` as a process and returns its URL
// and token (from the data directory).
func startServe(t *testing.T, dir string) (url, token string, cmd *exec.Cmd) {
	t.Helper()
	cmd = exec.Command(weirBin, "serve", "--data", dir, "--port", "0", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "weir serve: listening on "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("weir serve did not say where it listens")
	}
	go io.Copy(io.Discard, stdout)
	b, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return url, strings.TrimSpace(string(b)), cmd
}
