// Package weir is the DataStream API of Weir, a stateful stream processor:
// typed streams, keyed state and timers in event and processing time,
// watermarks, side outputs, and the interfaces sources and sinks implement.
//
// A job is described on an Env and then run. This one counts the views of
// each title in keyed state; it is the package's runnable Example, and
// examples/videoquality is a whole program (count windows, the
// exactly-once file sink, checkpoints, a savepoint on Ctrl-C, restore):
//
//	// View is a video view, reported when it ended.
//	type View struct {
//		Title   string
//		EndedAt time.Time
//	}
//
//	// viewCount counts the views of each title in keyed state.
//	type viewCount struct{ views weir.ValueState[string, int] }
//
//	func (c *viewCount) Open(oc weir.KeyedOpenContext[string]) error {
//		c.views = weir.Value[int](oc, "views")
//		return nil
//	}
//
//	func (c *viewCount) Process(kc weir.KeyedContext[string], v View, out weir.Out[string]) error {
//		n, _, err := c.views.Get(kc)
//		if err != nil {
//			return err
//		}
//		out.Emit(fmt.Sprintf("%s: view %d, ended %s", kc.Key(), n+1, v.EndedAt.UTC().Format(time.TimeOnly)))
//		return c.views.Set(kc, n+1)
//	}
//
//	at := func(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 0) }
//	env := weir.New(weir.Parallelism(1))
//	views := weir.From(env, weir.Slice(
//		View{"Morning Yoga", at(1)}, View{"Space Launch Live", at(2)}, View{"Morning Yoga", at(3)}),
//		weir.EventTime(func(v View) time.Time { return v.EndedAt }, 5*time.Second))
//	byTitle := weir.KeyBy(views, func(v View) string { return v.Title })
//	counts := weir.Process(byTitle, &viewCount{})
//	weir.To(counts, weir.Stdout[string](nil))
//	if err := env.Run(context.Background()); err != nil {
//		fmt.Println(err)
//	}
//
// Type-changing steps are package functions (Map, TryMap, FlatMap, KeyBy,
// Process, SideOutput), because Go methods cannot have type parameters;
// type-preserving ones are methods (Filter, Name, ID, Parallelism,
// Rebalance).
//
// # Exchanges
//
// Each edge between two operators is forward (subtask i to subtask i,
// chained into one task when the parallelism is the same), rebalance (round
// robin, when the parallelism differs or after Stream.Rebalance), hash
// (after KeyBy) or broadcast (into ProcessBroadcast); Stream documents the
// rules and Env.Plan shows the choice.
//
// # Keys and state
//
// KeyBy routes each record by the key group of its key: the XXH64 hash of
// the key's encoding (package codec) modulo the job's max parallelism (128
// by default). A keyed function declares state in Open with Value, List and
// MapOf; every state access is scoped to the key of the record or timer at
// hand. State may expire with TTL, measured from the last write.
//
// A key's identity is its encoding: floats are keyed with -0 as +0, times
// by their instant, and key types whose == compares something no encoding
// keeps (pointers, channels, interfaces, fields the codec leaves out) are
// rejected by Validate; a record whose key holds NaN is an error (see
// KeyBy).
//
// # Time
//
// Sources give records event times with the EventTime option, which also
// derives each split's watermark (bounded out-of-orderness); IdleTimeout
// keeps a quiet split from holding the watermark back. A time inside the
// data is taken after decoding with Stream.AssignTime, whose function may
// fail under the error policy; chained to its source through maps and
// filters it keeps the watermark per split, elsewhere it makes one per
// subtask. Watermarks are sent after every poll of a source's splits (or
// input batch), and within one once WatermarkInterval has passed (200 ms
// by default; 0 for every record). An operator's
// watermark is the minimum over its active inputs. Event-time timers fire in
// time order as the watermark passes them; processing-time timers fire on
// the wall clock. When a bounded input ends, a final watermark (EndOfTime)
// fires every pending event-time timer.
//
// # Errors
//
// A function that returns an error, or panics, fails the job; the error
// (an *OperatorError) names the operator, its subtask (counted from 0, as
// everywhere in Weir) and where the failing record came from: source, split
// and offset, or line for a source of lines (OffsetNamer). OnError turns
// failures into skipped records or dead letters, which DeadLetters writes
// exactly once, in step with checkpoints. AsyncMap retries only the
// errors AsyncRetryIf accepts, and never one marked Permanent. Mistakes in the graph — duplicate IDs, parallelism above
// the max parallelism, unsupported key types — are reported by Validate and
// Run before anything runs.
//
// Mistakes in types are compile errors. Process, Aggregate, To, From and
// the other functions that take a user function, sink or source take it as
// a type parameter constrained by its interface, so that the compiler
// names the method that is missing or has the wrong signature; asserting
// the interface where the type is declared (var _ weir.Sink[Order] =
// (*ordersSink)(nil)) spells out its type arguments too. docs/errors.md
// lists the messages of common mistakes and what they mean.
package weir

import "github.com/weirstream/weir/internal/runtime"

// OperatorError is the error a job fails with when an operator fails: the
// operator's name and ID, the subtask, and the failing record's origin
// (source, split and offset) where known.
type OperatorError = runtime.OperatorError

// RecordOrigin names where a record came from.
type RecordOrigin = runtime.RecordOrigin
