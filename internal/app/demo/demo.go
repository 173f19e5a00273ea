// Package demo is the job behind `weir demo`: the video-quality monitoring
// pipeline of a video analytics company, on generated view events.
//
// Players report each video view when it ends, with an error type if
// playback failed. The job keys views by video title and, with a keyed
// process function, closes a block every BlockSize views of a title (a count
// window) with the error rate per error type; then, keyed by customer, it
// scores each block's error rate against the customer's learned model of
// normal (package normal) and prints alerts as they open and close.
//
// The generator simulates a day every ViewsPerDay views (five seconds at the
// default rate): each customer's error rate has a daily cycle at its
// viewers' local time, one drifts slowly upwards, one has a nightly batch
// job that triples its errors for two hours — normal, which the model
// learns — and Incidents injects one incident of each shape: a step, a
// short burst, a ramp and one title's source failing. The first is in a
// default ten-second run.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/normal"
)

// ErrorTypes are the playback errors players report.
var ErrorTypes = []string{"network", "decode", "drm", "timeout"}

// View is one video view, reported by a player when it ended.
type View struct {
	ViewID   int64
	Title    string
	Customer string
	EndedAt  time.Time
	// Error is empty for a view that played without error.
	Error string
}

// Block is the summary of BlockSize consecutive views of one title.
type Block struct {
	Title    string
	Customer string
	Views    int
	Errors   map[string]int // views per error type
	End      time.Time      // event time of the block's last view
}

// Rate returns the share of the block's views that failed with errType.
func (b Block) Rate(errType string) float64 {
	if b.Views == 0 {
		return 0
	}
	return float64(b.Errors[errType]) / float64(b.Views)
}

// String formats the block as the demo prints it.
func (b Block) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-28s views=%d", b.Title, b.Views)
	total := 0
	for _, t := range ErrorTypes {
		fmt.Fprintf(&sb, " %s=%.1f%%", t, 100*b.Rate(t))
		total += b.Errors[t]
	}
	fmt.Fprintf(&sb, " all=%.1f%%", 100*float64(total)/float64(max(b.Views, 1)))
	return sb.String()
}

// Options configures the demo.
type Options struct {
	// Duration bounds the run; zero runs until ctx is canceled.
	Duration time.Duration
	// Rate is the number of views generated per second.
	Rate float64
	// Views bounds the number of generated views; zero means unbounded.
	Views int64
	// BlockSize is the number of views per block (a count window).
	BlockSize int
	// Blocks prints every block, besides the alerts.
	Blocks bool
	// Parallelism of the job.
	Parallelism int
	// Splits is the number of the generator's splits; zero means 4. With
	// one split and parallelism 1 the views reach every operator in one
	// order, whatever the pace, so the alerts are the same run after run.
	Splits int

	// CheckpointDir, when not empty, makes the job take checkpoints into
	// this directory, creating it when needed.
	CheckpointDir string
	// CheckpointInterval is the time between checkpoints; it must be
	// positive when CheckpointDir is set and is ignored otherwise.
	CheckpointInterval time.Duration
	// Restore, when not empty, starts the job from a checkpoint or
	// savepoint: "latest" for the newest in CheckpointDir, or the path of a
	// chk-<id> or sp-<id> directory or of a directory holding them.
	Restore string
	// AllowNonRestoredState lets Restore drop the state of operators the job
	// no longer has instead of failing.
	AllowNonRestoredState bool
	// Stop, when closed, stops the run like the end of Duration does (the
	// first Ctrl-C).
	Stop <-chan struct{}
	// Metrics, when set, is given the job's counts when it has ended
	// (weir.Env.Metrics), for a summary.
	Metrics func([]weir.OperatorMetrics)
	// EnvOptions are further options of the job (restarts, logging).
	EnvOptions []weir.Option
}

// DefaultOptions returns the options `weir demo` runs with.
func DefaultOptions() Options {
	return Options{Duration: 10 * time.Second, Rate: 20000, BlockSize: 100, Parallelism: 2,
		CheckpointInterval: 10 * time.Second}
}

// Validate reports the first problem with the options.
func (o Options) Validate() error {
	switch {
	case o.Duration < 0:
		return fmt.Errorf("duration %v must not be negative", o.Duration)
	case !(o.Rate >= 0) || math.IsInf(o.Rate, 1):
		return fmt.Errorf("rate %v must be a finite number, not negative (0 is as fast as possible)", o.Rate)
	case o.Views < 0:
		return fmt.Errorf("views %d must not be negative", o.Views)
	case o.BlockSize <= 0:
		return fmt.Errorf("block size %d must be positive", o.BlockSize)
	case o.Parallelism <= 0:
		return fmt.Errorf("parallelism %d must be positive", o.Parallelism)
	case o.CheckpointDir != "" && o.CheckpointInterval <= 0:
		return fmt.Errorf("checkpoint interval %v must be positive", o.CheckpointInterval)
	case o.Restore == "latest" && o.CheckpointDir == "":
		return errors.New(`restore "latest" needs a checkpoint dir to take the newest checkpoint from`)
	}
	return nil
}

// The demo's operator IDs. A restore matches state to operators by ID, so
// these stay the same across versions of the demo even when its operators
// are renamed or the graph around them changes.
const (
	sourceID = "views"
	windowID = "count-window"
	sinkID   = "print"
	rateID   = "error-rate"
	normalID = "normal-model"
	alertID  = "normal-alert"
	formatID = "format"
	alertsID = "alerts"
)

// Build describes the demo job on env, printing blocks to w.
func Build(env *weir.Env, w io.Writer, o Options) {
	views := weir.From(env,
		weir.Generator(weir.GeneratorSpec{Splits: cmp.Or(o.Splits, 4), Count: o.Views, Rate: o.Rate}, GenerateView),
		weir.EventTime(func(v View) time.Time { return v.EndedAt }, 5*time.Second),
		weir.IdleTimeout(10*time.Second),
	).Name("views").ID(sourceID)
	byTitle := weir.KeyBy(views, func(v View) string { return v.Title })
	blocks := weir.Process(byTitle, &blockCounter{size: o.BlockSize}).Name("count-window").ID(windowID)
	if o.Blocks {
		weir.To(blocks, weir.Print(w, Block.String)).Name("print").ID(sinkID)
	}
	rates := weir.Map(blocks, customerRate).Name("error-rate").ID(rateID)
	// A customer's model learns from its first 200 blocks (most of a
	// simulated day) before it scores.
	cfg := normal.DefaultConfig()
	cfg.Warmup = 200
	scorer, err := normal.NewScorer[string](cfg)
	if err != nil {
		panic(err) // the default configuration is valid
	}
	alerter, err := normal.NewAlerter[string](normal.DefaultAlertConfig())
	if err != nil {
		panic(err)
	}
	byCustomer := weir.KeyBy(rates, func(p normal.Point[string]) string { return p.Key })
	scored := weir.Process(byCustomer, scorer).Name("normal").ID(normalID)
	alerts := weir.Process(weir.KeyBy(scored, func(s normal.Scored[string]) string { return s.Key }), alerter).Name("alert").ID(alertID)
	lines := weir.Map(alerts, alertLine).Name("format").ID(formatID)
	weir.To(lines, weir.Print[string](w, nil)).Name("alerts").ID(alertsID)
}

// customerRate is a block's error rate (all error types) as a point of its
// customer's series, at the block's event time.
func customerRate(b Block) normal.Point[string] {
	total := 0
	for _, e := range b.Errors {
		total += e
	}
	return normal.Point[string]{Key: b.Customer, Time: b.End, Value: float64(total) / float64(max(b.Views, 1))}
}

// alertLine formats an alert as the demo prints it, with event times as
// the simulated day and time.
func alertLine(a normal.Alert[string]) string {
	if a.IsOpen() {
		return fmt.Sprintf("ALERT OPEN   customer=%s error-rate=%.1f%% expected=%.1f%%–%.1f%% score=%.2f at %s",
			a.Key, 100*a.Value, 100*max(a.Lo, 0), 100*a.Hi, a.Score, simTime(a.OpenedAt))
	}
	d := a.ClosedAt.Sub(a.OpenedAt).Round(time.Minute)
	return fmt.Sprintf("ALERT CLOSED customer=%s at %s after %s (opened at %s, error-rate=%.1f%%, score=%.2f)",
		a.Key, simTime(a.ClosedAt), strings.TrimSuffix(d.String(), "0s"), simTime(a.OpenedAt), 100*a.Value, a.Score)
}

// simTime formats an event time as "day N HH:MM" of the simulation.
func simTime(t time.Time) string {
	d := t.Sub(Epoch)
	day := int(d / (24 * time.Hour))
	return fmt.Sprintf("day %d %s", day, t.UTC().Format("15:04"))
}

// Run runs the demo until its duration is over, its views are exhausted or
// ctx is canceled. Reaching the duration is a normal end. With checkpoints,
// a run that exhausts its views ends with a final checkpoint; one stopped by
// its duration or ctx does not (that is a cancellation, not a drain).
//
// The run stops when Duration is over or Stop is closed: with checkpoints
// it stops with a savepoint, which a later run resumes with Restore;
// without, it is canceled. Canceling ctx always stops it at once.
func Run(ctx context.Context, w io.Writer, o Options) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer wg.Wait()
	defer close(done)
	wg.Go(func() {
		var timeout <-chan time.Time
		if o.Duration > 0 {
			t := time.NewTimer(o.Duration)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-timeout:
		case <-o.Stop:
		case <-done:
			return
		}
		close(stop)
	})
	opts := o.envOptions()
	if o.CheckpointDir != "" {
		opts = append(opts, weir.StopOn(stop))
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		wg.Go(func() {
			select {
			case <-stop:
				cancel()
			case <-done:
			}
		})
	}
	env := weir.New(opts...)
	Build(env, w, o)
	err := env.Run(ctx)
	if o.Metrics != nil {
		o.Metrics(env.Metrics())
	}
	select {
	case <-stop:
		if errors.Is(err, context.Canceled) {
			// Stopped without checkpoints: a normal end.
			return nil
		}
	default:
	}
	return err
}

// envOptions translates the options into the job's.
func (o Options) envOptions() []weir.Option {
	opts := []weir.Option{weir.Parallelism(o.Parallelism)}
	if o.CheckpointDir != "" {
		opts = append(opts, weir.Checkpoints(o.CheckpointInterval, o.CheckpointDir))
	}
	if o.Restore != "" {
		opts = append(opts, weir.Restore(o.Restore))
	}
	// The views are a function of their sequence number alone; how many
	// there are is what a run decides.
	opts = append(opts, weir.InputParameters(map[string]string{"views": strconv.FormatInt(o.Views, 10)}))
	if o.AllowNonRestoredState {
		opts = append(opts, weir.AllowNonRestoredState())
	}
	return append(opts, o.EnvOptions...)
}

// blockState is a title's open block.
type blockState struct {
	Views  int
	Errors map[string]int
}

// blockCounter closes a block every size views of a title: a count window
// written as a keyed process function.
type blockCounter struct {
	size  int
	state weir.ValueState[string, blockState]
}

func (b *blockCounter) Open(c weir.KeyedOpenContext[string]) error {
	b.state = weir.Value[blockState](c, "block")
	return nil
}

func (b *blockCounter) Process(c weir.KeyedContext[string], v View, out weir.Out[Block]) error {
	st, _, err := b.state.Get(c)
	if err != nil {
		return err
	}
	st.Views++
	if v.Error != "" {
		// Copy before writing: a value in state may be part of a snapshot.
		errs := make(map[string]int, len(st.Errors)+1)
		maps.Copy(errs, st.Errors)
		errs[v.Error]++
		st.Errors = errs
	}
	if st.Views < b.size {
		return b.state.Set(c, st)
	}
	if st.Errors == nil {
		st.Errors = map[string]int{}
	}
	out.Emit(Block{Title: c.Key(), Customer: v.Customer, Views: st.Views, Errors: st.Errors, End: v.EndedAt})
	return b.state.Clear(c)
}

// Titles are the generated video titles, most popular first.
var Titles = []string{
	"My Cat Video", "Breaking News at Nine", "Championship Highlights", "Cooking with Gas",
	"The Long Documentary", "Morning Yoga", "Quarterly Earnings Call", "Space Launch Live",
	"Indie Film Trailer", "Kids Cartoon Hour", "Guitar Lesson 12", "Travel Vlog: Lisbon",
}

// Customers are the generated customers; a title belongs to the customer
// at its index modulo len(Customers).
var Customers = []string{"cbs-like", "fitness-app", "edu-platform", "news-site"}

// The simulated clock: views end 864 ms apart in event time, so a day is
// ViewsPerDay views — five seconds of a run at the default 20 000 views/s,
// and a minute's run shows twelve days.
const ViewsPerDay = 100_000

// Epoch is the event time of view 0: a Monday, midnight UTC.
var Epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// profile is what is normal for a customer's error rate.
type profile struct {
	base  float64 // error rate at the daily mean
	tz    float64 // hours east of UTC of the customer's viewers
	cycle float64 // amplitude of the daily cycle, relative to base: errors peak at 21:00 local
	drift float64 // relative rise of base per day
	batch bool    // a nightly batch job (01:00–03:00 local) triples errors
}

var profiles = [...]profile{
	{base: 0.020, tz: -5, cycle: 0.5},
	{base: 0.015, tz: 1, cycle: 0.3, drift: 0.02},
	{base: 0.030, tz: 9, cycle: 0.2, batch: true},
	{base: 0.025, tz: 0, cycle: 0.4},
}

// An Incident is an abnormal stretch of one customer's error rate.
type Incident struct {
	Customer string
	// Shape is "step" (the rate jumps and stays), "ramp" (it climbs to
	// Rate and drops back at the end), "burst" (a short jump) or "source"
	// (one of the customer's titles fails — the CDN serving it).
	Shape      string
	Start, End int64 // view sequence numbers
	Rate       float64
}

// Incidents are the generated incidents, one of each shape. The first is
// in the default ten-second run.
var Incidents = []Incident{
	{Customer: "news-site", Shape: "step", Start: 3 * ViewsPerDay / 2, End: 3*ViewsPerDay/2 + ViewsPerDay/24, Rate: 0.30},
	{Customer: "fitness-app", Shape: "burst", Start: 26 * ViewsPerDay / 10, End: 26*ViewsPerDay/10 + ViewsPerDay/60, Rate: 0.40},
	{Customer: "cbs-like", Shape: "ramp", Start: 33 * ViewsPerDay / 10, End: 33*ViewsPerDay/10 + ViewsPerDay/8, Rate: 0.25},
	{Customer: "edu-platform", Shape: "source", Start: 44 * ViewsPerDay / 10, End: 44*ViewsPerDay/10 + ViewsPerDay/24, Rate: 0.60},
}

// GenerateView returns the view with sequence number seq. It is a pure
// function of seq, so every run sees the same views.
func GenerateView(seq int64) View {
	r := splitmix64(uint64(seq))
	// Popularity falls off with the title's rank: rank i gets weight
	// 1/(i+1).
	title := pickWeighted(r, len(Titles))
	ci := title % len(Customers)
	v := View{
		ViewID:   seq,
		Title:    Titles[title],
		Customer: Customers[ci],
		// Up to two seconds of disorder.
		EndedAt: Epoch.Add(time.Duration(seq)*(24*time.Hour/ViewsPerDay) - time.Duration(int64(r>>40)%2000)*time.Millisecond),
	}
	if float64(splitmix64(r)%1_000_000)/1_000_000 < errorRate(seq, title) {
		v.Error = ErrorTypes[(r>>8)%uint64(len(ErrorTypes))]
	}
	return v
}

// errorRate is the chance that view seq, of the given title, fails.
func errorRate(seq int64, title int) float64 {
	ci := title % len(Customers)
	p := profiles[ci]
	days := float64(seq) / ViewsPerDay
	local := math.Mod(days*24+p.tz+48, 24) // hour of the day where the viewers are
	rate := p.base * (1 + p.drift*days) * (1 + p.cycle*math.Cos(2*math.Pi*(local-21)/24))
	if p.batch && local >= 1 && local < 3 {
		rate *= 3
	}
	for _, in := range Incidents {
		if in.Customer != Customers[ci] || seq < in.Start || seq >= in.End {
			continue
		}
		switch in.Shape {
		case "ramp":
			rate = max(rate, in.Rate*float64(seq-in.Start)/float64(in.End-in.Start))
		case "source":
			if title == ci { // the customer's most popular title
				rate = in.Rate
			}
		default:
			rate = in.Rate
		}
	}
	return rate
}
func pickWeighted(r uint64, n int) int {
	var total float64
	for i := range n {
		total += 1 / float64(i+1)
	}
	x := float64(r>>11) / (1 << 53) * total
	for i := range n {
		x -= 1 / float64(i+1)
		if x < 0 {
			return i
		}
	}
	return n - 1
}

// splitmix64 is the SplitMix64 mixing function (Steele, Lea and Flood,
// 2014): a fast, well-distributed hash of a counter.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
