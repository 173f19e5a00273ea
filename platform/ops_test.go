package platform_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/platform"
)

// bounded is a pipeline that generates count records at rate per second,
// in two splits, and writes the even ids, exactly once, to out/<name>.
const bounded = `version: 1
inputs:
  numbers:
    type: generator
    count: %d
    rate: %d
    splits: 2
    fields:
      id: seq
steps:
  - name: evens
    from: [numbers]
    filter: id %% 2 == 0
outputs:
  out:
    type: file
    from: evens
    path: out/%s
`

// readIDs reads the "id" of every record in the visible part files under
// dir (hidden files — pending, in progress, the sink's own — are skipped,
// as a reader of the sink's output does).
func readIDs(t *testing.T, dir string) []int64 {
	t.Helper()
	var ids []int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() && path != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			ids = append(ids, r.ID)
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// checkEvensOnce fails unless ids holds every even number below n exactly
// once and nothing else.
func checkEvensOnce(t *testing.T, ids []int64, n int64) {
	t.Helper()
	seen := map[int64]int{}
	for _, id := range ids {
		seen[id]++
	}
	var missing, dup, odd int
	for id, c := range seen {
		if c > 1 {
			dup++
		}
		if id%2 != 0 || id < 0 || id >= n {
			odd++
		}
	}
	for id := int64(0); id < n; id += 2 {
		if seen[id] == 0 {
			missing++
		}
	}
	if missing+dup+odd > 0 || int64(len(ids)) != n/2 {
		t.Errorf("output: %d records, %d missing, %d duplicated, %d unexpected; want each of the %d even ids once", len(ids), missing, dup, odd, n/2)
	}
}

// TestRescaleLosesAndDuplicatesNothing: a running job rescaled from 1 to 2
// stops with a savepoint and runs on from it at parallelism 2, and its
// exactly-once file output holds every record once.
func TestRescaleLosesAndDuplicatesNothing(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	const n = 6000
	j := ts.submit(t, fmt.Sprintf(bounded, n, 1000, "r"))
	ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
	r, err := ts.Client.Rescale(t.Context(), j.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Parallelism != 2 || !r.State.Live() {
		t.Fatalf("rescaled job = %+v; want it live at parallelism 2", r)
	}
	j = ts.waitFor(t, j.ID, "finished", func(j platform.Job) bool { return !j.State.Live() })
	log, _ := ts.Client.Log(t.Context(), j.ID)
	if j.State != platform.Finished {
		t.Fatalf("the rescaled job is %s (%s); want finished\n%s", j.State, j.LastError, log)
	}
	if !strings.Contains(log, "--parallelism 2 ") || !strings.Contains(log, "--restore "+filepath.Join(ts.Dir(), "jobs", j.ID, "checkpoints", "sp-")) {
		t.Errorf("the job's second process did not start at parallelism 2 from the savepoint:\n%s", log)
	}
	checkEvensOnce(t, readIDs(t, filepath.Join(ts.Dir(), "out", "r")), n)

	// A rescale of an ended job that has no savepoint to start from, or to
	// a bad parallelism, is refused.
	if _, err := ts.Client.Rescale(t.Context(), j.ID, 2); !isStatus(err, http.StatusConflict) {
		t.Errorf("rescale of a finished job: %v; want 409", err)
	}
	for _, p := range []int{-1, 0, 257} {
		if _, err := ts.Client.Rescale(t.Context(), j.ID, p); !isStatus(err, http.StatusBadRequest) {
			t.Errorf("rescale to %d: %v; want 400", p, err)
		}
	}
}

// TestRestoreFromNamedCheckpoint: a canceled job restored from its newest
// checkpoint, named, runs to its end with nothing lost or duplicated;
// restore names are names in the job's checkpoint directory, never paths.
func TestRestoreFromNamedCheckpoint(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	const n = 4000
	j := ts.submit(t, fmt.Sprintf(bounded, n, 1000, "c"))
	ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
	if _, err := ts.Client.Restore(t.Context(), j.ID, platform.RestoreRequest{}); !isStatus(err, http.StatusConflict) {
		t.Errorf("restore of a running job: %v; want 409", err)
	}
	j, err := ts.Client.Cancel(t.Context(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	j, err = ts.Client.Show(t.Context(), j.ID)
	if err != nil || j.Checkpoints == nil || j.Checkpoints.Latest == nil {
		t.Fatalf("show: %+v, %v", j, err)
	}
	latest := filepath.Base(j.Checkpoints.Latest.Path)
	for from, status := range map[string]int{
		"../../token":              http.StatusBadRequest,
		"/etc/passwd":              http.StatusBadRequest,
		"chk-1/../../..":           http.StatusBadRequest,
		"%2e%2e%2fchk-1":           http.StatusBadRequest,
		"chk-999999":               http.StatusNotFound,
		"sp-" + latest[4:]:         http.StatusNotFound,
		"chk-99999999999999999999": http.StatusBadRequest,
	} {
		if _, err := ts.Client.Restore(t.Context(), j.ID, platform.RestoreRequest{From: from}); !isStatus(err, status) {
			t.Errorf("restore from %q: %v; want %d", from, err, status)
		}
	}
	r, err := ts.Client.Restore(t.Context(), j.ID, platform.RestoreRequest{From: latest})
	if err != nil {
		t.Fatal(err)
	}
	if !r.State.Live() {
		t.Fatalf("restored job is %s", r.State)
	}
	j = ts.waitFor(t, j.ID, "finished", func(j platform.Job) bool { return !j.State.Live() })
	if j.State != platform.Finished {
		t.Fatalf("the restored job is %s: %s", j.State, j.LastError)
	}
	log, _ := ts.Client.Log(t.Context(), j.ID)
	if !strings.Contains(log, "--restore "+filepath.Join(ts.Dir(), "jobs", j.ID, "checkpoints", latest)) {
		t.Errorf("the restored process did not start from %s:\n%s", latest, log)
	}
	checkEvensOnce(t, readIDs(t, filepath.Join(ts.Dir(), "out", "c")), n)
}

// TestDeleteEndedJob: an ended job is deleted with its directory; a
// running one is refused with 409.
func TestDeleteEndedJob(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	j := ts.submit(t, fmt.Sprintf(generator, "d"))
	// A checkpoint: the job has opened its output.
	ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
	if err := ts.Client.Delete(t.Context(), j.ID); !isStatus(err, http.StatusConflict) {
		t.Fatalf("delete of a running job: %v; want 409", err)
	}
	if _, err := ts.Client.Cancel(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.Client.Delete(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ts.Dir(), "jobs", j.ID)); !os.IsNotExist(err) {
		t.Errorf("the job's directory is still there: %v", err)
	}
	if _, err := ts.Client.Show(t.Context(), j.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("show of a deleted job: %v; want 404", err)
	}
	if err := ts.Client.Delete(t.Context(), j.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("second delete: %v; want 404", err)
	}
	// The job's output, outside its directory, stays.
	if _, err := os.Stat(filepath.Join(ts.Dir(), "out", "d")); err != nil {
		t.Errorf("the job's output went with it: %v", err)
	}
}

// TestTemplateJobRuns: GET /api/v1/templates lists the built-in templates
// with their parameters; one submitted by name with parameters runs; an
// unknown name or parameter is refused with 400.
func TestTemplateJobRuns(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	code, body := ts.request(t, "GET", "/api/v1/templates", "", true)
	if code != http.StatusOK || !strings.Contains(body, `"name": "nexmark"`) || !strings.Contains(body, `"name": "video-quality"`) || !strings.Contains(body, `"query"`) {
		t.Fatalf("GET /api/v1/templates: %d %s", code, body)
	}
	code, body = ts.request(t, "POST", "/api/v1/jobs", `{"template": "nexmark", "params": {"query": "q1", "events": 2000, "rate": 4000, "out": "nx/q1"}}`, true)
	if code != http.StatusCreated {
		t.Fatalf("submit the nexmark template: %d %s", code, body)
	}
	var j platform.Job
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	if j.Name != "nexmark" {
		t.Errorf("the job's name = %q; want the template's", j.Name)
	}
	j = ts.waitFor(t, j.ID, "finished", func(j platform.Job) bool { return !j.State.Live() })
	if j.State != platform.Finished {
		t.Fatalf("the template's job is %s: %s", j.State, j.LastError)
	}
	ids := readIDs(t, filepath.Join(ts.Dir(), "nx", "q1"))
	if len(ids) != 2000 {
		t.Errorf("q1 wrote %d bids; want 2000", len(ids))
	}
	for _, b := range []string{
		`{"template": "nope"}`,
		`{"template": "nexmark", "params": {"speed": 1}}`,
		`{"template": "nexmark", "params": {"out": "../../etc"}}`,
		`{"params": {"query": "q1"}, "pipeline": "version: 1"}`,
	} {
		if code, body := ts.request(t, "POST", "/api/v1/jobs", b, true); code != http.StatusBadRequest {
			t.Errorf("submit %s: %d %s; want 400", b, code, body)
		}
	}
}
