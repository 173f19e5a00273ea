package weir_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/weirstream/weir"
)

// Order is an order placed for an amount, in cents.
type Order struct {
	ID     string
	Amount int
}

// Payment pays an order.
type Payment struct {
	OrderID string
	Amount  int
}

// matchPayments connects orders with their payments. Which of the two
// comes first is not defined, so each side keeps what it saw in keyed
// state until the other arrives.
type matchPayments struct {
	order weir.ValueState[string, Order]
	paid  weir.ValueState[string, int]
}

func (m *matchPayments) Open(c weir.KeyedOpenContext[string]) error {
	m.order = weir.Value[Order](c, "order")
	m.paid = weir.Value[int](c, "paid")
	return nil
}

func (m *matchPayments) Process1(c weir.KeyedContext[string], o Order, out weir.Out[string]) error {
	paid, ok, err := m.paid.Get(c)
	if err != nil || !ok {
		if err == nil {
			err = m.order.Set(c, o)
		}
		return err
	}
	out.Emit(settle(o, paid))
	return m.paid.Clear(c)
}

func (m *matchPayments) Process2(c weir.KeyedContext[string], p Payment, out weir.Out[string]) error {
	o, ok, err := m.order.Get(c)
	if err != nil || !ok {
		if err == nil {
			err = m.paid.Set(c, p.Amount)
		}
		return err
	}
	out.Emit(settle(o, p.Amount))
	return m.order.Clear(c)
}

func settle(o Order, paid int) string {
	if paid < o.Amount {
		return fmt.Sprintf("%s: %d of %d paid", o.ID, paid, o.Amount)
	}
	return o.ID + ": paid"
}

// Two streams keyed alike, connected: one function sees both, with one
// keyed state. Order o3 is never paid, so nothing is emitted for it.
func ExampleCoProcess() {
	env := weir.New(weir.Parallelism(2))
	orders := weir.From(env, weir.Slice(Order{"o1", 500}, Order{"o2", 300}, Order{"o3", 100})).Name("orders")
	payments := weir.From(env, weir.Slice(Payment{"o2", 200}, Payment{"o1", 500})).Name("payments")
	settled := weir.CoProcess(weir.Connect(
		weir.KeyBy(orders, func(o Order) string { return o.ID }),
		weir.KeyBy(payments, func(p Payment) string { return p.OrderID }),
	), &matchPayments{})
	got := weir.Collect(settled)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	lines := got.Values()
	slices.Sort(lines) // two subtasks: any order
	fmt.Println(lines)
	// Output:
	// [o1: paid o2: 200 of 300 paid]
}

// Impression is an ad shown, and AdClick a click on one.
type Impression struct {
	Ad string
	At time.Time
}

type AdClick struct {
	Ad string
	At time.Time
}

// A click counts for an impression of the same ad shown at most 10
// seconds before it. Each side is buffered in keyed state until the
// watermark passes the last time it could still join.
func ExampleIntervalJoin() {
	at := func(sec int) time.Time { return time.Date(2024, 5, 1, 10, 0, sec, 0, time.UTC) }
	env := weir.New()
	shown := weir.From(env, weir.Slice(
		Impression{"shoes", at(0)}, Impression{"hats", at(5)}, Impression{"shoes", at(30)},
	), weir.EventTime(func(i Impression) time.Time { return i.At }, 5*time.Second))
	clicked := weir.From(env, weir.Slice(
		AdClick{"shoes", at(4)}, AdClick{"hats", at(20)}, AdClick{"shoes", at(33)},
	), weir.EventTime(func(c AdClick) time.Time { return c.At }, 5*time.Second))
	joined := weir.IntervalJoin(
		weir.KeyBy(shown, func(i Impression) string { return i.Ad }),
		weir.KeyBy(clicked, func(c AdClick) string { return c.Ad }),
		0, 10*time.Second, // click time in [impression, impression+10s]
		func(i Impression, c AdClick) string {
			return fmt.Sprintf("%s shown %s, clicked %s later", i.Ad, i.At.Format(time.TimeOnly), c.At.Sub(i.At))
		})
	got := weir.Collect(joined)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	lines := got.Values()
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// shoes shown 10:00:00, clicked 4s later
	// shoes shown 10:00:30, clicked 3s later
}

// Price is a product's price, sent to every subtask.
type Price struct {
	Product string
	Cents   int
}

// Purchase is a quantity of a product bought by a customer.
type Purchase struct {
	Customer string
	Product  string
	Qty      int
}

// billAtEnd adds up each customer's purchases at the prices of the
// broadcast price list. The two inputs meet in no defined order, so a
// purchase is kept in keyed state and billed by an event-time timer at
// the end of time, which fires when both bounded inputs have ended: by
// then every price has arrived.
type billAtEnd struct {
	bought weir.ListState[string, Purchase]
}

func (b *billAtEnd) Open(c weir.KeyedOpenContext[string]) error {
	b.bought = weir.List[Purchase](c, "bought")
	return nil
}

func (b *billAtEnd) ProcessElement(c weir.KeyedContext[string], p Purchase, _ *weir.BroadcastState[int], _ weir.Out[string]) error {
	if err := b.bought.Add(c, p); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(weir.EndOfTime)
}

// ProcessBroadcast runs on every subtask with the same prices, so their
// broadcast states stay the same.
func (b *billAtEnd) ProcessBroadcast(_ weir.Context, p Price, prices *weir.BroadcastState[int], _ weir.Out[string]) error {
	prices.Put(p.Product, p.Cents)
	return nil
}

func (b *billAtEnd) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	prices, _ := weir.ReadBroadcastState[int](c) // read-only in a timer
	bought, err := b.bought.Get(c)
	if err != nil {
		return err
	}
	total := 0
	for _, p := range bought {
		cents, ok := prices.Get(p.Product)
		if !ok {
			return fmt.Errorf("customer %s bought %q, which has no price", c.Key(), p.Product)
		}
		total += p.Qty * cents
	}
	out.Emit(fmt.Sprintf("%s owes %d.%02d", c.Key(), total/100, total%100))
	return b.bought.Clear(c)
}

// A small stream of prices is broadcast to every subtask of the keyed
// function that bills purchases.
func ExampleProcessBroadcast() {
	env := weir.New(weir.Parallelism(2))
	prices := weir.From(env, weir.Slice(Price{"tea", 350}, Price{"cake", 275})).Name("prices")
	purchases := weir.From(env, weir.Slice(
		Purchase{"ann", "tea", 2}, Purchase{"bob", "cake", 1}, Purchase{"ann", "cake", 1},
	)).Name("purchases")
	bills := weir.ProcessBroadcast(weir.KeyBy(purchases, func(p Purchase) string { return p.Customer }),
		weir.Broadcast(prices), &billAtEnd{})
	got := weir.Collect(bills)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	lines := got.Values()
	slices.Sort(lines)
	fmt.Println(lines)
	// Output:
	// [ann owes 9.75 bob owes 2.75]
}
