// Command kafkacount counts page views per page in tumbling event-time
// windows, reading a Kafka topic and writing the counts to another topic
// exactly once.
//
//   - Input: JSON views, {"page":"/home","user":"ann"}, on topic -in; a
//     view's event time is its Kafka timestamp.
//   - Each page's views are counted per -window of event time. A window's
//     counts are written once the watermark passes its end: when a view of
//     a later window has arrived on every partition that is not idle (a
//     partition without records for -idle does not hold the watermark).
//   - The counts go to topic -out as JSON, keyed by page, in Kafka
//     transactions committed with each checkpoint: a read_committed
//     consumer sees each count exactly once, whatever crashed.
//   - Ctrl-C stops the job with a savepoint; -restore latest resumes it.
//     The source commits its offsets to consumer group -group at every
//     checkpoint, so lag tools show its progress.
//
// Try it with the development broker and kcat, from the repository's root:
//
//	go run ./cmd/weir dev kafka --topic views,view-counts   # terminal 1
//	go run ./examples/kafkacount                            # terminal 2
//	kcat -b 127.0.0.1:9092 -P -t views <<'EOF'              # terminal 3
//	{"page":"/home","user":"ann"}
//	{"page":"/home","user":"bob"}
//	{"page":"/cart","user":"ann"}
//	EOF
//	sleep 11; echo '{"page":"/home","user":"cy"}' | kcat -b 127.0.0.1:9092 -P -t views
//	kcat -b 127.0.0.1:9092 -C -t view-counts -e -X isolation.level=read_committed
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
		fmt.Fprintln(os.Stderr, "kafkacount:", err)
		os.Exit(1)
	}
}

// View is one page view.
type View struct {
	Page string `json:"page"`
	User string `json:"user"`
}

// Count is the number of views of a page in a window of event time.
type Count struct {
	Page  string    `json:"page"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Views int64     `json:"views"`
}

// run parses args, builds the job and runs it until stop is closed (a
// savepoint), ctx is canceled, or, with -bounded, its input ends.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("kafkacount", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	in := fs.String("in", "views", "topic of the views")
	out := fs.String("out", "view-counts", "topic of the counts")
	group := fs.String("group", "kafkacount", "consumer group the source commits its offsets to")
	window := fs.Duration("window", 10*time.Second, "size of the tumbling event-time windows")
	idle := fs.Duration("idle", 5*time.Second, "a partition without records this long does not hold the watermark")
	bounded := fs.Bool("bounded", false, "read the views the topic has when the job starts, then stop")
	checkpoints := fs.String("checkpoints", "kafkacount-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 5*time.Second, "time between checkpoints (and so between commits of the counts)")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *interval <= 0:
		return fmt.Errorf("-interval %v: must be positive", *interval)
	case *window <= 0:
		return fmt.Errorf("-window %v: must be positive", *window)
	case *idle <= 0:
		return fmt.Errorf("-idle %v: must be positive", *idle)
	}
	conn := kafka.Conn{Brokers: strings.Split(*brokers, ",")}
	src, err := kafka.NewSource(kafka.SourceConfig[View]{
		Conn: conn, Topics: []string{*in}, Decoder: format.JSON[View](),
		Group: *group, StartingOffsets: kafka.CommittedOffsets(kafka.Earliest()), Bounded: *bounded,
	})
	if err != nil {
		return err
	}
	sink, err := kafka.NewSink(kafka.SinkConfig[Count]{
		Conn: conn, Topic: *out, Value: format.JSON[Count](),
		Key:                   func(c Count) []byte { return []byte(c.Page) },
		Delivery:              kafka.ExactlyOnce,
		TransactionalIDPrefix: "kafkacount-" + *out,
	})
	if err != nil {
		return err
	}

	opts := []weir.Option{
		weir.Parallelism(2),
		weir.Checkpoints(*interval, *checkpoints),
		weir.StopOn(stop),
		weir.OnError(weir.Skip), // a view that is not JSON is counted as skipped
	}
	if *restore != "" {
		opts = append(opts, weir.Restore(*restore))
	}
	env := weir.New(opts...)
	views := weir.From(env, src, weir.EventTime(kafka.Record[View].EventTime, 0), weir.IdleTimeout(*idle)).ID("views")
	byPage := weir.KeyBy(weir.Map(views, func(r kafka.Record[View]) View { return r.Value }), func(v View) string { return v.Page })
	counts := weir.Map(weir.Aggregate(weir.Windowed(byPage, weir.TumblingEventTime(*window)), countViews{}).ID("count"),
		func(r weir.WindowResult[string, int64]) Count {
			return Count{Page: r.Key, Start: r.Window.StartTime(), End: r.Window.EndTime(), Views: r.Value}
		})
	weir.To(counts, sink).ID("counts")
	fmt.Fprintf(stdout, "counting views of %s per %v into %s at %s (Ctrl-C stops with a savepoint)\n", *in, *window, *out, *brokers)
	if err := env.Run(ctx); err != nil {
		return err
	}
	if m := env.JobMetrics(); m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}

// countViews counts a window's views.
type countViews struct{}

func (countViews) CreateAccumulator() int64  { return 0 }
func (countViews) Add(_ View, n int64) int64 { return n + 1 }
func (countViews) Result(n int64) int64      { return n }
func (countViews) Merge(a, b int64) int64    { return a + b }
