// Command joiner joins the plays of a streaming service to the impressions
// that led to them — which title shown to which profile was played —
// from two Kafka topics, in event time: Keystone's co-process joiner.
//
//   - Input: impressions on topic -impressions, {"id":"i1",
//     "profile":"p1","title":"Cat Video"}, and plays on topic -plays,
//     {"impression":"i1","profile":"p1"}; each one's time is its Kafka
//     timestamp, and the two topics are read at their own pace.
//   - Both streams are keyed by impression ID into one keyed co-process
//     function. A play counts for an impression when it comes within
//     -within after it; either may be read first. The function keeps an
//     impression until the watermark passes the end of its window, and a
//     play whose impression it has not seen until the watermark passes the
//     play's own time: then the impression cannot come any more. Timers
//     evict both, so the state goes back to nothing for every impression
//     whose time has passed, however long the job runs.
//   - A joined play goes to topic -out; a play that joins no impression
//     (none with its ID, or not within -within after it) goes to topic
//     -orphans for later analysis: every play goes to exactly one of them.
//     Both are written exactly once, in Kafka transactions committed with
//     each checkpoint.
//   - Ctrl-C stops the job with a savepoint; -restore latest resumes it.
//
// Run it from the repository's root with the development broker and kcat:
//
//	go run ./cmd/weir dev kafka --topic impressions,plays,impression-plays,orphan-plays   # terminal 1
//	go run ./examples/joiner -within 1m                                                    # terminal 2
//	echo '{"id":"i1","profile":"p1","title":"Cat Video"}' | kcat -b 127.0.0.1:9092 -P -t impressions
//	echo '{"impression":"i1","profile":"p1"}' | kcat -b 127.0.0.1:9092 -P -t plays
//	kcat -b 127.0.0.1:9092 -C -t impression-plays -e -X isolation.level=read_committed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

func main() {
	stop := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-sig
		close(stop) // a savepoint; a second signal cancels
		<-sig
		cancel()
	}()
	if err := run(ctx, os.Args[1:], stop, os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "joiner:", err)
		os.Exit(1)
	}
}

// Impression is a title shown to a profile.
type Impression struct {
	ID      string    `json:"id"`
	Profile string    `json:"profile"`
	Title   string    `json:"title"`
	At      time.Time `json:"-"`
}

// Play is a profile playing what an impression showed it.
type Play struct {
	Impression string    `json:"impression"`
	Profile    string    `json:"profile"`
	At         time.Time `json:"-"`
}

// Joined is a play joined to its impression.
type Joined struct {
	Impression string    `json:"impression"`
	Profile    string    `json:"profile"`
	Title      string    `json:"title"`
	ShownAt    time.Time `json:"shown_at"`
	PlayedAt   time.Time `json:"played_at"`
}

// Orphan is a play that joined no impression.
type Orphan struct {
	Impression string    `json:"impression"`
	Profile    string    `json:"profile"`
	PlayedAt   time.Time `json:"played_at"`
	// Reason is "outside the window" (before the impression or more than
	// -within after it) or "no impression" (none seen by the time the
	// watermark passed the play).
	Reason string `json:"reason"`
}

// orphans is the side output of the plays that joined nothing.
var orphans = weir.NewOutputTag[Orphan]("orphans")

// join joins plays to impressions, keyed by impression ID.
type join struct {
	within time.Duration
	imp    weir.ValueState[string, Impression]
	plays  weir.ListState[string, Play]
}

var (
	_ weir.KeyedCoProcessFunction[string, Impression, Play, Joined] = (*join)(nil)
	_ weir.KeyedTimerHandler[string, Joined]                        = (*join)(nil)
)

func (j *join) Open(oc weir.KeyedOpenContext[string]) error {
	j.imp = weir.Value[Impression](oc, "impression")
	j.plays = weir.List[Play](oc, "plays")
	return nil
}

// match emits p joined to i, or as an orphan when it is not within the
// window after i.
func (j *join) match(c weir.Context, i Impression, p Play, out weir.Out[Joined]) {
	if p.At.Before(i.At) || p.At.After(i.At.Add(j.within)) {
		weir.Output(c, orphans, Orphan{Impression: p.Impression, Profile: p.Profile, PlayedAt: p.At, Reason: "outside the window"})
		return
	}
	out.Emit(Joined{Impression: i.ID, Profile: p.Profile, Title: i.Title, ShownAt: i.At, PlayedAt: p.At})
}

func (j *join) Process1(c weir.KeyedContext[string], i Impression, out weir.Out[Joined]) error {
	waiting, err := j.plays.Get(c)
	if err != nil {
		return err
	}
	for _, p := range waiting {
		j.match(c, i, p, out)
		if err := c.Timers().DeleteEventTime(p.At); err != nil {
			return err
		}
	}
	if err := j.plays.Clear(c); err != nil {
		return err
	}
	if err := j.imp.Set(c, i); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(i.At.Add(j.within))
}

func (j *join) Process2(c weir.KeyedContext[string], p Play, out weir.Out[Joined]) error {
	i, ok, err := j.imp.Get(c)
	if err != nil {
		return err
	}
	if ok {
		j.match(c, i, p, out)
		return nil
	}
	if err := j.plays.Add(c, p); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(p.At)
}

// OnTimer evicts an impression whose window has passed, and the plays
// waiting for an impression that can no longer come.
func (j *join) OnTimer(c weir.TimerContext[string], _ weir.Out[Joined]) error {
	now := c.Time()
	if i, ok, err := j.imp.Get(c); err != nil {
		return err
	} else if ok && !now.Before(i.At.Add(j.within)) {
		if err := j.imp.Clear(c); err != nil {
			return err
		}
	}
	waiting, err := j.plays.Get(c)
	if err != nil || len(waiting) == 0 {
		return err
	}
	var keep []Play
	for _, p := range waiting {
		if p.At.After(now) {
			keep = append(keep, p)
			continue
		}
		weir.Output(c, orphans, Orphan{Impression: p.Impression, Profile: p.Profile, PlayedAt: p.At, Reason: "no impression"})
	}
	if len(keep) == 0 {
		return j.plays.Clear(c)
	}
	return j.plays.Update(c, keep)
}

// run parses args, builds the job and runs it until stop is closed (a
// savepoint), ctx is canceled, or, with -bounded, its input ends.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("joiner", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	impTopic := fs.String("impressions", "impressions", "topic of the impressions")
	playTopic := fs.String("plays", "plays", "topic of the plays")
	outTopic := fs.String("out", "impression-plays", "topic of the joined plays")
	orphanTopic := fs.String("orphans", "orphan-plays", "topic of the plays that joined no impression")
	within := fs.Duration("within", time.Hour, "how long after an impression its plays count")
	bound := fs.Duration("out-of-order", 5*time.Second, "how far out of event-time order a topic's records may be")
	idle := fs.Duration("idle", 5*time.Second, "a partition without records this long does not hold the watermark")
	bounded := fs.Bool("bounded", false, "read the records the topics have when the job starts, then stop")
	checkpoints := fs.String("checkpoints", "joiner-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 5*time.Second, "time between checkpoints (and so between commits of the output)")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *within <= 0:
		return fmt.Errorf("-within %v: must be positive", *within)
	case *bound < 0:
		return fmt.Errorf("-out-of-order %v: must not be negative", *bound)
	case *idle <= 0:
		return fmt.Errorf("-idle %v: must be positive", *idle)
	case *interval <= 0:
		return fmt.Errorf("-interval %v: must be positive", *interval)
	}
	conn := kafka.Conn{Brokers: strings.Split(*brokers, ",")}
	impSrc, err := kafka.NewSource(kafka.SourceConfig[Impression]{Conn: conn, Topics: []string{*impTopic},
		Decoder: format.JSON[Impression](), Bounded: *bounded})
	if err != nil {
		return err
	}
	playSrc, err := kafka.NewSource(kafka.SourceConfig[Play]{Conn: conn, Topics: []string{*playTopic},
		Decoder: format.JSON[Play](), Bounded: *bounded})
	if err != nil {
		return err
	}
	joinedSink, err := kafka.NewSink(kafka.SinkConfig[Joined]{Conn: conn, Topic: *outTopic, Value: format.JSON[Joined](),
		Key:      func(j Joined) []byte { return []byte(j.Impression) },
		Delivery: kafka.ExactlyOnce, TransactionalIDPrefix: "joiner-" + *outTopic})
	if err != nil {
		return err
	}
	orphanSink, err := kafka.NewSink(kafka.SinkConfig[Orphan]{Conn: conn, Topic: *orphanTopic, Value: format.JSON[Orphan](),
		Key:      func(o Orphan) []byte { return []byte(o.Impression) },
		Delivery: kafka.ExactlyOnce, TransactionalIDPrefix: "joiner-" + *orphanTopic})
	if err != nil {
		return err
	}

	opts := []weir.Option{
		weir.Parallelism(2),
		weir.Checkpoints(*interval, *checkpoints),
		weir.StopOn(stop),
		weir.OnError(weir.Skip), // a record that is not JSON is counted as skipped
	}
	if *restore != "" {
		opts = append(opts, weir.Restore(*restore))
	}
	env := weir.New(opts...)
	imps := weir.Map(weir.From(env, impSrc, weir.EventTime(kafka.Record[Impression].EventTime, *bound), weir.IdleTimeout(*idle)).ID("impressions"),
		func(r kafka.Record[Impression]) Impression { i := r.Value; i.At = r.Timestamp; return i })
	plays := weir.Map(weir.From(env, playSrc, weir.EventTime(kafka.Record[Play].EventTime, *bound), weir.IdleTimeout(*idle)).ID("plays"),
		func(r kafka.Record[Play]) Play { p := r.Value; p.At = r.Timestamp; return p })
	joined := weir.CoProcess(weir.Connect(
		weir.KeyBy(imps, func(i Impression) string { return i.ID }),
		weir.KeyBy(plays, func(p Play) string { return p.Impression })), &join{within: *within}).ID("join")
	weir.To(joined, joinedSink).ID("joined")
	weir.To(weir.SideOutput(joined, orphans), orphanSink).ID("orphaned")
	fmt.Fprintf(stdout, "joining %s to %s within %v into %s (orphans into %s)\n", *playTopic, *impTopic, *within, *outTopic, *orphanTopic)
	if err := env.Run(ctx); err != nil {
		return err
	}
	counts := map[string]int64{}
	for _, m := range env.Metrics() {
		counts[m.ID] += m.Out
		counts["skipped"] += m.Skipped
	}
	fmt.Fprintf(stdout, "%d impressions, %d plays: %d joined, %d orphans, %d records skipped\n",
		counts["impressions"], counts["plays"], counts["joined"], counts["orphaned"], counts["skipped"])
	if m := env.JobMetrics(); m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}
