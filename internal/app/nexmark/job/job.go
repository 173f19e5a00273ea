// Package job runs the Nexmark queries on Weir: the Query type every query
// implements, the event sources (the in-process generator and JSON-lines
// files), the outputs (discarded, collected for tests, or the exactly-once
// file sink), the changelog that updating queries write, and Run, which
// `weir nexmark run` drives.
//
// A query builds its job on the public DataStream API only; this package
// gives it the event streams and takes its result stream:
//
//	func buildQ2(c *job.Context) error {
//		bids := c.Bids().Filter(func(b nexmark.Bid) bool { return b.Auction%123 == 0 })
//		job.Emit(c, bids, func(dst []byte, b nexmark.Bid) []byte {
//			r := job.BeginRow(dst)
//			r.Int("auction", b.Auction)
//			r.Int("price", b.Price)
//			return r.End()
//		})
//		return nil
//	}
package job

import (
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
)

// WatermarkDelay is the reference watermark's delay: dateTime − 4 s.
const WatermarkDelay = 4 * time.Second

// Query is one Nexmark query.
type Query struct {
	// Name is "q0" … "q22".
	Name string
	// Title says in a few words what the query computes.
	Title string
	// Updating is true for queries whose reference result is an updating
	// table: their rows carry an "op" (+I, -U, +U, -D).
	Updating bool
	// ProcessingTime is true for the query whose windows close on the wall
	// clock (q12).
	ProcessingTime bool
	// Build adds the query's operators to c.Env, reading c's event streams
	// and ending in one Emit or EmitChanges.
	Build func(c *Context) error
}

// Context is what a query is built from: the job's Env, its events and
// where its result goes.
type Context struct {
	// Env is the job being built.
	Env *weir.Env
	// SideInput is the path of q13's side input file ("" for the generated
	// default).
	SideInput string

	events   weir.Stream[nexmark.Event]
	bids     *weir.Stream[nexmark.Bid]
	auctions *weir.Stream[nexmark.Auction]
	persons  *weir.Stream[nexmark.Person]
	out      *output
	emitted  bool
	err      error
}

// Events returns the stream of all events, with event time dateTime and the
// reference watermark.
func (c *Context) Events() weir.Stream[nexmark.Event] { return c.events }

// Bids returns the bids of the event stream (the reference's bid view).
func (c *Context) Bids() weir.Stream[nexmark.Bid] {
	if c.bids == nil {
		s := weir.Map(c.events.Filter(func(e nexmark.Event) bool { return e.Kind == nexmark.KindBid }).Name("bids?"),
			func(e nexmark.Event) nexmark.Bid { return e.Bid }).Name("bids")
		c.bids = &s
	}
	return *c.bids
}

// Auctions returns the auctions of the event stream.
func (c *Context) Auctions() weir.Stream[nexmark.Auction] {
	if c.auctions == nil {
		s := weir.Map(c.events.Filter(func(e nexmark.Event) bool { return e.Kind == nexmark.KindAuction }).Name("auctions?"),
			func(e nexmark.Event) nexmark.Auction { return e.Auction }).Name("auctions")
		c.auctions = &s
	}
	return *c.auctions
}

// Persons returns the people of the event stream.
func (c *Context) Persons() weir.Stream[nexmark.Person] {
	if c.persons == nil {
		s := weir.Map(c.events.Filter(func(e nexmark.Event) bool { return e.Kind == nexmark.KindPerson }).Name("persons?"),
			func(e nexmark.Event) nexmark.Person { return e.Person }).Name("persons")
		c.persons = &s
	}
	return *c.persons
}

// Op is the kind of a changelog row, as Flink names them.
type Op uint8

// The changelog's row kinds.
const (
	Insert       Op = iota // +I: a new row
	UpdateBefore           // -U: the old version of a row about to change
	UpdateAfter            // +U: the new version of a row
	Delete                 // -D: a row that is gone
)

// String returns +I, -U, +U or -D.
func (o Op) String() string {
	switch o {
	case Insert:
		return "+I"
	case UpdateBefore:
		return "-U"
	case UpdateAfter:
		return "+U"
	case Delete:
		return "-D"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Change is one changelog row of an updating query.
type Change[T any] struct {
	Op  Op
	Row T
}

// Encoder appends one row to dst as a JSON object (see Row).
type Encoder[T any] func(dst []byte, v T) []byte

// EmitOption changes how Emit writes its rows.
type EmitOption[T any] func(*emitConfig[T])

type emitConfig[T any] struct {
	partition func(T) string
}

// PartitionBy puts each row written to files in the subdirectory partition
// returns (q10's dt/hm partitions). It matters only with an output
// directory.
func PartitionBy[T any](partition func(T) string) EmitOption[T] {
	return func(c *emitConfig[T]) { c.partition = partition }
}

// Emit makes s the query's result, an append-only stream of rows encoded
// by enc.
func Emit[T any](c *Context, s weir.Stream[T], enc Encoder[T], opts ...EmitOption[T]) {
	var cfg emitConfig[T]
	for _, o := range opts {
		o(&cfg)
	}
	if c.emitted {
		c.err = errors.Join(c.err, errors.New("nexmark: the query emits twice; a query has one result"))
		return
	}
	c.emitted = true
	attach(c, s, enc, cfg)
}

// EmitChanges makes s the query's result, a changelog of rows encoded by
// enc: each line is the row's object with "op" first.
func EmitChanges[T any](c *Context, s weir.Stream[Change[T]], enc Encoder[T]) {
	Emit(c, s, func(dst []byte, ch Change[T]) []byte {
		dst = append(dst, `{"op":"`...)
		dst = append(dst, ch.Op.String()...)
		dst = append(dst, '"')
		// The row's object follows; its opening brace becomes the comma
		// after the op, or goes with an empty row.
		brace := len(dst)
		dst = enc(dst, ch.Row)
		if len(dst) == brace+2 { // "{}"
			return append(dst[:brace], '}')
		}
		dst[brace] = ','
		return dst
	})
}
