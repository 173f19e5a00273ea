// Command assetview keeps a materialized view of where a CDN's assets are —
// which edge servers hold each asset — in Redis, folded from the asset
// change events on a Kafka topic: Keystone's event-sourced materialized
// view.
//
//   - Input: JSON change events on topic -in, {"asset":"a1","op":"added",
//     "edge":"edge-1"}; op is added, deleted or moved (from edge to "to").
//     An event's time is its Kafka timestamp. An event with another op or
//     without an asset or edge is skipped and counted.
//   - Keyed by asset, a process function folds each asset's events into
//     its placement (the sorted set of its edges and a version counting
//     the changes) in keyed state. It does not write every change: the
//     first change of an asset in a -flush interval of event time sets a
//     timer at the interval's end, and the placement is written once when
//     it fires, however many changes came in between — the deltas of each
//     interval, in batches.
//   - A trigger source (-snapshot-every, or -snapshot once at the start)
//     reads the asset catalogue (-catalog, one asset per line) and sends a
//     marker per asset; a marker writes the asset's placement at once,
//     whether it changed or not: a full snapshot, which repairs a view
//     that lost keys (an evicted cache, a flushed Redis).
//   - The view is a Redis hash per asset, asset:<id> with fields edges
//     (comma-separated) and _version; the Redis sink applies a write only
//     when its version is at least the stored one, so a job restored from
//     a checkpoint that replays older events cannot move a key back.
//   - Checkpoints into -checkpoints every -interval; Ctrl-C stops the job
//     with a savepoint, and -restore latest resumes it.
//
// Run it from the repository's root with the development broker, kcat and
// a local redis-server:
//
//	go run ./cmd/weir dev kafka --topic asset-events            # terminal 1
//	redis-server --port 6379 --save ''                         # terminal 2
//	printf 'a1\na2\n' > /tmp/catalog.txt
//	go run ./examples/assetview -catalog /tmp/catalog.txt -snapshot-every 1m   # terminal 3
//	kcat -b 127.0.0.1:9092 -P -t asset-events <<'EOF'          # terminal 4
//	{"asset":"a1","op":"added","edge":"edge-1"}
//	{"asset":"a1","op":"added","edge":"edge-2"}
//	{"asset":"a2","op":"added","edge":"edge-1"}
//	{"asset":"a1","op":"moved","edge":"edge-1","to":"edge-3"}
//	EOF
//	sleep 6; echo '{"asset":"a2","op":"deleted","edge":"edge-1"}' | kcat -b 127.0.0.1:9092 -P -t asset-events
//	redis-cli HGETALL asset:a1    # edges edge-2,edge-3, _version 3
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/redis"
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
		fmt.Fprintln(os.Stderr, "assetview:", err)
		os.Exit(1)
	}
}

// Change is one asset change event from the CDN.
type Change struct {
	Asset string `json:"asset"`
	// Op is added, deleted or moved.
	Op   string `json:"op"`
	Edge string `json:"edge"`
	// To is the edge a moved asset moved to.
	To string `json:"to,omitempty"`
}

// Input is what the keyed function folds: a change, or a snapshot marker
// of an asset.
type Input struct {
	Asset    string
	Change   Change
	Snapshot bool
	// At is a marker's time (the wall clock when it was sent).
	At time.Time
}

// Placement is an asset's state and what the view holds of it.
type Placement struct {
	Asset string
	// Edges are the edge servers holding the asset, sorted.
	Edges []string
	// Version counts the changes folded into Edges.
	Version int64
}

// placement is the keyed state: the placement and whether a flush timer
// is set for it.
type placement struct {
	Edges   []string
	Version int64
	Pending bool
}

// checkChange returns the change as an Input, or an error naming what is
// wrong with it (the job's error policy skips it).
func checkChange(r kafka.Record[Change]) (Input, error) {
	c := r.Value
	where := fmt.Sprintf("%s[%d]@%d", r.Topic, r.Partition, r.Offset)
	switch {
	case c.Asset == "":
		return Input{}, fmt.Errorf("change at %s: no asset", where)
	case c.Edge == "":
		return Input{}, fmt.Errorf("change of %s at %s: no edge", c.Asset, where)
	case c.Op == "moved" && c.To == "":
		return Input{}, fmt.Errorf("move of %s at %s: no edge to move to (to)", c.Asset, where)
	case c.Op != "added" && c.Op != "deleted" && c.Op != "moved":
		return Input{}, fmt.Errorf("change of %s at %s: op %q is not added, deleted or moved", c.Asset, where, c.Op)
	}
	return Input{Asset: c.Asset, Change: c}, nil
}

// apply folds a change into a sorted set of edges.
func apply(edges []string, c Change) []string {
	remove := func(e string) {
		if i, ok := slices.BinarySearch(edges, e); ok {
			edges = slices.Delete(edges, i, i+1)
		}
	}
	add := func(e string) {
		if i, ok := slices.BinarySearch(edges, e); !ok {
			edges = slices.Insert(edges, i, e)
		}
	}
	switch c.Op {
	case "added":
		add(c.Edge)
	case "deleted":
		remove(c.Edge)
	case "moved":
		remove(c.Edge)
		add(c.To)
	}
	return edges
}

// folder folds each asset's changes into its placement and writes it at
// the end of each flush interval it changed in, and at each marker.
type folder struct {
	flush time.Duration
	state weir.ValueState[string, placement]
}

var (
	_ weir.KeyedProcessFunction[string, Input, Placement] = (*folder)(nil)
	_ weir.KeyedTimerHandler[string, Placement]           = (*folder)(nil)
)

func (f *folder) Open(oc weir.KeyedOpenContext[string]) error {
	f.state = weir.Value[placement](oc, "placement")
	return nil
}

func (f *folder) Process(c weir.KeyedContext[string], in Input, out weir.Out[Placement]) error {
	p, ok, err := f.state.Get(c)
	if err != nil {
		return err
	}
	if in.Snapshot {
		if ok { // an asset the catalogue names but no event has: nothing to write
			out.Emit(Placement{Asset: c.Key(), Edges: p.Edges, Version: p.Version})
		}
		return nil
	}
	// A copy: the typed state backend keeps the slice it was given, and a
	// checkpoint may be writing it while the job goes on.
	p.Edges = apply(slices.Clone(p.Edges), in.Change)
	p.Version++
	if !p.Pending {
		at, _ := c.Timestamp()
		if err := c.Timers().RegisterEventTime(at.Truncate(f.flush).Add(f.flush)); err != nil {
			return err
		}
		p.Pending = true
	}
	return f.state.Set(c, p)
}

func (f *folder) OnTimer(c weir.TimerContext[string], out weir.Out[Placement]) error {
	p, ok, err := f.state.Get(c)
	if err != nil || !ok {
		return err
	}
	out.Emit(Placement{Asset: c.Key(), Edges: p.Edges, Version: p.Version})
	p.Pending = false
	return f.state.Set(c, p)
}

// readCatalog returns the assets a catalogue file names, one per line.
func readCatalog(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" && !strings.HasPrefix(id, "#") {
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("catalogue %s: %w", path, err)
	}
	return ids, nil
}

// sendMarkers sends a marker of every asset of the catalogue, and says
// false when ctx ended first.
func sendMarkers(ctx context.Context, ch chan<- Input, ids []string) bool {
	now := time.Now()
	for _, id := range ids {
		select {
		case ch <- Input{Asset: id, Snapshot: true, At: now}:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// run parses args, builds the job and runs it until stop is closed (a
// savepoint), ctx is canceled, or, with -bounded, its input ends.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("assetview", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	in := fs.String("in", "asset-events", "topic of the asset change events")
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis server (host:port) the view is kept in")
	flush := fs.Duration("flush", 5*time.Second, "event-time interval whose changes are written together")
	catalog := fs.String("catalog", "", "file of the asset IDs a snapshot writes, one per line")
	snapshotEvery := fs.Duration("snapshot-every", 0, "write a full snapshot of the catalogue's assets this often (0: never)")
	snapshot := fs.Bool("snapshot", false, "write a full snapshot of the catalogue's assets once, at the start")
	bounded := fs.Bool("bounded", false, "read the events the topic has when the job starts, then stop")
	checkpoints := fs.String("checkpoints", "assetview-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 5*time.Second, "time between checkpoints")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *flush <= 0:
		return fmt.Errorf("-flush %v: must be positive", *flush)
	case *interval <= 0:
		return fmt.Errorf("-interval %v: must be positive", *interval)
	case *snapshotEvery < 0:
		return fmt.Errorf("-snapshot-every %v: must not be negative", *snapshotEvery)
	case (*snapshot || *snapshotEvery > 0) && *catalog == "":
		return errors.New("-snapshot and -snapshot-every need -catalog, the assets a snapshot writes")
	case *snapshotEvery > 0 && *bounded:
		return errors.New("-snapshot-every keeps the job running: it cannot be -bounded (use -snapshot)")
	}
	var ids []string
	if *catalog != "" {
		var err error
		if ids, err = readCatalog(*catalog); err != nil {
			return err
		}
	}

	src, err := kafka.NewSource(kafka.SourceConfig[Change]{
		Conn: kafka.Conn{Brokers: strings.Split(*brokers, ",")}, Topics: []string{*in},
		Decoder: format.JSON[Change](), Bounded: *bounded,
	})
	if err != nil {
		return err
	}
	sink, err := redis.NewSink(redis.SinkConfig[Placement]{
		Conn: redis.Conn{Addr: *redisAddr},
		Key:  func(p Placement) string { return "asset:" + p.Asset },
		Fields: func(p Placement) map[string]string {
			return map[string]string{"edges": strings.Join(p.Edges, ",")}
		},
		Version: func(p Placement) int64 { return p.Version },
	})
	if err != nil {
		return err
	}

	opts := []weir.Option{
		weir.Parallelism(2),
		weir.Checkpoints(*interval, *checkpoints),
		weir.StopOn(stop),
		weir.OnError(weir.Skip), // a change that does not decode or make sense is counted as skipped
	}
	if *restore != "" {
		opts = append(opts, weir.Restore(*restore))
		if *snapshot {
			// The one-off trigger source of an earlier -snapshot run had
			// ended; its checkpointed position is left behind.
			opts = append(opts, weir.AllowNonRestoredState())
		}
	}
	env := weir.New(opts...)
	changes := weir.From(env, src, weir.EventTime(kafka.Record[Change].EventTime, 0), weir.IdleTimeout(time.Second)).ID("changes")
	inputs := weir.TryMap(changes, checkChange).ID("check")

	// The trigger source: one subtask, fed by this program from the
	// catalogue. Its markers carry the wall clock as event time and it
	// is idle between snapshots, so it never holds the flush timers back.
	var markers chan Input
	triggerCtx, stopTriggers := context.WithCancel(ctx)
	defer stopTriggers()
	switch {
	case *snapshot:
		markers = make(chan Input)
		go func() {
			sendMarkers(triggerCtx, markers, ids)
			close(markers)
		}()
		// Its own ID each run: a restored job's trigger must not resume
		// the ended one of an earlier run.
		trig := weir.FromChannel(env, markers, weir.EventTime(func(in Input) time.Time { return in.At }, 0),
			weir.IdleTimeout(time.Second)).ID(fmt.Sprintf("snapshot-%d", time.Now().UnixNano()))
		inputs = weir.Union(inputs, trig)
	case *snapshotEvery > 0:
		markers = make(chan Input)
		go func() {
			tick := time.NewTicker(*snapshotEvery)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					cur, err := readCatalog(*catalog)
					if err != nil {
						fmt.Fprintf(stdout, "snapshot skipped: %v\n", err)
						continue
					}
					if !sendMarkers(triggerCtx, markers, cur) {
						return
					}
				case <-triggerCtx.Done():
					return
				}
			}
		}()
		trig := weir.FromChannel(env, markers, weir.EventTime(func(in Input) time.Time { return in.At }, 0),
			weir.IdleTimeout(time.Second)).ID("snapshots")
		inputs = weir.Union(inputs, trig)
	}

	byAsset := weir.KeyBy(inputs, func(in Input) string { return in.Asset })
	views := weir.Process(byAsset, &folder{flush: *flush}).ID("fold")
	weir.To(views, sink).ID("view")
	fmt.Fprintf(stdout, "folding %s into asset:<id> hashes in Redis at %s, flushed every %v of event time\n", *in, *redisAddr, *flush)
	if err := env.Run(ctx); err != nil {
		return err
	}
	var read, skipped, written int64
	for _, m := range env.Metrics() {
		switch m.ID {
		case "changes":
			read += m.Out + m.Skipped
		case "view":
			written += m.In
		}
		skipped += m.Skipped // a value that does not decode is skipped by the source, one that makes no sense by check
	}
	fmt.Fprintf(stdout, "%d changes read, %d skipped, %d placements written, %d writes older than the view skipped\n",
		read, skipped, written, sink.Skipped())
	if m := env.JobMetrics(); m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}
