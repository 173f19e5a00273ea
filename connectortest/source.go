package connectortest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirstream/weir"
	"go.uber.org/goleak"
)

// RunSource runs the source checks against s, each as a subtest of t.
func RunSource[T any](t *testing.T, s Source[T]) {
	if s.Setup == nil {
		t.Fatal("connectortest.Source: Setup is required")
	}
	checks := []struct {
		name string
		fn   func(c *sourceCheck[T])
	}{
		{"Read", sourceRead[T]},
		{"Position", func(c *sourceCheck[T]) { sourcePosition(c, 1, 1) }},
		{"Rescale/1to2", func(c *sourceCheck[T]) { sourcePosition(c, 1, 2) }},
		{"Rescale/2to1", func(c *sourceCheck[T]) { sourcePosition(c, 2, 1) }},
		{"ExactlyOnceRestart", sourceRestart[T]},
		{"Discovery", sourceDiscovery[T]},
		{"Append", sourceAppend[T]},
		{"Cancel", sourceCancel[T]},
		{"DeadLetters", sourceDeadLetters[T]},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			ch.fn(&sourceCheck[T]{t: t, s: s, key: keyFunc(s.Key), chk: t.TempDir()})
		})
	}
}

// sourceCheck is one source check: its data, the gate around the source
// under test and the recorder behind it, shared by the check's jobs.
type sourceCheck[T any] struct {
	t    *testing.T
	s    Source[T]
	key  func(T) string
	chk  string // checkpoint directory
	data SourceData[T]
	gate *gate[T]
	rec  *recorder[T]
	good []string // keys of the good records written so far
	runs int
	// unbounded and discovers are what the source says it is.
	unbounded, discovers bool
}

// setup writes the check's data.
func (c *sourceCheck[T]) setup(in Input) {
	c.t.Helper()
	c.data = c.s.Setup(c.t, in)
	if c.data.Source == nil {
		c.t.Fatal("SourceData.Source is required")
	}
	c.good = keys(c.key, c.data.Good)
	if len(c.good) == 0 {
		c.t.Fatalf("Setup(%+v) wrote no good records", in)
	}
	if len(c.data.Bad) != in.Bad {
		c.t.Fatalf("Setup(%+v) wrote %d bad records, want %d", in, len(c.data.Bad), in.Bad)
	}
	distinct(c.t, "Setup", append(append([]string(nil), c.good...), keys(c.key, c.data.Bad)...))
	c.gate = newGate(c.key)
	c.rec = newRecorder(c.key)
	src := c.data.Source()
	_, c.discovers = src.(weir.SplitDiscoverer)
	c.unbounded = !src.Bounded()
}

// add records the good records a fixture added.
func (c *sourceCheck[T]) add(what string, vs []T) {
	c.t.Helper()
	if len(vs) == 0 {
		c.t.Fatalf("%s added no records", what)
	}
	c.good = append(c.good, keys(c.key, vs)...)
	distinct(c.t, what, c.good)
}

// start starts a job reading the source under test into the recorder.
func (c *sourceCheck[T]) start(spec jobSpec) *running {
	c.t.Helper()
	r := newRunning(c.t)
	env := weir.New(spec.options(c.chk, r.stopCh, r.checkpointed, r.restarted)...)
	s := weir.From(env, c.gate.source(c.data.Source()), weir.DiscoveryInterval(discoveryInterval)).ID(sourceID).Name(sourceName)
	if f := spec.failOnce; f != nil {
		s = weir.TryMap(s, func(v T) (T, error) { return v, f.check() }).ID(failID)
	}
	if spec.deadLetters != "" {
		decode := c.s.Decode
		s = weir.TryMap(s, func(v T) (T, error) { return v, decode(v) }).ID(decodeID).OnError(weir.DeadLetter)
	}
	weir.To(s, weir.Sink[T](c.rec)).ID(sinkID)
	c.runs++
	c.rec.startRun(fmt.Sprint(c.runs))
	r.start(env)
	return r
}

// finish lets the job read every good record written so far, stops it (an
// unbounded source with a savepoint) and waits for it.
func (c *sourceCheck[T]) finish(r *running, what string) {
	c.t.Helper()
	if c.unbounded {
		r.waitFor(c.rec.await(c.good), what+" to read every record", progress(c.rec.coveredKeys, c.good))
		r.stop()
	}
	r.mustEnd(what)
	c.checkGate(what)
}

// await waits until the running job has read every good record written
// so far.
func (c *sourceCheck[T]) await(r *running, what string) {
	c.t.Helper()
	r.waitFor(c.rec.await(c.good), what, progress(c.rec.coveredKeys, c.good))
}

func (c *sourceCheck[T]) checkGate(what string) {
	c.t.Helper()
	if p := c.gate.check(); len(p) > 0 {
		c.t.Fatalf("%s: %s", what, joinErrs(p))
	}
}

// exact checks that the committed output holds every good record once.
func (c *sourceCheck[T]) exact(what string) {
	c.t.Helper()
	if d := diff(c.rec.committedKeys(), c.good); d != "" {
		c.t.Fatalf("%s: the job read %s", what, d)
	}
}

func sourceRead[T any](c *sourceCheck[T]) {
	c.setup(Input{Splits: 3, Records: 120})
	r := c.start(jobSpec{parallelism: 2})
	c.finish(r, "reading at parallelism 2")
	c.exact("reading at parallelism 2")
}

// sourcePosition stops a job at parallelism from with a savepoint once it
// has read a third of the records, and restores it at parallelism to.
func sourcePosition[T any](c *sourceCheck[T], from, to int) {
	c.setup(Input{Splits: 3, Records: 120})
	// Not a multiple of a split's records, so that a reader is asked for
	// fewer records than its split holds.
	part := int64(len(c.good)*2/5 + 1)
	spent := c.gate.limit(part)
	r := c.start(jobSpec{parallelism: from})
	r.waitFor(spent, fmt.Sprintf("the first %d records", part), progress(c.gate.emittedKeys, c.good))
	r.stop()
	r.mustEnd("the run stopped with a savepoint")
	c.checkGate("the run stopped with a savepoint")
	// The savepoint covers exactly what the readers emitted before it.
	read := c.gate.emittedKeys()
	if d := diff(c.rec.committedKeys(), read); d != "" {
		c.t.Fatalf("stopped with a savepoint after the readers emitted %d records, the job committed %s", len(read), d)
	}
	if int64(len(read)) != part {
		c.t.Fatalf("the readers emitted %d records before the savepoint, want %d", len(read), part)
	}
	c.gate.open()
	r = c.start(jobSpec{parallelism: to, restore: true})
	what := fmt.Sprintf("the run restored at parallelism %d from a savepoint taken at %d", to, from)
	c.finish(r, what)
	c.exact(what)
}

// sourceRestart fails a job once after a checkpoint taken a third of the
// way; the job restarts itself from that checkpoint.
func sourceRestart[T any](c *sourceCheck[T]) {
	c.setup(Input{Splits: 3, Records: 120})
	f := &failOnce{}
	spent := c.gate.limit(int64(len(c.good) / 3))
	r := c.start(jobSpec{parallelism: 2, restarts: true, failOnce: f})
	r.waitFor(spent, "a third of the records", progress(c.gate.emittedKeys, c.good))
	// Records added before the checkpoint and not read yet: the
	// restarted job reads them once.
	if c.s.Capabilities.Discovery && c.data.AddSplit != nil {
		c.add("AddSplit", c.data.AddSplit(20))
	}
	if c.s.Capabilities.Append && c.data.Append != nil {
		c.add("Append", c.data.Append(20))
	}
	// The readers wait; the next checkpoint holds their positions. Then
	// they go on, and soon a record fails the job.
	r.waitFor(r.checkpointAfter(), "a checkpoint", func() string { return "no checkpoint completed" })
	f.armed.Store(true)
	c.gate.open()
	c.finish(r, "the job that failed once")
	if !f.failed.Load() {
		c.t.Fatal("no record reached the failing operator after the checkpoint: the readers read nothing after it")
	}
	if n := r.restartCount(); n != 1 {
		c.t.Fatalf("the job restarted %d times, want 1 (%v)", n, r.restarts)
	}
	c.exact("after a failure and a restart from the latest checkpoint")
}

func sourceDiscovery[T any](c *sourceCheck[T]) {
	if !c.s.Capabilities.Discovery {
		c.t.Skip("the source does not declare Discovery")
	}
	c.setup(Input{Splits: 2, Records: 60})
	if c.data.AddSplit == nil || !c.unbounded || !c.discovers {
		c.t.Fatal("Discovery needs SourceData.AddSplit and an unbounded source that implements weir.SplitDiscoverer")
	}
	r := c.start(jobSpec{parallelism: 2})
	c.await(r, "the first splits")
	c.add("AddSplit", c.data.AddSplit(20))
	c.await(r, "a split added while the job runs")
	c.add("AddSplit", c.data.AddSplit(20))
	c.await(r, "a second split added while the job runs")
	r.stop()
	r.mustEnd("the run stopped with a savepoint")
	c.exact("the run that discovered two splits")
	// Added while the job is stopped: found by the restored job, which
	// reads none of the splits it found before again.
	c.add("AddSplit", c.data.AddSplit(20))
	r = c.start(jobSpec{parallelism: 3, restore: true})
	c.await(r, "a split added while the job was stopped")
	c.add("AddSplit", c.data.AddSplit(20))
	c.finish(r, "the restored run at parallelism 3")
	c.exact("the restored run")
}

func sourceAppend[T any](c *sourceCheck[T]) {
	if !c.s.Capabilities.Append {
		c.t.Skip("the source does not declare Append")
	}
	c.setup(Input{Splits: 2, Records: 60})
	if c.data.Append == nil || !c.unbounded {
		c.t.Fatal("Append needs SourceData.Append and an unbounded source")
	}
	r := c.start(jobSpec{parallelism: 2})
	c.await(r, "the records written first")
	c.add("Append", c.data.Append(20))
	c.await(r, "records appended while the job runs")
	r.stop()
	r.mustEnd("the run stopped with a savepoint")
	c.exact("the run that read appended records")
	c.add("Append", c.data.Append(20))
	r = c.start(jobSpec{parallelism: 1, restore: true})
	c.await(r, "records appended while the job was stopped")
	c.add("Append", c.data.Append(20))
	c.finish(r, "the restored run at parallelism 1")
	c.exact("the restored run")
}

// sourceCancel cancels a job while its source waits: for data (an
// unbounded source that has read everything) or for the gate (a bounded
// one, held half way).
func sourceCancel[T any](c *sourceCheck[T]) {
	c.setup(Input{Splits: 3, Records: 60})
	leaks := goleak.IgnoreCurrent()
	var r *running
	if !c.unbounded {
		spent := c.gate.limit(int64(len(c.good) / 2))
		r = c.start(jobSpec{parallelism: 2})
		r.waitFor(spent, "half the records", progress(c.gate.emittedKeys, c.good))
	} else {
		r = c.start(jobSpec{parallelism: 2})
		c.await(r, "every record")
	}
	r.cancelled("canceled while the source waits")
	c.checkGate("canceled while the source waits")
	got := c.rec.committedKeys()
	if n := repeats(got); n > 0 {
		c.t.Fatalf("canceled: %d records committed twice", n)
	}
	if d := covers(c.good, got); d != "" {
		c.t.Fatalf("canceled: the job committed records that were not written: %s", d)
	}
	if err := goleak.Find(leaks); err != nil {
		c.t.Fatalf("goroutines left after the canceled job returned: %v", err)
	}
}

// deadLetter is what the check reads of a dead letter.
type deadLetter struct {
	Operator string `json:"operatorId"`
	Source   string `json:"source"`
	Split    string `json:"split"`
	Line     *int64 `json:"line"`
	Offset   *int64 `json:"offset"`
	Error    string `json:"error"`
}

func sourceDeadLetters[T any](c *sourceCheck[T]) {
	if c.s.Decode == nil {
		c.t.Skip("the source has no Decode step to reject bad records")
	}
	const bad = 8
	c.setup(Input{Splits: 2, Records: 60, Bad: bad})
	var wantErrs []string
	for _, v := range c.data.Good {
		if err := c.s.Decode(v); err != nil {
			c.t.Fatalf("Decode rejects the good record %s: %v", c.key(v), err)
		}
	}
	for _, v := range c.data.Bad {
		err := c.s.Decode(v)
		if err == nil {
			c.t.Fatalf("Decode accepts the bad record %s", c.key(v))
		}
		wantErrs = append(wantErrs, err.Error())
	}
	dir := filepath.Join(c.t.TempDir(), "dead")
	r := c.start(jobSpec{parallelism: 2, deadLetters: dir})
	c.finish(r, "the job with bad records")
	c.exact("the job with bad records")
	letters := readDeadLetters(c.t, dir)
	var gotErrs []string
	for _, l := range letters {
		gotErrs = append(gotErrs, l.Error)
		if l.Operator != decodeID || l.Source != sourceName || l.Split == "" || (l.Line == nil && l.Offset == nil) {
			c.t.Errorf("dead letter %+v: want operator %q, source %q, a split and a line or offset", l, decodeID, sourceName)
		}
	}
	if d := diff(gotErrs, wantErrs); d != "" {
		c.t.Fatalf("the dead letters' errors: %s", d)
	}
	// The counts balance: what the source read is what the sink wrote plus
	// what was dead-lettered.
	var read, decoded, dead, written int64
	for _, m := range r.env.Metrics() {
		switch m.ID {
		case sourceID:
			read += m.Out
		case decodeID:
			decoded += m.In
			dead += m.DeadLettered
		case sinkID:
			written += m.In
		}
	}
	good := int64(len(c.good))
	if read != good+bad || decoded != read || dead != bad || written != good {
		c.t.Fatalf("counts: source emitted %d, decode received %d and dead-lettered %d, sink received %d; want %d, %d, %d, %d",
			read, decoded, dead, written, good+bad, good+bad, bad, good)
	}
}

// readDeadLetters reads the committed dead letters under dir, skipping
// hidden files.
func readDeadLetters(t *testing.T, dir string) []deadLetter {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []deadLetter
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l deadLetter
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				f.Close()
				t.Fatalf("%s: %q: %v", name, sc.Text(), err)
			}
			out = append(out, l)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return out
}
