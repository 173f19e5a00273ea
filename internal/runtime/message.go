package runtime

import (
	"fmt"
	"math"
)

// Time values inside the runtime are Unix milliseconds.
const (
	// NoTimestamp marks a record that carries no event time.
	NoTimestamp int64 = math.MinInt64
	// MinWatermark is the watermark before any has been seen.
	MinWatermark int64 = math.MinInt64
	// MaxWatermark is the final watermark of a bounded input: every pending
	// event-time timer fires when it arrives.
	MaxWatermark int64 = math.MaxInt64
	// MinEventTime and MaxEventTime bound the event times a record may
	// carry: ±2^62 ms, about ±146 million years around 1970. Within them,
	// adding any window size, gap or lateness (a time.Duration, below
	// 2^53 ms) cannot overflow, and the int64 minimum stays free to mean
	// NoTimestamp.
	MinEventTime int64 = -1 << 62
	MaxEventTime int64 = 1 << 62
)

// EventTimeInRange reports whether ts is an event time a record may carry.
func EventTimeInRange(ts int64) bool { return ts >= MinEventTime && ts <= MaxEventTime }

// Kind is the kind of message on a channel.
type Kind uint8

// Message kinds. Data carries a batch of records; every other kind is a
// control message that travels in order with the data.
const (
	Data Kind = iota
	Watermark
	Idle
	Active
	Barrier
	// EndOfInput ends the data of a channel: no records or watermarks
	// follow, but barriers may (the final checkpoint).
	EndOfInput
	// Finished closes a channel: nothing follows.
	Finished
)

func (k Kind) String() string {
	switch k {
	case Data:
		return "data"
	case Watermark:
		return "watermark"
	case Idle:
		return "idle"
	case Active:
		return "active"
	case Barrier:
		return "barrier"
	case EndOfInput:
		return "end-of-input"
	case Finished:
		return "finished"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Message is what a channel carries: a batch of records or one control
// message.
type Message struct {
	Kind Kind
	// Batch is a *Batch[T] when Kind is Data.
	Batch any
	// Value is the watermark for Watermark and the checkpoint ID for Barrier.
	Value int64
}

// Origin names where a record came from: the job-wide index of its source
// split and its offset within the split. The zero Origin means unknown (a
// record emitted by a timer, for example).
type Origin struct {
	Split  int32 // index into the job's split table, plus one
	Offset int64
}

// Known reports whether the origin names a split.
func (o Origin) Known() bool { return o.Split > 0 }

// Rec is one record in a batch: its value, its event time, its origin
// (flattened, so that the key group fits in what would be padding) and,
// behind a keyed exchange, its key group, so the receiver need not hash the
// key again.
type Rec[T any] struct {
	V      T
	Ts     int64
	Offset int64
	Split  int32
	KG     int32
}

// Batch is the unit that crosses a channel.
type Batch[T any] struct {
	Recs []Rec[T]
	// The producer writes Recs' length with every record: the padding
	// keeps the batch on a cache line of its own (64 bytes, a size class
	// whose objects are line-aligned), so producers on different cores
	// filling neighbouring batches do not contend for a line.
	_ [64 - 24]byte
}

// Meta is the metadata of the record a task is processing: every operator
// of a chain reads it to stamp what it emits, and sets Op so a panic can be
// attributed to the operator that was running.
type Meta struct {
	Ts     int64
	Origin Origin
	// KG is the key group a keyed exchange computed for the record.
	KG int32
	Op int
}

// NewMeta returns a task's Meta on cache lines of its own: every record
// writes it, so two tasks' Metas on one line would make their cores
// fight over it (false sharing).
func NewMeta() *Meta {
	type padded struct {
		_ [64]byte
		m Meta
		_ [64]byte
	}
	p := &padded{m: Meta{Ts: NoTimestamp}}
	return &p.m
}
