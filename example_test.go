package weir_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weirstream/weir"
)

// View is a video view, reported when it ended.
type View struct {
	Title   string
	EndedAt time.Time
}

// viewCount counts the views of each title in keyed state.
type viewCount struct{ views weir.ValueState[string, int] }

func (c *viewCount) Open(oc weir.KeyedOpenContext[string]) error {
	c.views = weir.Value[int](oc, "views")
	return nil
}

func (c *viewCount) Process(kc weir.KeyedContext[string], v View, out weir.Out[string]) error {
	n, _, err := c.views.Get(kc)
	if err != nil {
		return err
	}
	out.Emit(fmt.Sprintf("%s: view %d, ended %s", kc.Key(), n+1, v.EndedAt.UTC().Format(time.TimeOnly)))
	return c.views.Set(kc, n+1)
}

func Example() {
	at := func(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 0) }
	env := weir.New(weir.Parallelism(1))
	views := weir.From(env, weir.Slice(
		View{"Morning Yoga", at(1)}, View{"Space Launch Live", at(2)}, View{"Morning Yoga", at(3)}),
		weir.EventTime(func(v View) time.Time { return v.EndedAt }, 5*time.Second))
	byTitle := weir.KeyBy(views, func(v View) string { return v.Title })
	counts := weir.Process(byTitle, &viewCount{})
	weir.To(counts, weir.Stdout[string](nil))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// Morning Yoga: view 1, ended 22:13:21
	// Space Launch Live: view 1, ended 22:13:22
	// Morning Yoga: view 2, ended 22:13:23
}

// One file is one split, read by one source subtask: Rebalance deals its
// records to both subtasks of the enrichment that follows, which would
// otherwise get them all on subtask 0 while subtask 1 stays idle.
func ExampleStream_Rebalance() {
	env := weir.New(weir.Parallelism(2))
	lines := weir.From(env, weir.Slice("a", "b", "c", "d"))
	enriched := weir.AsyncMap(lines.Rebalance(), func(ctx context.Context, v string) (string, error) {
		return v + "!", nil // a lookup in a service, say
	}).Name("enrich")
	weir.Collect(enriched)
	plan, err := env.Plan()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	for _, m := range env.Metrics() {
		if m.Operator == "enrich" {
			fmt.Printf("enrich subtask %d got %d records\n", m.Subtask, m.In)
		}
	}
	// Output:
	// task source (parallelism 2)
	// task enrich -> collect (parallelism 2)
	// exchange source -> enrich (rebalance)
	// enrich subtask 0 got 2 records
	// enrich subtask 1 got 2 records
}

// errNoSuchUser is what the user service answers for an unknown user: a
// 404, which asking again will not change.
var errNoSuchUser = errors.New("404: no such user")

// A lookup retries what may pass (a timeout, a 503) but not a 404: that
// record goes to the error policy — here Skip — after its first attempt.
func ExampleAsyncRetryIf() {
	var mu sync.Mutex
	calls := map[string]int{}
	lookup := func(ctx context.Context, user string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[user]++
		if user == "mallory" {
			return "", errNoSuchUser
		}
		return user + "@example.com", nil
	}
	env := weir.New()
	users := weir.From(env, weir.Slice("alice", "mallory", "bob"))
	emails := weir.AsyncMap(users, lookup,
		weir.AsyncRetries(3, 10*time.Millisecond),
		weir.AsyncRetryIf(func(err error) bool { return !errors.Is(err, errNoSuchUser) }),
	).OnError(weir.Skip)
	got := weir.Collect(emails)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(got.Values())
	fmt.Println("calls for mallory:", calls["mallory"])
	// Output:
	// [alice@example.com bob@example.com]
	// calls for mallory: 1
}

// A program pushes records into a running job through a channel; the job
// ends when the channel is closed.
func ExampleFromChannel() {
	orders := make(chan string)
	env := weir.New()
	confirmed := weir.Map(weir.FromChannel(env, orders), func(o string) string { return "confirmed " + o })
	weir.To(confirmed, weir.Stdout[string](nil))
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	for _, o := range []string{"order-1", "order-2", "order-3"} {
		orders <- o // blocks while the job is behind
	}
	close(orders)
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	// Output:
	// confirmed order-1
	// confirmed order-2
	// confirmed order-3
}
