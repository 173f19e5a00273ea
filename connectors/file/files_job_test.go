package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// filesJob is a job reading the gzipped JSON lines and zstd CSV files of a
// watched directory into Parquet part files, exactly once.
type filesJob struct {
	t       *testing.T
	in, out string
	chk     string
	next    int // the number of the next event written
	files   int
	want    []string
	cancel  context.CancelFunc
	stop    chan struct{}
	done    chan error
}

func (j *filesJob) addFile(n int) {
	j.t.Helper()
	var evs []event
	for range n {
		evs = append(evs, event{N: j.next})
		j.want = append(j.want, strconv.Itoa(j.next))
		j.next++
	}
	if j.files%2 == 0 {
		writeFile(j.t, filepath.Join(j.in, fmt.Sprintf("%03d.jsonl.gz", j.files)), Gzip, encodeJSONLines(j.t, evs))
	} else {
		writeFile(j.t, filepath.Join(j.in, fmt.Sprintf("%03d.csv.zst", j.files)), Zstd, encodeCSV(j.t, evs))
	}
	j.files++
	slices.Sort(j.want)
}

func (j *filesJob) start(p int, restore bool) {
	j.t.Helper()
	cfg := SourceConfig{Watch: true, SettleTime: -1}
	cfg.Paths = []string{filepath.Join(j.in, "*.jsonl.gz")}
	jsonl := jsonSource(j.t, cfg)
	cfg.Paths = []string{filepath.Join(j.in, "*.csv.zst")}
	csv := csvSource(j.t, cfg)
	enc, err := Parquet[event]()
	if err != nil {
		j.t.Fatal(err)
	}
	sink := newSink(j.t, Config[event]{Dir: j.out, Encoding: enc, Ext: ".parquet"})
	j.stop = make(chan struct{})
	opts := []weir.Option{weir.Parallelism(p), weir.Checkpoints(10*time.Millisecond, j.chk), weir.StopOn(j.stop)}
	if restore {
		opts = append(opts, weir.Restore("latest"))
	}
	env := weir.New(opts...)
	weir.To(weir.Union(weir.From(env, jsonl, weir.DiscoveryInterval(5*time.Millisecond)),
		weir.From(env, csv, weir.DiscoveryInterval(5*time.Millisecond))), sink)
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	j.done = make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		j.done <- env.Run(ctx)
	}()
	j.t.Cleanup(func() {
		cancel()
		<-finished
	})
}

// await waits until the committed output holds every event written (or,
// with some, more than some but not all of them), or fails the test if it
// holds one twice or the job ends.
func (j *filesJob) await(what string, some int) {
	j.t.Helper()
	deadline := time.After(time.Minute)
	for {
		got := visibleLines(j.t, j.out)
		if some == 0 && slices.Equal(got, j.want) || some > 0 && len(got) > some {
			return
		}
		if len(slices.Compact(slices.Clone(got))) != len(got) {
			j.t.Fatalf("%s: an event committed twice: %q", what, got)
		}
		select {
		case err := <-j.done:
			j.t.Fatalf("%s: the job ended (%v) having committed %d of %d events", what, err, len(got), len(j.want))
		case <-deadline:
			j.t.Fatalf("%s: after a minute, %d of %d events committed", what, len(got), len(j.want))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A job watching a directory is killed (its context canceled) while it
// reads files added after its start, and restored from its latest
// checkpoint at another parallelism: the committed Parquet output holds
// every event of every file once — those read before the kill, after it,
// and in files added while the restored job runs.
func TestFilesJobRestoresExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	j := &filesJob{t: t, in: filepath.Join(dir, "in"), out: filepath.Join(dir, "out"), chk: filepath.Join(dir, "checkpoints")}
	if err := os.MkdirAll(j.out, 0o755); err != nil {
		t.Fatal(err)
	}
	j.addFile(50)
	j.addFile(50)
	j.start(2, false)
	j.await("the files there when the job started", 0)
	// Large enough to be read over several polls and checkpoints.
	for range 4 {
		j.addFile(5000)
	}
	j.await("some of the files added", 100+1000)
	j.cancel() // a crash, at whatever point the job has reached
	<-j.done

	j.start(3, true)
	j.addFile(50)
	j.await("the restored job", 0)
	close(j.stop)
	if err := <-j.done; err != nil {
		t.Fatalf("the restored job: %v", err)
	}
	j.cancel()
	equal(t, "committed after the stop", visibleLines(t, j.out), j.want)
}
