// Package reference holds independent, deliberately plain reference
// implementations ("oracles") of the Nexmark queries, against which Weir's
// engine implementations are checked.
//
// Each QN function takes the whole input, a slice of nexmark.Event in stream
// order, and returns the rows the reference Flink SQL of query N
// (nexmark/nexmark, nexmark-flink/src/main/resources/queries/qN.sql)
// produces for it. The package imports nothing from the engine: only the
// model types of internal/app/nexmark and the standard library. Clarity beats
// speed: most functions make several passes or scan quadratically.
//
// # Rows
//
// A Row is an ordered list of (column name, value) pairs. Column names are
// those of the SQL's SELECT list; where the SELECT list leaves a column
// unnamed or names two columns alike, the sink table's column name is used
// (each function says so). Values are int64, string, Decimal or nil (SQL
// NULL); timestamps are int64 Unix milliseconds. Row.JSON writes a row as a
// JSON object in column order.
//
// # Append-only and updating results
//
// Where the reference result is an append-only stream the function returns
// every row appended. Where it is an updating table (unbounded group
// aggregates, TopN, deduplication) the function returns the final table
// state, the net result of the changelog once the whole input is consumed;
// each function documents its key columns. Row order is deterministic and
// documented per function, but a checker should compare rows as multisets
// unless the function says otherwise.
//
// # Time
//
// Event time is the event's dateTime; the reference watermark is
// dateTime − 4 s. Windows are aligned to the Unix epoch (offset 0) and are
// half-open [start, end). With a bounded input every window fires at the end
// of the input, so a window's content is simply the events whose time falls
// in it. The reference drops events that arrive after the watermark has
// passed their window; these functions assume no event is late — true of the
// generator's in-order stream — and do not drop any. CheckNotLate reports
// whether an input satisfies that assumption. Dates and times of day
// (DATE_FORMAT, HOUR) are computed in UTC, as the reference TIMESTAMP(3)
// columns carry no zone.
package reference
