// Command enrich enriches orders with their customer from a lookup
// service, exactly once, into part files.
//
//   - Input: generated orders (an ID, a customer ID, an amount).
//   - AsyncMap asks a (fake, in-process) customer service for each order's
//     customer, many requests at once. The service is sometimes
//     unavailable, which is retried (AsyncRetries, AsyncRetryIf); it
//     answers some requests with a bad request, which is not, and some
//     with not found, which it marks Permanent.
//   - Orders whose lookup fails go to the dead letters (-dead), exactly
//     once; the enriched ones to the exactly-once file sink (-out), both
//     committed with each checkpoint.
//   - Ctrl-C stops the job with a savepoint; -restore latest resumes it.
//
// Run it from the repository's root:
//
//	go run ./examples/enrich -orders 0 -rate 1000   # Ctrl-C to stop
//	go run ./examples/enrich -orders 0 -rate 1000 -restore latest
//	cat enrich-out/part-* enrich-dead/part-*
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
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
		close(stop) // a savepoint; a second signal cancels
		<-sig
		cancel()
	}()
	if err := run(ctx, os.Args[1:], stop, os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "enrich:", err)
		os.Exit(1)
	}
}

// Order is an order of a customer, in cents.
type Order struct {
	ID       int64
	Customer int64
	Cents    int64
}

// Enriched is an order with its customer's name and country.
type Enriched struct {
	Order    int64  `json:"order"`
	Customer string `json:"customer"`
	Country  string `json:"country"`
	Cents    int64  `json:"cents"`
}

// run parses args, builds the job and runs it until its input ends, stop
// is closed (a savepoint) or ctx is canceled.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("enrich", flag.ContinueOnError)
	orders := fs.Int64("orders", 1000, "orders to generate; 0 for no end")
	rate := fs.Float64("rate", 0, "orders per second; 0 for as fast as possible")
	out := fs.String("out", "enrich-out", "directory of the enriched orders' part files")
	dead := fs.String("dead", "enrich-dead", "directory of the dead letters")
	checkpoints := fs.String("checkpoints", "enrich-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 10*time.Second, "time between checkpoints")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 {
		return fmt.Errorf("-interval %v: must be positive", *interval)
	}
	opts := []weir.Option{
		weir.Parallelism(2),
		weir.Checkpoints(*interval, *checkpoints),
		weir.DeadLetters(*dead),
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
	sink, err := file.New(file.Config[Enriched]{Dir: *out, Format: file.JSONLines[Enriched](), Ext: ".jsonl"})
	if err != nil {
		return err
	}
	svc := &customers{failed: map[int64]bool{}}
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: *orders, Rate: *rate}, order)).ID("orders")
	enriched := weir.AsyncMap(src, svc.lookup,
		weir.AsyncTimeout(time.Second),
		weir.AsyncRetries(3, time.Millisecond),
		weir.AsyncRetryIf(func(err error) bool { return errors.Is(err, errUnavailable) }),
	).ID("enrich").OnError(weir.DeadLetter)
	weir.To(enriched, sink).ID("out")
	if err := env.Run(ctx); err != nil {
		return err
	}
	if m := env.JobMetrics(); m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}

// order returns order seq; the same seq gives the same order.
func order(seq int64) Order {
	return Order{ID: seq, Customer: seq * 7 % 23, Cents: 100 + seq*37%9900}
}

var (
	errUnavailable = errors.New("customer service unavailable")
	errBadRequest  = errors.New("bad request")
)

// customers is the fake customer service: customers 0 to 19 exist, 20 is
// a bad request, 21 and 22 are not found, and the first request for every
// fifth order finds the service unavailable.
type customers struct {
	mu     sync.Mutex
	failed map[int64]bool
}

func (s *customers) lookup(ctx context.Context, o Order) (Enriched, error) {
	s.mu.Lock()
	unavailable := o.ID%5 == 0 && !s.failed[o.ID]
	if unavailable {
		s.failed[o.ID] = true // until the retry, which succeeds
	} else {
		delete(s.failed, o.ID)
	}
	s.mu.Unlock()
	switch {
	case unavailable:
		return Enriched{}, errUnavailable
	case o.Customer == 20:
		return Enriched{}, fmt.Errorf("customer %d: %w", o.Customer, errBadRequest)
	case o.Customer > 20:
		return Enriched{}, weir.Permanent(fmt.Errorf("customer %d not found", o.Customer))
	}
	countries := []string{"DE", "FR", "JP", "US"}
	return Enriched{Order: o.ID, Customer: fmt.Sprintf("customer-%02d", o.Customer),
		Country: countries[o.Customer%4], Cents: o.Cents}, nil
}
