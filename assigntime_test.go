package weir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirstream/weir"
)

// click is a decoded line of clicks.jsonl: its time is a string that may
// not parse.
type click struct {
	User string `json:"user"`
	At   string `json:"at"`
}

func decodeClick(line string) (click, error) {
	var c click
	err := json.Unmarshal([]byte(line), &c)
	return c, err
}

// clickTime parses a click's time; a click without one gets the zero
// time.Time, as a careless time function would return.
func clickTime(c click) (time.Time, error) {
	if c.At == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, c.At)
}

// clickCounts counts the clicks of clicks.jsonl per user in 10 s tumbling
// windows, decoding each line and then assigning its time (the step named
// "stamp", under the error policy p), and returns the "user window count"
// results, the step's metrics and the job's error.
func clickCounts(t *testing.T, p weir.ErrorPolicy, opts ...weir.Option) ([]string, weir.OperatorMetrics, error) {
	t.Helper()
	lines := []string{
		`{"user":"a","at":"2024-01-01T00:00:01Z"}`,
		`{"user":"b","at":"yesterday"}`, // line 2: does not parse
		`{"user":"a","at":"2024-01-01T00:00:12Z"}`,
		`{"user":"c"}`, // line 4: no time
		`{"user":"b","at":"2024-01-01T00:00:13Z"}`,
	}
	file := filepath.Join(t.TempDir(), "clicks.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := weir.New(opts...)
	src := weir.From(env, weir.Lines(file)).Name("clicks")
	clicks := weir.TryMap(src, decodeClick).Name("decode").AssignTime(clickTime, 0).Name("stamp").OnError(p)
	counts := weir.Aggregate(weir.Windowed(weir.KeyBy(clicks, func(c click) string { return c.User }),
		weir.TumblingEventTime(10*time.Second)), countOf[click]{})
	got := weir.Collect(weir.Map(counts, func(r weir.WindowResult[string, int64]) string {
		return fmt.Sprintf("%s %s %d", r.Key, time.UnixMilli(r.Window.Start).UTC().Format(time.TimeOnly), r.Value)
	}))
	err := env.Run(t.Context())
	var stamp weir.OperatorMetrics
	for _, m := range env.Metrics() {
		if m.Operator == "stamp" {
			stamp = m
		}
	}
	return sorted(got.Values()), stamp, err
}

// A time function's error, or the zero time it returns, meets the step's
// error policy like any user function's: the job fails naming the step and
// the line, the record is dead-lettered with the step and the error, or it
// is counted as skipped; the others get their times and windows.
func TestAssignTimeErrorPolicy(t *testing.T) {
	want := []string{"a 00:00:00 1", "a 00:00:10 1", "b 00:00:10 1"}
	t.Run("fail", func(t *testing.T) {
		_, _, err := clickCounts(t, weir.FailJob)
		if err == nil {
			t.Fatal("the job succeeded")
		}
		for _, s := range []string{`"stamp"`, "line 2", `parsing time "yesterday"`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
	})
	t.Run("skip", func(t *testing.T) {
		got, m, err := clickCounts(t, weir.Skip)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if m.In != 5 || m.Out != 3 || m.Skipped != 2 {
			t.Errorf("the step counted %d in, %d out, %d skipped; want 5, 3, 2", m.In, m.Out, m.Skipped)
		}
	})
	t.Run("dead-letter", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "dead")
		got, m, err := clickCounts(t, weir.DeadLetter, weir.DeadLetters(dir))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if m.DeadLettered != 2 {
			t.Errorf("the step dead-lettered %d records, want 2", m.DeadLettered)
		}
		type letter struct {
			Operator, Source, Error string
			Line                    int64
			Record                  click
		}
		var letters []letter
		for _, l := range readDeadLetters(t, dir) {
			var d letter
			if err := json.Unmarshal([]byte(l), &d); err != nil {
				t.Fatalf("dead letter %s: %v", l, err)
			}
			letters = append(letters, d)
		}
		slices.SortFunc(letters, func(a, b letter) int { return int(a.Line - b.Line) })
		if len(letters) != 2 {
			t.Fatalf("dead letters %+v, want 2", letters)
		}
		for i, w := range []struct {
			line  int64
			user  string
			error string
		}{{2, "b", `parsing time "yesterday"`}, {4, "c", "zero time.Time"}} {
			d := letters[i]
			if d.Operator != "stamp" || d.Source != "clicks" || d.Line != w.line || d.Record.User != w.user || !strings.Contains(d.Error, w.error) {
				t.Errorf("dead letter %+v, want operator stamp, source clicks, line %d, user %s, error saying %q", d, w.line, w.user, w.error)
			}
		}
	})
}

// A negative bound or watermark interval is a mistake in the job,
// reported before it runs with what was wrong and where.
func TestAssignTimeValidate(t *testing.T) {
	env := weir.New(weir.WatermarkInterval(-time.Second))
	decoded := weir.TryMap(weir.From(env, weir.Slice("k 1")), parseStamped).Name("decode")
	weir.Collect(decoded.AssignTime(stampedTime, -time.Millisecond))
	err := env.Validate()
	if err == nil {
		t.Fatal("the job is valid")
	}
	for _, s := range []string{`AssignTime after "decode": bound -1ms must not be negative`, "WatermarkInterval: -1s must not be negative"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// pacedSource has one split per list of lines; split i emits up to
// perPoll[i] lines per poll, so a slow split falls behind a fast one.
type pacedSource struct {
	lines   [][]string
	perPoll []int
}

func (s pacedSource) Splits(context.Context) ([]weir.Split, error) {
	out := make([]weir.Split, len(s.lines))
	for i := range out {
		out[i] = weir.Split{ID: strconv.Itoa(i)}
	}
	return out, nil
}

func (s pacedSource) Bounded() bool { return true }

func (s pacedSource) OpenSplit(_ context.Context, sp weir.Split, _ []byte) (weir.SplitReader[string], error) {
	i, _ := strconv.Atoi(sp.ID)
	return &pacedReader{lines: s.lines[i], perPoll: s.perPoll[i]}, nil
}

type pacedReader struct {
	lines   []string
	perPoll int
	next    int
}

func (r *pacedReader) Poll(out weir.SourceOutput[string], max int) (weir.PollStatus, error) {
	for n := 0; n < min(max, r.perPoll) && r.next < len(r.lines); n++ {
		out.Emit(r.lines[r.next], int64(r.next))
		r.next++
	}
	if r.next == len(r.lines) {
		return weir.End, nil
	}
	return weir.More, nil
}

func (r *pacedReader) Position() []byte { return strconv.AppendInt(nil, int64(r.next), 10) }
func (r *pacedReader) Close() error     { return nil }

// stampedLine is "key ms".
type stampedLine struct {
	Key string
	Ms  int64
}

func parseStamped(s string) (stampedLine, error) {
	k, ms, ok := strings.Cut(s, " ")
	if !ok {
		return stampedLine{}, fmt.Errorf("line %q is not \"key ms\"", s)
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	return stampedLine{k, n}, err
}

func stampedTime(s stampedLine) (time.Time, error) { return time.UnixMilli(s.Ms), nil }

// lateness records, per record, its event time against the watermark of
// the operator it reaches: late records (at or before the watermark) and
// the watermarks seen.
type lateness struct{ *latenessSeen }

// latenessSeen is shared by the copies a job makes of a lateness.
type latenessSeen struct {
	mu   sync.Mutex
	late []string
	wms  []int64
}

func (l *lateness) Process(ctx weir.KeyedContext[string], r stampedLine, out weir.Out[string]) error {
	ts, ok := ctx.Timestamp()
	wm := ctx.Watermark()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		return fmt.Errorf("record %v has no event time", r)
	}
	if !wm.IsZero() {
		l.wms = append(l.wms, wm.UnixMilli())
		if !ts.After(wm) {
			l.late = append(l.late, fmt.Sprintf("%s@%d behind watermark %d", r.Key, r.Ms, wm.UnixMilli()))
		}
	}
	out.Emit(r.Key)
	return nil
}

// Decode, then assign time: the step chained to its source through a
// try-map and a filter keeps one watermark per split, so a slow split's
// records are not late behind a fast split's, and the watermark still
// moves (it is the slow split's).
func TestAssignTimePerSplit(t *testing.T) {
	var fast, slow []string
	for i := range 200 {
		fast = append(fast, fmt.Sprintf("fast %d", 100_000+i*1000))
		slow = append(slow, fmt.Sprintf("slow %d", 1_000+i*10))
	}
	slow = append(slow, "slow not-a-time") // dropped by the filter
	env := weir.New(weir.WatermarkInterval(0))
	src := weir.From(env, pacedSource{lines: [][]string{fast, slow}, perPoll: []int{100, 1}}).Name("src")
	decoded := weir.TryMap(src, func(s string) (stampedLine, error) {
		r, err := parseStamped(s)
		if err != nil {
			return stampedLine{Key: "bad"}, nil
		}
		return r, nil
	}).Name("decode")
	kept := decoded.Filter(func(r stampedLine) bool { return r.Key != "bad" }).Name("drop")
	stamped := kept.AssignTime(stampedTime, 0).Name("stamp")
	l := &lateness{&latenessSeen{}}
	got := weir.Collect(weir.Process(weir.KeyBy(stamped, func(r stampedLine) string { return r.Key }),
		weir.KeyedProcessFunction[string, stampedLine, string](l)))
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "task src -> decode -> drop -> stamp (parallelism 1)") {
		t.Fatalf("the step is not chained to its source:\n%s", plan)
	}
	run(t, env)
	if n := len(got.Values()); n != 400 {
		t.Errorf("%d records, want 400", n)
	}
	if len(l.late) > 0 {
		t.Errorf("%d records late, first %q", len(l.late), l.late[:min(3, len(l.late))])
	}
	if len(l.wms) == 0 || slices.Max(l.wms) < 1_000 {
		t.Errorf("the watermark did not move with the slow split: %v", l.wms)
	}
}

// hushedSplits has a split that emits one early record and then nothing
// until the job's watermark has passed the other split's records (wait is
// closed), and a split of later records.
type hushedSplits struct{ wait chan struct{} }

func (s hushedSplits) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "quiet"}, {ID: "busy"}}, nil
}
func (s hushedSplits) Bounded() bool { return true }
func (s hushedSplits) OpenSplit(_ context.Context, sp weir.Split, _ []byte) (weir.SplitReader[string], error) {
	if sp.ID == "quiet" {
		return &hushedReader{wait: s.wait}, nil
	}
	return &busyReader{wait: s.wait, ms: 10_000}, nil
}

// busyReader emits a record a poll, a second later each, until wait is
// closed.
type busyReader struct {
	wait chan struct{}
	ms   int64
}

func (r *busyReader) Poll(out weir.SourceOutput[string], _ int) (weir.PollStatus, error) {
	select {
	case <-r.wait:
		return weir.End, nil
	default:
	}
	out.Emit(fmt.Sprintf("busy %d", r.ms), r.ms)
	r.ms += 1000
	return weir.More, nil
}
func (r *busyReader) Position() []byte { return nil }
func (r *busyReader) Close() error     { return nil }

type hushedReader struct {
	wait chan struct{}
	sent bool
}

func (r *hushedReader) Poll(out weir.SourceOutput[string], _ int) (weir.PollStatus, error) {
	if !r.sent {
		r.sent = true
		out.Emit("quiet 1000", 0)
		return weir.More, nil
	}
	select {
	case <-r.wait:
		return weir.End, nil
	default:
		return weir.Wait, nil
	}
}
func (r *hushedReader) Position() []byte { return nil }
func (r *hushedReader) Close() error     { return nil }

// watermarkWatch closes passed once its watermark reaches at.
type watermarkWatch struct {
	at     time.Time
	passed chan struct{}
	once   sync.Once
}

func (w *watermarkWatch) Process(ctx weir.KeyedContext[string], r stampedLine, out weir.Out[string]) error {
	if !ctx.Watermark().Before(w.at) {
		w.once.Do(func() { close(w.passed) })
	}
	return nil
}

// A split that goes quiet behind a per-split step is idle after its
// IdleTimeout and holds the watermark back no more: the job's watermark
// follows the busy split's times while the quiet one has not ended (both
// end once it has passed 15 s).
func TestAssignTimePerSplitIdle(t *testing.T) {
	passed := make(chan struct{})
	env := weir.New()
	src := weir.From(env, hushedSplits{wait: passed}, weir.IdleTimeout(20*time.Millisecond))
	stamped := weir.TryMap(src, parseStamped).AssignTime(stampedTime, 0)
	weir.Collect(weir.Process(weir.KeyBy(stamped, func(r stampedLine) string { return r.Key }),
		weir.KeyedProcessFunction[string, stampedLine, string](&watermarkWatch{at: time.UnixMilli(15_000), passed: passed})))
	run(t, env)
}

// watermarks records the watermark each record meets, in order (-1 for
// none yet), in the slice it points to, which the job's copies share.
type watermarks struct{ seen *[]int64 }

func newWatermarks() watermarks { return watermarks{seen: new([]int64)} }

func (w watermarks) Process(ctx weir.KeyedContext[string], r stampedLine, out weir.Out[string]) error {
	wm := ctx.Watermark()
	if wm.IsZero() {
		*w.seen = append(*w.seen, -1)
	} else {
		*w.seen = append(*w.seen, wm.UnixMilli())
	}
	return nil
}

// Behind an exchange the step makes its subtask's watermark from the
// records it sees, replacing the one it receives: after every input batch,
// and with WatermarkInterval(0) after every record. A watermark from
// upstream (a source whose EventTime puts every record far ahead) reaches
// no operator after the step, not even before the step has seen a record
// (the first ones are dropped before it).
func TestAssignTimeBehindExchange(t *testing.T) {
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("k %d", 1000+i*1000))
	}
	ahead := weir.EventTime(func(string) time.Time { return time.UnixMilli(1e12) }, 0)
	for _, c := range []struct {
		name string
		opt  weir.Option
		src  []weir.SourceOption
		// per is how many records go by between watermarks.
		per int
	}{
		{"per batch", weir.BatchSize(10), nil, 10},
		{"per record", weir.WatermarkInterval(0), nil, 1},
		{"upstream watermark replaced", weir.WatermarkInterval(0), []weir.SourceOption{ahead}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := weir.New(weir.DisableChaining(), c.opt)
			in := lines
			if c.src != nil {
				in = append([]string{"drop", "drop", "drop"}, lines...)
			}
			src := weir.From(env, weir.Slice(in...), c.src...).Filter(func(s string) bool { return s != "drop" })
			stamped := weir.TryMap(src, parseStamped).AssignTime(stampedTime, 0)
			w := newWatermarks()
			weir.Collect(weir.Process(weir.KeyBy(stamped, func(r stampedLine) string { return r.Key }),
				weir.KeyedProcessFunction[string, stampedLine, string](w)))
			run(t, env)
			// Record i meets the watermark the last record of the
			// batch before its own made.
			var want []int64
			for i := range 50 {
				if i < c.per {
					want = append(want, -1)
					continue
				}
				last := i - i%c.per - 1
				want = append(want, 1000+int64(last)*1000-1)
			}
			if !slices.Equal(*w.seen, want) {
				t.Fatalf("watermarks met %v, want %v", *w.seen, want)
			}
		})
	}
}

// smallFile writes a file of n lines "k MS", MS = 1000·line, and returns
// its name.
func smallFile(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "k %d\n", i*1000)
	}
	file := filepath.Join(t.TempDir(), "small.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// A file of 320 lines is read in two polls (256 lines, then 64). With a
// watermark only after each poll (an interval longer than the polls take)
// its first 256 records meet no watermark at all and the others the one
// the first poll ended with; with WatermarkInterval(0) every record meets
// the one its predecessor made. Either way, whether the source's EventTime
// or an AssignTime step makes it.
func TestWatermarkIntervalSmallFile(t *testing.T) {
	file := smallFile(t, 320)
	perRecord, perPoll := []int64{-1}, []int64{}
	for i := 1; i < 320; i++ {
		perRecord = append(perRecord, int64(i)*1000-1)
	}
	for i := range 320 {
		if i < 256 {
			perPoll = append(perPoll, -1)
		} else {
			perPoll = append(perPoll, 256_000-1)
		}
	}
	for _, c := range []struct {
		interval time.Duration
		step     bool
		want     []int64
	}{
		{time.Hour, false, perPoll},
		{time.Hour, true, perPoll},
		{0, false, perRecord},
		{0, true, perRecord},
	} {
		step, want := c.step, c.want
		t.Run(fmt.Sprintf("interval=%v/step=%v", c.interval, step), func(t *testing.T) {
			env := weir.New(weir.WatermarkInterval(c.interval))
			var recs weir.Stream[stampedLine]
			if step {
				recs = weir.TryMap(weir.From(env, weir.Lines(file)), parseStamped).AssignTime(stampedTime, 0)
			} else {
				recs = weir.TryMap(weir.From(env, weir.Lines(file), weir.EventTime(func(s string) time.Time {
					r, _ := parseStamped(s)
					return time.UnixMilli(r.Ms)
				}, 0)), parseStamped)
			}
			w := newWatermarks()
			weir.Collect(weir.Process(weir.KeyBy(recs, func(r stampedLine) string { return r.Key }),
				weir.KeyedProcessFunction[string, stampedLine, string](w)))
			run(t, env)
			if !slices.Equal(*w.seen, want) {
				t.Fatalf("watermarks met %v,\nwant %v", *w.seen, want)
			}
		})
	}
}

// With the default interval, a poll that takes long — here a chained step
// that takes 10 ms a record — sends watermarks within it, so records of
// its first poll meet watermarks that move on.
func TestWatermarkIntervalSlowPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lines []string
		for i := range 256 {
			lines = append(lines, fmt.Sprintf("k %d", 1000+i*1000))
		}
		env := weir.New()
		src := weir.From(env, weir.Slice(lines...))
		slow := weir.TryMap(src, func(s string) (stampedLine, error) {
			time.Sleep(10 * time.Millisecond)
			return parseStamped(s)
		})
		w := newWatermarks()
		weir.Collect(weir.Process(weir.KeyBy(slow.AssignTime(stampedTime, 0), func(r stampedLine) string { return r.Key }),
			weir.KeyedProcessFunction[string, stampedLine, string](w)))
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// 2.56 s of reading in one poll: a watermark is due every 20
		// records, and the clock is looked at every 64, so the records
		// meet the start and three more.
		distinct := slices.Compact(slices.Clone(*w.seen))
		if len(distinct) < 4 {
			t.Fatalf("records of one poll met %d distinct watermarks, want at least 4: %v", len(distinct), distinct)
		}
	})
}

// lateStarter is a split that has nothing for its first 50 ms and then
// emits its lines.
type lateStarter struct{ lines []string }

func (s lateStarter) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s lateStarter) Bounded() bool { return true }
func (s lateStarter) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[string], error) {
	return &lateStartReader{start: time.Now(), paced: pacedReader{lines: s.lines, perPoll: len(s.lines)}}, nil
}

type lateStartReader struct {
	start time.Time
	paced pacedReader
}

func (r *lateStartReader) Poll(out weir.SourceOutput[string], max int) (weir.PollStatus, error) {
	if time.Since(r.start) < 50*time.Millisecond {
		return weir.Wait, nil
	}
	return r.paced.Poll(out, max)
}
func (r *lateStartReader) Position() []byte { return nil }
func (r *lateStartReader) Close() error     { return nil }

// A split idle by its timeout that emits again is active from its first
// record, also for the watermarks sent within that poll.
func TestWatermarkIntervalAfterIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lines []string
		for i := range 64 {
			lines = append(lines, fmt.Sprintf("k %d", 1000+i*1000))
		}
		env := weir.New(weir.WatermarkInterval(0))
		src := weir.From(env, lateStarter{lines: lines}, weir.IdleTimeout(20*time.Millisecond))
		w := newWatermarks()
		weir.Collect(weir.Process(weir.KeyBy(weir.TryMap(src, parseStamped).AssignTime(stampedTime, 0),
			func(r stampedLine) string { return r.Key }), weir.KeyedProcessFunction[string, stampedLine, string](w)))
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []int64{-1}
		for i := range 63 {
			want = append(want, 1000+int64(i)*1000-1)
		}
		if !slices.Equal(*w.seen, want) {
			t.Fatalf("watermarks met %v, want %v", *w.seen, want)
		}
	})
}
