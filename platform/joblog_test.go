package platform_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// TestJobLogIsRotatedBySize: a running job whose log grows past
// LogMaxBytes has it moved to job.log.1, job.log.1 to job.log.2, and the
// oldest dropped, while it runs: the directory never holds more than
// LogFiles older files, each ends at the end of a line, and together with
// job.log they hold every checkpoint's line since the oldest kept, none
// lost or repeated. GET …/log?older=k answers job.log.k; the tail spans a
// rotation.
func TestJobLogIsRotatedBySize(t *testing.T) {
	const maxBytes, files = 4096, 2
	ts := newTestServer(t, platform.Config{LogMaxBytes: maxBytes, LogFiles: files})
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: fmt.Sprintf(generator, "rot"), CheckpointInterval: "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(ts.Dir(), "jobs", j.ID, "job.log")
	// Wait for the oldest file to have been dropped at least once: the
	// first line of job.log.2 is then no longer the job's first line.
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := os.ReadFile(log + ".2")
		if err == nil && !strings.HasPrefix(string(b), "weir serve: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job.log.2 after a minute: %v\n%.300s", err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ts.Client.Stop(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log + ".3"); !os.IsNotExist(err) {
		t.Errorf("job.log.3: %v; want no more than %d older files", err, files)
	}
	var all strings.Builder
	for k := files; k >= 1; k-- {
		s, err := ts.Client.OlderLog(t.Context(), j.ID, k)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(log + "." + strconv.Itoa(k))
		if err != nil || s != string(b) {
			t.Errorf("older=%d answered %d bytes; job.log.%d holds %d (%v)", k, len(s), k, len(b), err)
		}
		if !strings.HasSuffix(s, "\n") || len(s) > 2*maxBytes {
			t.Errorf("job.log.%d: %d bytes, ending %q; want whole lines, about %d bytes", k, len(s), s[max(len(s)-20, 0):], maxBytes)
		}
		all.WriteString(s)
	}
	cur, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	all.Write(cur)
	// Every checkpoint's line, in order, each once: the IDs are
	// consecutive.
	ids := regexp.MustCompile(`level=\w+ msg="checkpoint (?:completed|failed)" id=(\d+)`).FindAllStringSubmatch(all.String(), -1)
	if len(ids) < 10 {
		t.Fatalf("%d checkpoint lines in the logs; want more:\n%s", len(ids), all.String())
	}
	for i := 1; i < len(ids); i++ {
		a, _ := strconv.Atoi(ids[i-1][1])
		b, _ := strconv.Atoi(ids[i][1])
		if b != a+1 {
			t.Errorf("checkpoint %d follows %d in the logs: a line was lost or repeated", b, a)
		}
	}
	if tail, err := ts.Client.Log(t.Context(), j.ID); err != nil || !strings.HasSuffix(all.String(), tail) || len(tail) <= len(cur) {
		// All the files hold less than the tail's 64 KiB: it begins in
		// job.log.1.
		t.Errorf("the log's tail (%d bytes, %v) is not the end of the files, from job.log.1 on (%d bytes of job.log)", len(tail), err, len(cur))
	}
	for _, q := range []string{"0", "3", "-1", "x", "../token", "%2e%2e%2ftoken"} {
		if code, body := ts.request(t, "GET", "/api/v1/jobs/"+j.ID+"/log?older="+q, "", true); code != http.StatusBadRequest {
			t.Errorf("older=%s: %d %s; want 400", q, code, body)
		}
	}
}
