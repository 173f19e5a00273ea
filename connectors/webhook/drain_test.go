package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/webhook"
)

// drainHook answers the first attempt of each key only once the job's
// savepoint has completed (released), and then with a 503; it takes
// every later attempt. It counts the keys it has seen and taken, and the
// attempts the client gave up on.
type drainHook struct {
	released chan struct{}
	started  chan struct{} // one send per first attempt, while there is room

	mu      sync.Mutex
	tries   map[string]int
	taken   map[string]bool
	aborted int
}

func (h *drainHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the body: the server notices a client that gave up only once
	// it has.
	io.Copy(io.Discard, r.Body)
	key := r.Header.Get("Idempotency-Key")
	h.mu.Lock()
	h.tries[key]++
	first := h.tries[key] == 1
	h.mu.Unlock()
	if !first {
		h.mu.Lock()
		h.taken[key] = true
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	select {
	case h.started <- struct{}{}:
	default:
	}
	select {
	case <-h.released:
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case <-r.Context().Done():
		h.mu.Lock()
		h.aborted++
		h.mu.Unlock()
	}
}

// A job stopped with a savepoint lets the posts in flight finish before
// it ends: posts whose first attempt fails after the savepoint are
// retried, within DrainTimeout, and delivered; none is cut off.
func TestPostDrainsOnStop(t *testing.T) {
	const concurrency = 4
	h := &drainHook{released: make(chan struct{}), started: make(chan struct{}, concurrency),
		tries: map[string]int{}, taken: map[string]bool{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := webhook.New(webhook.Config{URL: srv.URL, Concurrency: concurrency, Retries: 3,
		Backoff: 500 * time.Millisecond, Timeout: time.Minute, DrainTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var once sync.Once
	env := weir.New(weir.Checkpoints(time.Hour, t.TempDir()), weir.StopOn(stop),
		weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
			if m.Stop {
				once.Do(func() { close(h.released) })
			}
		}))
	// As many records as may be in flight, and the input open: the
	// operator is not blocked for room when the stop comes.
	ch := make(chan int64, concurrency)
	for i := range concurrency {
		ch <- int64(i)
	}
	nums := weir.FromChannel(env, ch)
	posted := webhook.Post(nums, c, func(n int64) ([]byte, error) { return []byte(`{}`), nil },
		func(n int64) (string, error) { return fmt.Sprint("key-", n), nil })
	weir.To(posted, webhook.Discard[int64]())
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	for range concurrency {
		<-h.started
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.aborted > 0 {
		t.Errorf("%d posts were cut off by the stop", h.aborted)
	}
	if len(h.taken) != len(h.tries) {
		t.Errorf("the endpoint took %d of the %d records whose posts began before the job ended", len(h.taken), len(h.tries))
	}
	if len(h.tries) < concurrency {
		t.Errorf("%d posts began, want at least %d in flight at the stop", len(h.tries), concurrency)
	}
}

// A job that is canceled cuts the posts in flight off at once, whatever
// DrainTimeout says: only a stop with a savepoint drains.
func TestPostCanceledDoesNotDrain(t *testing.T) {
	const concurrency = 3
	h := &drainHook{released: make(chan struct{}), started: make(chan struct{}, concurrency),
		tries: map[string]int{}, taken: map[string]bool{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := webhook.New(webhook.Config{URL: srv.URL, Concurrency: concurrency, Timeout: time.Hour, DrainTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	env := weir.New()
	ch := make(chan int64, concurrency)
	for i := range concurrency {
		ch <- int64(i)
	}
	posted := webhook.Post(weir.FromChannel(env, ch), c, func(int64) ([]byte, error) { return []byte(`{}`), nil },
		func(n int64) (string, error) { return fmt.Sprint("key-", n), nil })
	weir.To(posted, webhook.Discard[int64]())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	for range concurrency {
		<-h.started
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the canceled job returned nil")
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		aborted := h.aborted
		h.mu.Unlock()
		if aborted == concurrency {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d posts in flight were cut off by the cancellation", aborted, concurrency)
		}
	}
}

// At the end of a bounded input the job ends only once every post has
// been delivered, retries included.
func TestPostFinishesAtEndOfInput(t *testing.T) {
	h := &drainHook{released: make(chan struct{}), started: make(chan struct{}, 1),
		tries: map[string]int{}, taken: map[string]bool{}}
	close(h.released) // first attempts get a 503 at once
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := webhook.New(webhook.Config{URL: srv.URL, Concurrency: 4, Retries: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	env := weir.New()
	nums := make([]int64, 20)
	for i := range nums {
		nums[i] = int64(i)
	}
	posted := webhook.Post(weir.From(env, weir.Slice(nums...)), c, func(int64) ([]byte, error) { return []byte(`{}`), nil },
		func(n int64) (string, error) { return fmt.Sprint("key-", n), nil })
	weir.To(posted, webhook.Discard[int64]())
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.taken) != len(nums) || h.aborted != 0 {
		t.Errorf("the endpoint took %d of %d records (%d posts cut off)", len(h.taken), len(nums), h.aborted)
	}
}
