// Command usagebilling totals each account's usage of each product per
// hour, from usage events on a Kafka topic, into PostgreSQL exactly once:
// the usage a customer is billed for counts every event once, whatever
// crashed on the way.
//
//   - Input: JSON usage events on topic -in, {"account":"acme",
//     "product":"compute","metric":"cpu_ms","quantity":1500}; quantity is
//     a whole number of the metric's unit, so sums are exact. An event's
//     time is its Kafka timestamp. An event that does not decode, or
//     without an account, product or metric, or with a negative quantity,
//     is skipped and counted.
//   - Per account, product and metric, the quantities are summed in
//     tumbling event-time hours (-window); an hour's total is written once
//     the watermark passes its end.
//   - The totals are appended to table -table (created when missing)
//     through the exactly-once PostgreSQL sink: the rows of each
//     checkpoint are written in one transaction together with the
//     checkpoint's ID in the table weir_sink_commits, so a job killed at
//     any moment and restored from its latest checkpoint neither loses
//     nor repeats a row — the table has no key that would hide a
//     duplicate.
//   - Checkpoints into -checkpoints every -interval, of which the newest
//     -retain are kept (storage hygiene: a running job deletes older ones
//     itself); Ctrl-C stops the job with a savepoint, which is kept until
//     removed (weir checkpoints prune --savepoints). -restore latest
//     resumes from the newest checkpoint or savepoint.
//
// Run it from the repository's root with the development broker, kcat and
// a local PostgreSQL:
//
//	go run ./cmd/weir dev kafka --topic usage                   # terminal 1
//	go run ./examples/usagebilling -dsn postgres://localhost/billing   # terminal 2
//	kcat -b 127.0.0.1:9092 -P -t usage <<'EOF'                  # terminal 3
//	{"account":"acme","product":"compute","metric":"cpu_ms","quantity":1500}
//	{"account":"acme","product":"compute","metric":"cpu_ms","quantity":700}
//	EOF
//	psql billing -c 'SELECT * FROM usage_hourly ORDER BY hour'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/postgres"
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
		fmt.Fprintln(os.Stderr, "usagebilling:", err)
		os.Exit(1)
	}
}

// Usage is one usage event.
type Usage struct {
	Account  string `json:"account"`
	Product  string `json:"product"`
	Metric   string `json:"metric"`
	Quantity int64  `json:"quantity"`
}

// Meter identifies what a total is of.
type Meter struct {
	Account, Product, Metric string
}

// Total is one row of the table: the usage of a meter in an hour.
type Total struct {
	Meter
	Hour     time.Time
	Quantity int64
	Events   int64
}

// acc sums quantities and counts events.
type acc struct{ Quantity, Events int64 }

// sumUsage is the window's aggregate.
type sumUsage struct{}

func (sumUsage) CreateAccumulator() acc { return acc{} }
func (sumUsage) Add(u Usage, a acc) acc { return acc{a.Quantity + u.Quantity, a.Events + 1} }
func (sumUsage) Result(a acc) acc       { return a }
func (sumUsage) Merge(a, b acc) acc     { return acc{a.Quantity + b.Quantity, a.Events + b.Events} }

// checkUsage returns the usage of a record, or an error naming what is
// wrong with it (the job's error policy skips it).
func checkUsage(r kafka.Record[Usage]) (Usage, error) {
	u := r.Value
	where := fmt.Sprintf("%s[%d]@%d", r.Topic, r.Partition, r.Offset)
	switch {
	case u.Account == "" || u.Product == "" || u.Metric == "":
		return Usage{}, fmt.Errorf("usage at %s: account, product and metric are required", where)
	case u.Quantity < 0:
		return Usage{}, fmt.Errorf("usage of %s at %s: quantity %d is negative", u.Account, where, u.Quantity)
	}
	return u, nil
}

// tableName is what -table may be: an identifier, schema-qualified or not.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

// createTable creates the table of totals when it is missing.
func createTable(ctx context.Context, dsn, table string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		account text NOT NULL, product text NOT NULL, metric text NOT NULL,
		hour timestamptz NOT NULL, quantity bigint NOT NULL, events bigint NOT NULL)`)
	if err != nil {
		return fmt.Errorf("postgres: create table %s: %w", table, err)
	}
	return nil
}

// run parses args, builds the job and runs it until stop is closed (a
// savepoint) or ctx is canceled.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("usagebilling", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	in := fs.String("in", "usage", "topic of the usage events")
	dsn := fs.String("dsn", "postgres://localhost/billing", "PostgreSQL database the totals are written to")
	table := fs.String("table", "usage_hourly", "table of the hourly totals (created when missing)")
	window := fs.Duration("window", time.Hour, "the period each total covers")
	idle := fs.Duration("idle", 5*time.Second, "a partition without records this long does not hold the watermark")
	checkpoints := fs.String("checkpoints", "usagebilling-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 5*time.Second, "time between checkpoints (and so between commits of totals)")
	retain := fs.Int("retain", 3, "checkpoints kept; older ones are deleted as new ones complete")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *window <= 0:
		return fmt.Errorf("-window %v: must be positive", *window)
	case *interval <= 0:
		return fmt.Errorf("-interval %v: must be positive", *interval)
	case *idle <= 0:
		return fmt.Errorf("-idle %v: must be positive", *idle)
	case *retain < 1:
		return fmt.Errorf("-retain %d: must be at least 1", *retain)
	case !tableName.MatchString(*table):
		return fmt.Errorf("-table %q: must be a lower-case identifier, schema-qualified or not", *table)
	}
	src, err := kafka.NewSource(kafka.SourceConfig[Usage]{
		Conn: kafka.Conn{Brokers: strings.Split(*brokers, ",")}, Topics: []string{*in},
		Decoder: format.JSON[Usage](),
	})
	if err != nil {
		return err
	}
	sink, err := postgres.NewExactlyOnceSink(postgres.SinkConfig[Total]{
		DSN: *dsn, Table: *table,
		Columns: []string{"account", "product", "metric", "hour", "quantity", "events"},
		Values: func(t Total) []any {
			return []any{t.Account, t.Product, t.Metric, t.Hour, t.Quantity, t.Events}
		},
	}, "usagebilling-"+*table)
	if err != nil {
		return err
	}
	if err := createTable(ctx, *dsn, *table); err != nil {
		return err
	}

	var env *weir.Env
	opts := []weir.Option{
		weir.Parallelism(2),
		weir.Checkpoints(*interval, *checkpoints),
		weir.RetainCheckpoints(*retain),
		weir.StopOn(stop),
		weir.OnError(weir.Skip),
		weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
			// Late events are those behind the watermark when they came:
			// their hour was already written, and they are not in it.
			var late int64
			for _, om := range env.Metrics() {
				late += om.Late
			}
			fmt.Fprintf(stdout, "%s %d completed, %d late events so far\n", m.Kind(), m.ID, late)
		}),
	}
	if *restore != "" {
		opts = append(opts, weir.Restore(*restore))
	}
	env = weir.New(opts...)
	events := weir.From(env, src, weir.EventTime(kafka.Record[Usage].EventTime, 0), weir.IdleTimeout(*idle)).ID("usage")
	usage := weir.TryMap(events, checkUsage).ID("check")
	byMeter := weir.KeyBy(usage, func(u Usage) Meter { return Meter{u.Account, u.Product, u.Metric} })
	totals := weir.Map(weir.Aggregate(weir.Windowed(byMeter, weir.TumblingEventTime(*window)), sumUsage{}).ID("sum"),
		func(r weir.WindowResult[Meter, acc]) Total {
			return Total{Meter: r.Key, Hour: r.Window.StartTime().UTC(), Quantity: r.Value.Quantity, Events: r.Value.Events}
		})
	weir.To(totals, sink).ID("totals")
	fmt.Fprintf(stdout, "totalling %s per %v into %s exactly once\n", *in, *window, *table)
	if err := env.Run(ctx); err != nil {
		return err
	}
	if m := env.JobMetrics(); m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}
