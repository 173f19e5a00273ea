// Package demo is the job behind `weir demo`: the video-quality monitoring
// pipeline of a video analytics company, on generated view events.
//
// Players report each video view when it ends, with an error type if
// playback failed. The job keys views by video title and, with a keyed
// process function, closes a block every BlockSize views of a title (a count
// window) with the error rate per error type; then, keyed by customer, it
// learns each customer's normal error rate and prints alerts as they open
// and close. The generator injects an incident for one customer so that a
// default run shows an alert.
package demo

import (
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
	normalID = "normal"
	alertsID = "alerts"
)

// Build describes the demo job on env, printing blocks to w.
func Build(env *weir.Env, w io.Writer, o Options) {
	views := weir.From(env,
		weir.Generator(weir.GeneratorSpec{Splits: 4, Count: o.Views, Rate: o.Rate}, GenerateView),
		weir.EventTime(func(v View) time.Time { return v.EndedAt }, 5*time.Second),
		weir.IdleTimeout(10*time.Second),
	).Name("views").ID(sourceID)
	byTitle := weir.KeyBy(views, func(v View) string { return v.Title })
	blocks := weir.Process(byTitle, &blockCounter{size: o.BlockSize}).Name("count-window").ID(windowID)
	if o.Blocks {
		weir.To(blocks, weir.Print(w, Block.String)).Name("print").ID(sinkID)
	}
	byCustomer := weir.KeyBy(blocks, func(b Block) string { return b.Customer })
	alerts := weir.Process(byCustomer, &normalRate{}).Name("normal").ID(normalID)
	weir.To(alerts, weir.Print[string](w, nil)).Name("alerts").ID(alertsID)
}

// The normal-rate model: after warmup blocks of a customer, a block whose
// error rate is more than deviations standard deviations (at least
// minDeviation) above the customer's mean is abnormal; an alert opens after
// openAfter abnormal blocks in a row and closes after closeAfter normal
// ones. The baseline learns only while no alert is open, so an incident
// never becomes normal.
const (
	warmup       = 20
	deviations   = 5.0
	minDeviation = 0.02
	openAfter    = 2
	closeAfter   = 3
)

// baseline is what the model keeps per customer: Welford's running mean and
// variance of its blocks' error rates, and the alert's state.
type baseline struct {
	N        int
	Mean, M2 float64
	Open     bool
	Streak   int // abnormal blocks in a row while closed, normal ones while open
	Blocks   int // blocks since the alert opened
}

func (b baseline) deviation() float64 {
	if b.N < 2 {
		return minDeviation
	}
	return max(math.Sqrt(b.M2/float64(b.N-1)), minDeviation)
}

func (b *baseline) learn(x float64) {
	b.N++
	d := x - b.Mean
	b.Mean += d / float64(b.N)
	b.M2 += d * (x - b.Mean)
}

// normalRate learns each customer's normal error rate and prints alerts as
// they open and close.
type normalRate struct {
	base weir.ValueState[string, baseline]
}

func (n *normalRate) Open(c weir.KeyedOpenContext[string]) error {
	n.base = weir.Value[baseline](c, "baseline")
	return nil
}

func (n *normalRate) Process(c weir.KeyedContext[string], bl Block, out weir.Out[string]) error {
	b, _, err := n.base.Get(c)
	if err != nil {
		return err
	}
	total := 0
	for _, e := range bl.Errors {
		total += e
	}
	rate := float64(total) / float64(max(bl.Views, 1))
	abnormal := b.N >= warmup && rate > b.Mean+deviations*b.deviation()
	switch {
	case b.N < warmup:
		b.learn(rate)
	case !b.Open && abnormal:
		if b.Streak++; b.Streak >= openAfter {
			b.Open, b.Streak, b.Blocks = true, 0, 0
			out.Emit(fmt.Sprintf("ALERT OPEN   customer=%s error-rate=%.1f%% normal=%.1f%%±%.1f%% (%s)",
				c.Key(), 100*rate, 100*b.Mean, 100*b.deviation(), bl.Title))
		}
	case !b.Open:
		b.Streak = 0
		b.learn(rate)
	default:
		b.Blocks++
		if abnormal {
			b.Streak = 0
		} else if b.Streak++; b.Streak >= closeAfter {
			b.Open, b.Streak = false, 0
			out.Emit(fmt.Sprintf("ALERT CLOSED customer=%s error-rate=%.1f%% normal=%.1f%% after %d blocks",
				c.Key(), 100*rate, 100*b.Mean, b.Blocks))
		}
	}
	return n.base.Set(c, b)
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

var customers = []string{"cbs-like", "fitness-app", "edu-platform", "news-site"}

// GenerateView returns the view with sequence number seq. It is a pure
// function of seq, so every run sees the same views.
func GenerateView(seq int64) View {
	r := splitmix64(uint64(seq))
	// Popularity falls off with the title's rank: rank i gets weight
	// 1/(i+1).
	title := pickWeighted(r, len(Titles))
	cust := customers[title%len(customers)]
	v := View{
		ViewID:   seq,
		Title:    Titles[title],
		Customer: cust,
		// Views end a millisecond apart in event time, with up to two
		// seconds of disorder.
		EndedAt: time.UnixMilli(1_700_000_000_000 + seq - int64(r>>40)%2000),
	}
	// Each customer has its own normal error rate: 1% to 4% — except
	// during the incident.
	p := splitmix64(r) % 1000
	rate := uint64(10 + 10*(title%len(customers)))
	if cust == IncidentCustomer && seq >= IncidentStart && seq < IncidentEnd {
		rate = 300
	}
	if p < rate {
		v.Error = ErrorTypes[(r>>8)%uint64(len(ErrorTypes))]
	}
	return v
}

// The injected incident: views IncidentStart to IncidentEnd of
// IncidentCustomer fail 30% of the time instead of 4% — from 3 s to 6 s into
// a demo at the default 20 000 views/s.
const (
	IncidentCustomer = "news-site"
	IncidentStart    = 60_000
	IncidentEnd      = 120_000
)

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
