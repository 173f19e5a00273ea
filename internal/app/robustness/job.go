// Package robustness holds Weir's exactly-once crash harness: a job that is
// deterministic by construction, a plain-Go model of its output, an input
// generator, and a test that runs the job as a separate process, kills it
// with SIGKILL at random moments and at named failpoints, restarts it from
// its latest checkpoint at alternating parallelism, and compares the
// committed output with the model.
package robustness

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/internal/failpoint"
)

// Event is one input record: an event, or a rule change when Rule is set.
type Event struct {
	Key   string `json:"k"`
	Time  int64  `json:"t"` // event time, Unix milliseconds; of a rule change, when it takes effect
	Value int64  `json:"v"` // unique over the events
	Side  string `json:"s"` // "L" or "R", for the join
	Rule  *Rule  `json:"rule,omitempty"`
}

// Rule is a rule change of the fraud check: from the record's event time
// on, rule Name alerts on a key with at least Count events within the last
// Within milliseconds. A Count of zero switches the rule off.
type Rule struct {
	Name   string `json:"name"`
	Count  int64  `json:"n"`
	Within int64  `json:"w"`
}

// RuleVersion is one version of a rule, in force from From (event time,
// Unix milliseconds) until the next version's From.
type RuleVersion struct {
	From   int64
	Count  int64
	Within int64
}

const (
	// Window is the size of the tumbling count windows.
	Window = 10_000
	// JoinWithin is how close in event time a left and a right event of a
	// key must be to join.
	JoinWithin = 2_000
	// Disorder is the most an input file's events are out of order; the
	// job's watermark allows twice as much, so no record is ever late.
	Disorder = 500
	// PartFileCommitted is the failpoint hit after each part file of the
	// output is committed.
	PartFileCommitted = "part-file-committed"
	// KafkaTxnCommitted is the failpoint hit after each transaction of the
	// Kafka output is committed.
	KafkaTxnCommitted = "kafka-txn-committed"
	// MaxWithin is the longest window a rule may have; the fraud check
	// keeps a key's event times that long.
	MaxWithin = 5_000
	// BadEvery is how many events of an input file come between two lines
	// that are not events, which the job dead-letters.
	BadEvery = 97
	// RuleEvery is the most lines an input file has without a rule change
	// (from its start, and between two), so that the rules change often
	// while the job runs and is killed; its last line is a rule change.
	RuleEvery = 200
)

// KafkaIO makes the job read its input lines from a Kafka topic, one
// partition per input file, and write its output lines to another topic
// with transactions, exactly once.
type KafkaIO struct {
	Brokers               []string
	Input, Output         string // topics
	TransactionalIDPrefix string
}

// JobConfig configures the job.
type JobConfig struct {
	Input  string // glob of JSON-lines files, one split each
	Output string // base directory of the exactly-once file sink
	// Kafka, when set, replaces Input and Output with topics.
	Kafka       *KafkaIO
	DeadLetters string // directory of the dead-letter output
	Checkpoints string
	Interval    time.Duration
	Parallelism int
	Restore     bool
	// Pause slows the job down by sleeping a millisecond every Pause
	// records (zero: never), so that a harness has time to kill it.
	Pause int
	// Fail, when set, is called for every parsed record with the number of
	// records parsed so far in this process; an error it returns (or a
	// panic) fails the job, which a restart strategy in Options may
	// restart.
	Fail func(parsed int64) error
	// Options are further options of the job.
	Options []weir.Option
}

// BuildJob describes the job: per-key tumbling event-time window counts and
// sums (Windowed + Aggregate), an interval join of left and right events
// (IntervalJoin, a co-process operator with event-time eviction), and a
// fraud check of the events against rules that change while the job runs
// (ProcessBroadcast, the rules in broadcast state), into exactly-once part
// files. Lines that do not parse go to the dead-letter output, exactly once
// too.
func BuildJob(c JobConfig) (*weir.Env, error) {
	opts := []weir.Option{weir.Parallelism(c.Parallelism), weir.Checkpoints(c.Interval, c.Checkpoints),
		weir.DeadLetters(c.DeadLetters)}
	if c.Restore {
		opts = append(opts, weir.Restore("latest"))
	}
	env := weir.New(append(opts, c.Options...)...)
	lines, err := input(env, c)
	if err != nil {
		return nil, err
	}
	var n atomic.Int64
	records := weir.TryMap(lines, func(s string) (Event, error) {
		var e Event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return e, err
		}
		parsed := n.Add(1)
		if c.Pause > 0 && parsed%int64(c.Pause) == 0 {
			time.Sleep(time.Millisecond)
		}
		return e, nil
	}).ID("parse").OnError(weir.DeadLetter)
	if c.Fail != nil {
		// An operator of its own, whose errors fail the job instead of
		// being dead-lettered like the parse's.
		var seen atomic.Int64
		records = weir.TryMap(records, func(e Event) (Event, error) { return e, c.Fail(seen.Add(1)) }).ID("fail")
	}
	events := records.Filter(func(e Event) bool { return e.Rule == nil })
	rules := records.Filter(func(e Event) bool { return e.Rule != nil })
	key := func(e Event) string { return e.Key }
	keyed := weir.KeyBy(events, key)
	// The library's operators: an event-time window aggregate and an
	// interval join (a co-process operator) of left and right events.
	windows := weir.Map(weir.Aggregate(weir.Windowed(keyed, weir.TumblingEventTime(Window*time.Millisecond)), countSum{}).ID("windows"),
		func(r weir.WindowResult[string, [2]int64]) string {
			return fmt.Sprintf("win %s %d %d %d", r.Key, r.Window.Start, r.Value[0], r.Value[1])
		})
	left := weir.KeyBy(events.Filter(func(e Event) bool { return e.Side == "L" }), key)
	right := weir.KeyBy(events.Filter(func(e Event) bool { return e.Side == "R" }), key)
	joins := weir.IntervalJoin(left, right, -JoinWithin*time.Millisecond, JoinWithin*time.Millisecond, func(l, r Event) string {
		return fmt.Sprintf("join %s %d %d", l.Key, l.Value, r.Value)
	}).ID("join")
	// Broadcast state: every rule change reaches every subtask of the
	// fraud check, which checks each key's events against the rule
	// versions in force at their event time.
	alerts := weir.ProcessBroadcast(keyed, weir.Broadcast(rules), &fraudCheck{}).ID("fraud")
	out := weir.Union(windows, joins, alerts)
	if k := c.Kafka; k != nil {
		sink, err := kafka.NewSink(kafka.SinkConfig[string]{
			Conn:                  kafka.Conn{Brokers: k.Brokers},
			Topic:                 k.Output,
			Value:                 format.String(),
			Delivery:              kafka.ExactlyOnce,
			TransactionalIDPrefix: k.TransactionalIDPrefix,
			TransactionTimeout:    time.Minute,
			Committed:             func(string) { failpoint.Hit(KafkaTxnCommitted) },
		})
		if err != nil {
			return nil, err
		}
		weir.To(out, weir.Sink[string](sink)).ID("output")
		return env, nil
	}
	sink, err := file.New(file.Config[string]{
		Dir:       c.Output,
		Format:    file.Lines(func(s string) string { return s }),
		RollSize:  2048,
		Committed: func(string) { failpoint.Hit(PartFileCommitted) },
	})
	if err != nil {
		return nil, err
	}
	weir.To(out, weir.Sink[string](sink)).ID("output")
	return env, nil
}

// input adds the job's source of input lines to env: the files, or the
// Kafka topic read to the end offsets it has when the job first starts.
func input(env *weir.Env, c JobConfig) (weir.Stream[string], error) {
	k := c.Kafka
	if k == nil {
		return weir.From(env, weir.Lines(c.Input), weir.EventTime(lineTime, 2*Disorder*time.Millisecond)).ID("input"), nil
	}
	src, err := kafka.NewSource(kafka.SourceConfig[string]{
		Conn:    kafka.Conn{Brokers: k.Brokers},
		Topics:  []string{k.Input},
		Decoder: format.String(),
		Bounded: true,
	})
	if err != nil {
		return weir.Stream[string]{}, err
	}
	recs := weir.From(env, src, weir.EventTime(func(r kafka.Record[string]) time.Time { return lineTime(r.Value) },
		2*Disorder*time.Millisecond)).ID("input")
	return weir.Map(recs, func(r kafka.Record[string]) string { return r.Value }).ID("value"), nil
}

// lineTime reads the event time of an input line.
func lineTime(s string) time.Time {
	var e struct {
		Time int64 `json:"t"`
	}
	json.Unmarshal([]byte(s), &e) // a bad line fails in parse
	return time.UnixMilli(e.Time)
}

// countSum counts and sums a window's values.
type countSum struct{}

func (countSum) CreateAccumulator() [2]int64      { return [2]int64{} }
func (countSum) Add(e Event, a [2]int64) [2]int64 { return [2]int64{a[0] + 1, a[1] + e.Value} }
func (countSum) Result(a [2]int64) [2]int64       { return a }
func (countSum) Merge(a, b [2]int64) [2]int64     { return [2]int64{a[0] + b[0], a[1] + b[1]} }

// fraudCheck alerts on a key with at least a rule's Count events within the
// rule's Within milliseconds, in the spirit of "N failed logins in 30 s".
// The rules come as a broadcast stream of changes and are kept, every
// version, in broadcast state: a map from the rule's name to its versions
// in order of From.
//
// Its output does not depend on the order in which events and rule changes
// meet, which is not defined: an event only registers an event-time timer
// at its time t, and the check runs when the timer fires, once the
// watermark has passed t. By then every event of the key at or before t
// has arrived (no record is late), and so has every rule change in force
// from t or earlier, because the rule changes come from the same splits
// and hold back the operator's watermark like the events. The check uses
// the version of each rule in force at t — the one with the greatest From
// not after t — so versions that arrived early change nothing; before a
// rule's first version, the rule does not apply.
type fraudCheck struct {
	// seen counts the key's events per event time, for the times not yet
	// MaxWithin behind the last check.
	seen weir.MapState[string, int64, int64]
}

// Open declares the key's event counts.
func (f *fraudCheck) Open(c weir.KeyedOpenContext[string]) error {
	f.seen = weir.MapOf[int64, int64](c, "seen")
	return nil
}

// ProcessElement counts the event and sets a timer at its time.
func (f *fraudCheck) ProcessElement(c weir.KeyedContext[string], e Event, _ *weir.BroadcastState[[]RuleVersion], _ weir.Out[string]) error {
	n, _, err := f.seen.Get(c, e.Time)
	if err != nil {
		return err
	}
	if err := f.seen.Put(c, e.Time, n+1); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(e.Time))
}

// ProcessBroadcast adds a rule version, on every subtask alike. The
// versions are copied, never changed in place: a checkpoint may still be
// encoding the old slice.
func (f *fraudCheck) ProcessBroadcast(_ weir.Context, e Event, bs *weir.BroadcastState[[]RuleVersion], _ weir.Out[string]) error {
	r := e.Rule
	if r.Name == "" || r.Count < 0 || r.Within <= 0 || r.Within > MaxWithin {
		return fmt.Errorf("fraud check: rule change %+v at %d: want a name, a count of at least 0 and a window in (0, %d] ms", *r, e.Time, MaxWithin)
	}
	v := RuleVersion{From: e.Time, Count: r.Count, Within: r.Within}
	old, _ := bs.Get(r.Name)
	i, found := slices.BinarySearchFunc(old, v.From, func(a RuleVersion, t int64) int { return cmp.Compare(a.From, t) })
	vs := slices.Clone(old)
	if found {
		vs[i] = v
	} else {
		vs = slices.Insert(vs, i, v)
	}
	bs.Put(r.Name, vs)
	return nil
}

// OnTimer checks the key's events at the timer's time against every rule
// in force then, and forgets the event times no rule can reach any more.
func (f *fraudCheck) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	rules, ok := weir.ReadBroadcastState[[]RuleVersion](c)
	if !ok {
		return fmt.Errorf("fraud check: timer of key %q at %d: no broadcast state", c.Key(), c.Time().UnixMilli())
	}
	t := c.Time().UnixMilli()
	for name, vs := range rules.All() {
		v, ok := inForce(vs, t)
		if !ok || v.Count == 0 {
			continue
		}
		var n int64
		for ts, k := range f.seen.All(c) {
			if ts > t-v.Within && ts <= t {
				n += k
			}
		}
		if n >= v.Count {
			out.Emit(alertLine(name, c.Key(), t, n, v.From))
		}
	}
	var old []int64
	for ts := range f.seen.All(c) {
		if ts <= t-MaxWithin {
			old = append(old, ts)
		}
	}
	for _, ts := range old {
		if err := f.seen.Delete(c, ts); err != nil {
			return err
		}
	}
	return nil
}

// inForce returns the version of vs (in order of From) in force at t: the
// one with the greatest From not after t; false before the first.
func inForce(vs []RuleVersion, t int64) (RuleVersion, bool) {
	i, found := slices.BinarySearchFunc(vs, t, func(v RuleVersion, t int64) int { return cmp.Compare(v.From, t) })
	if found {
		return vs[i], true
	}
	if i == 0 {
		return RuleVersion{}, false
	}
	return vs[i-1], true
}

// alertLine formats an alert of rule name, in its version from from, for key
// with n events within the rule's window up to t.
func alertLine(name, key string, t, n, from int64) string {
	return fmt.Sprintf("alert %s %s %d %d %d", name, key, t, n, from)
}
