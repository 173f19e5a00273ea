// Command videoquality is a whole Weir job, the video-quality monitor of
// Weir's design in small: it watches the error rate of every title's
// views and alerts a customer when a title's rate leaves what is normal
// for that customer — no static threshold.
//
//   - Input: generated player views (a title, its customer, when the view
//     ended and the error that ended it, if any), in event time.
//   - Count windows: each title's views, -window at a time, give an error
//     rate.
//   - A keyed function, per customer, learns the normal error rate (mean
//     and deviation, in ValueState) and opens an alert when a rate is far
//     above it, and closes it when rates are back to normal.
//   - Alerts go to the exactly-once file sink (connectors/file): JSON
//     lines in part files under -out, committed with each checkpoint.
//   - Checkpoints every -interval into -checkpoints; Ctrl-C (SIGINT) or
//     SIGTERM stops the job with a savepoint, and -restore latest resumes
//     it where it stopped, each alert written once.
//
// Run it from the repository's root:
//
//	go run ./examples/videoquality -views 0 -rate 5000   # Ctrl-C to stop
//	go run ./examples/videoquality -views 0 -rate 5000 -restore latest
//	cat videoquality-out/part-*
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
)

func main() {
	stop := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "videoquality: stopping with a savepoint (again to cancel)")
		close(stop)
		<-sig
		cancel()
	}()
	err := run(ctx, os.Args[1:], stop, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "videoquality:", err)
		os.Exit(1)
	}
}

// View is one view of a title by a player: when it ended, and the error
// that ended it ("" when it played to its end).
type View struct {
	ID       int64
	Title    string
	Customer string
	EndedAt  time.Time
	Error    string
}

// TitleRate is the error rate of a count window of a title's views.
type TitleRate struct {
	Title    string
	Customer string
	Views    int64
	Errors   int64
	// From and To are the event times of the window's first and last view.
	From, To time.Time
}

// Rate is the share of the window's views that ended in an error.
func (r TitleRate) Rate() float64 { return float64(r.Errors) / float64(r.Views) }

// Alert opens or closes a customer's alert about a title.
type Alert struct {
	Customer  string    `json:"customer"`
	Title     string    `json:"title"`
	Open      bool      `json:"open"`
	ErrorRate float64   `json:"errorRate"`
	Normal    float64   `json:"normal"`
	At        time.Time `json:"at"`
}

// run parses args, builds the job and runs it until its input ends, stop
// is closed (a savepoint) or ctx is canceled.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("videoquality", flag.ContinueOnError)
	views := fs.Int64("views", 100_000, "views to generate; 0 for no end")
	rate := fs.Float64("rate", 0, "views per second; 0 for as fast as possible")
	window := fs.Int("window", 100, "views per count window")
	parallelism := fs.Int("parallelism", 2, "subtasks per operator")
	out := fs.String("out", "videoquality-out", "directory of the alerts' part files")
	checkpoints := fs.String("checkpoints", "videoquality-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 10*time.Second, "time between checkpoints")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *window <= 0 {
		return fmt.Errorf("-window %d: must be positive", *window)
	}
	if *interval <= 0 {
		return fmt.Errorf("-interval %v: must be positive", *interval)
	}

	opts := []weir.Option{
		weir.Parallelism(*parallelism),
		weir.Checkpoints(*interval, *checkpoints),
		weir.StopOn(stop),
		weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
			if m.Err == nil {
				fmt.Fprintf(stdout, "%s %d completed: %s\n", m.Kind(), m.ID, m.Path)
			}
		}),
	}
	if *restore != "" {
		opts = append(opts, weir.Restore(*restore))
	}
	env := weir.New(opts...)
	sink, err := file.New(file.Config[Alert]{Dir: *out, Format: file.JSONLines[Alert](), Ext: ".jsonl"})
	if err != nil {
		return err
	}
	build(env, weir.Generator(weir.GeneratorSpec{Count: *views, Rate: *rate}, generateView), *window, sink)
	if err := env.Run(ctx); err != nil {
		return err
	}
	m := env.JobMetrics()
	if m.Restored != nil {
		fmt.Fprintf(stdout, "resumed from %s %d: %s\n", m.Restored.Kind(), m.Restored.ID, m.Restored.Path)
	}
	if m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}

// build adds the job to env: views from src, rates per title and count
// window, alerts per customer, into sink. Every operator has an ID, so
// that a savepoint restores into a changed job.
func build(env *weir.Env, src weir.Source[View], window int, sink weir.Sink[Alert]) {
	views := weir.From(env, src, weir.EventTime(func(v View) time.Time { return v.EndedAt }, 5*time.Second)).ID("views")
	rates := weir.CountWindow(weir.KeyBy(views, func(v View) string { return v.Title }), window, window, errorCount{}).ID("rates")
	titleRates := weir.Map(rates, func(r weir.WindowResult[string, TitleRate]) TitleRate { return r.Value }).ID("rate")
	alerts := weir.Process(weir.KeyBy(titleRates, func(r TitleRate) string { return r.Customer }), &normal{}).ID("alerts")
	weir.To(alerts, sink).ID("alerts-out")
}

// errorCount counts a window's views and errors. Its accumulator is a
// struct of values, so Add may change its copy and return it; Merge is
// never called by count windows.
type errorCount struct{}

func (errorCount) CreateAccumulator() TitleRate { return TitleRate{} }

func (errorCount) Add(v View, r TitleRate) TitleRate {
	if r.Views == 0 {
		r.Title, r.Customer, r.From = v.Title, v.Customer, v.EndedAt
	}
	r.Views++
	if v.Error != "" {
		r.Errors++
	}
	r.To = v.EndedAt
	return r
}

func (errorCount) Result(r TitleRate) TitleRate { return r }

func (errorCount) Merge(a, b TitleRate) TitleRate {
	a.Views += b.Views
	a.Errors += b.Errors
	a.To = b.To
	return a
}

// Baseline is what is normal for a customer: the mean and spread of its
// titles' error rates (Welford's running variance), and whether an alert
// is open, per title.
type Baseline struct {
	N        int64
	Mean, M2 float64
	Open     map[string]bool
}

// minWindows is how many windows a customer's baseline learns from before
// it may alert.
const minWindows = 20

func (b Baseline) stddev() float64 {
	if b.N < 2 {
		return 0
	}
	return math.Sqrt(b.M2 / float64(b.N-1))
}

// learn returns b with r's rate added; b.Open is shared, not copied.
func (b Baseline) learn(x float64) Baseline {
	b.N++
	d := x - b.Mean
	b.Mean += d / float64(b.N)
	b.M2 += d * (x - b.Mean)
	return b
}

// normal opens and closes each customer's alerts.
type normal struct {
	base weir.ValueState[string, Baseline]
}

func (n *normal) Open(c weir.KeyedOpenContext[string]) error {
	n.base = weir.Value[Baseline](c, "baseline")
	return nil
}

func (n *normal) Process(c weir.KeyedContext[string], r TitleRate, out weir.Out[Alert]) error {
	b, _, err := n.base.Get(c)
	if err != nil {
		return err
	}
	x, sd := r.Rate(), b.stddev()
	open := b.Open[r.Title]
	alert := Alert{Customer: c.Key(), Title: r.Title, ErrorRate: x, Normal: b.Mean, At: r.To.UTC()}
	switch {
	case !open && b.N >= minWindows && x > b.Mean+3*sd+0.02:
		alert.Open = true
		out.Emit(alert)
		b.Open = with(b.Open, r.Title, true)
	case open && x <= b.Mean+sd:
		out.Emit(alert)
		b.Open = with(b.Open, r.Title, false)
	}
	if !open && !alert.Open {
		b = b.learn(x) // an incident does not become normal
	}
	return n.base.Set(c, b)
}

// with returns a copy of m with k set to v (false deletes it): the map in
// state is never changed in place, since a checkpoint may be reading it.
func with(m map[string]bool, k string, v bool) map[string]bool {
	c := make(map[string]bool, len(m)+1)
	for mk, mv := range m {
		c[mk] = mv
	}
	if v {
		c[k] = true
	} else {
		delete(c, k)
	}
	return c
}

// The generated input: 40 titles of 4 customers, views ending 10 ms apart
// from a fixed start, about 2% of them in errors; from view 40 000 to view
// 60 000, the titles of one customer fail about a third of the time.
var (
	customers = []string{"acme", "globex", "initech", "umbrella"}
	errorKind = []string{"buffering", "network", "decode"}
	start     = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
)

const (
	titles                   = 40
	incidentFrom, incidentTo = 40_000, 60_000
	incidentCustomer         = "globex"
	normalErrors, badErrors  = 0.02, 0.33
)

// generateView returns view seq; the same seq gives the same view.
func generateView(seq int64) View {
	h := splitmix(uint64(seq))
	t := int(h % titles)
	v := View{
		ID:       seq,
		Title:    fmt.Sprintf("title-%02d", t),
		Customer: customers[t%len(customers)],
		EndedAt:  start.Add(time.Duration(seq) * 10 * time.Millisecond),
	}
	p := normalErrors
	if v.Customer == incidentCustomer && seq >= incidentFrom && seq < incidentTo {
		p = badErrors
	}
	if u := float64(splitmix(h)>>11) / (1 << 53); u < p {
		v.Error = errorKind[h>>32%uint64(len(errorKind))]
	}
	return v
}

// splitmix is the SplitMix64 mix: a well-spread hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
