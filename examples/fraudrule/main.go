// Command fraudrule alerts on users who fail to log in too often, by a
// rule that a broadcast stream sets: "N failed logins within D".
//
//   - Logins (a user, whether it succeeded, when) in event time, a few of
//     them late: a first keyed step sends the records whose time the
//     watermark has passed to a late-data side output, printed, rather
//     than dropping them.
//   - The rule is broadcast to every subtask of a keyed broadcast process
//     function, which keeps each user's recent failures in ListState, and
//     with event-time timers counts them against the rule and evicts
//     those older than the rule's D.
//
// Run it from the repository's root:
//
//	go run ./examples/fraudrule -rule 3/1m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fraudrule:", err)
		os.Exit(1)
	}
}

// Login is a login attempt.
type Login struct {
	User string
	OK   bool
	At   time.Time
}

// Rule alerts on Failures failed logins of a user within Within.
type Rule struct {
	Failures int
	Within   time.Duration
}

// run parses args and runs the job on the logins below.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fraudrule", flag.ContinueOnError)
	ruleFlag := fs.String("rule", "3/1m", "the rule: N/D, N failed logins within D")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, d, _ := strings.Cut(*ruleFlag, "/")
	failures, err := strconv.Atoi(n)
	within, err2 := time.ParseDuration(d)
	if err != nil || err2 != nil || failures < 1 || within <= 0 {
		return fmt.Errorf("-rule %q: want N/D, such as 3/1m", *ruleFlag)
	}

	// Watermarks after every record, so that the few logins of this
	// program find the watermark past the late ones.
	env := weir.New(weir.Parallelism(1), weir.WatermarkInterval(0))
	logins := weir.From(env, weir.Slice(input...), weir.EventTime(func(l Login) time.Time { return l.At }, 0))
	lateTag := weir.NewOutputTag[Login]("late")
	onTime := weir.Process(weir.KeyBy(logins, byUser), weir.ProcessFunc[string, Login, Login](
		func(c weir.KeyedContext[string], l Login, out weir.Out[Login]) error {
			if !l.At.After(c.Watermark()) {
				weir.Output(c, lateTag, l)
				return nil
			}
			out.Emit(l)
			return nil
		})).ID("late")
	// A bounded source without event time holds the watermark of the
	// function back until it ends, so the rule is there before any timer.
	rules := weir.Broadcast(weir.From(env, weir.Slice(Rule{failures, within})).ID("rules"))
	alerts := weir.ProcessBroadcast(weir.KeyBy(onTime, byUser), rules, &detector{}).ID("detect")
	weir.To(alerts, weir.Print[string](stdout, nil))
	weir.To(weir.SideOutput(onTime, lateTag), weir.Print(stdout, func(l Login) string {
		return fmt.Sprintf("LATE %s ok=%v at %s", l.User, l.OK, l.At.Format(time.TimeOnly))
	}))
	return env.Run(ctx)
}

func byUser(l Login) string { return l.User }

// detector keeps each user's failed logins of the rule's last D, and
// alerts when a failure makes them the rule's N.
type detector struct {
	failed weir.ListState[string, time.Time]
}

var (
	_ weir.KeyedBroadcastProcessFunction[string, Login, Rule, Rule, string] = (*detector)(nil)
	_ weir.KeyedOpener[string]                                              = (*detector)(nil)
	_ weir.KeyedTimerHandler[string, string]                                = (*detector)(nil)
)

func (d *detector) Open(c weir.KeyedOpenContext[string]) error {
	d.failed = weir.List[time.Time](c, "failed")
	return nil
}

// ProcessElement keeps a failure and sets a timer to count at its time.
func (d *detector) ProcessElement(c weir.KeyedContext[string], l Login, _ *weir.BroadcastState[Rule], _ weir.Out[string]) error {
	if l.OK {
		return nil
	}
	if err := d.failed.Add(c, l.At); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(l.At)
}

// ProcessBroadcast makes a rule the current one on every subtask.
func (d *detector) ProcessBroadcast(_ weir.Context, r Rule, rules *weir.BroadcastState[Rule], _ weir.Out[string]) error {
	rules.Put("current", r)
	return nil
}

// OnTimer fires at a failure's time, once every earlier login is in:
// it evicts the failures older than the rule's D, counts the rest up to
// now, alerts when they are N, and sets a timer to evict the oldest.
func (d *detector) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	rules, _ := weir.ReadBroadcastState[Rule](c)
	rule, ok := rules.Get("current")
	if !ok {
		return nil
	}
	all, err := d.failed.Get(c)
	if err != nil {
		return err
	}
	now, recent, count := c.Time(), []time.Time{}, 0
	for _, t := range all {
		if t.After(now.Add(-rule.Within)) {
			recent = append(recent, t)
			if !t.After(now) {
				count++
			}
		}
	}
	if count >= rule.Failures && slices.ContainsFunc(all, now.Equal) { // a failure's timer, not an eviction's
		out.Emit(fmt.Sprintf("ALERT %s: %d failed logins within %s, the last at %s", c.Key(), count, rule.Within, now.Format(time.TimeOnly)))
	}
	if len(recent) > 0 {
		if err := c.Timers().RegisterEventTime(recent[0].Add(rule.Within)); err != nil {
			return err
		}
	}
	return d.failed.Update(c, recent)
}

// input is the logins: ann fails three times in a minute, bob twice, and
// two logins come after the watermark has passed their time.
var input = func() []Login {
	at := func(sec int) time.Time { return time.Date(2024, 5, 1, 10, 0, sec, 0, time.UTC) }
	return []Login{
		{"ann", false, at(0)}, {"bob", false, at(5)}, {"ann", false, at(20)},
		{"bob", true, at(30)}, {"ann", false, at(50)}, {"bob", false, at(10)}, // late
		{"ann", false, at(90)}, {"bob", false, at(100)}, {"ann", false, at(130)},
		{"cid", false, at(60)}, // late
		{"ann", false, at(145)}, {"bob", false, at(150)},
	}
}()
