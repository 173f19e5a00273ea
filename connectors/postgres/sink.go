package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/weirstream/weir"
)

// DefaultBatch is the default of SinkConfig.Batch.
const DefaultBatch = 500

// SinkConfig configures a Sink. Batch has a default; every other field is
// required.
type SinkConfig[T any] struct {
	// DSN is the connection string (postgres://user:password@host:port/db
	// or key=value pairs).
	DSN string
	// Table is the table written, schema-qualified or not ("public.orders").
	Table string
	// Columns are the columns each record gives values of, in the order
	// Values returns them; Key are those of them that identify a row: a
	// primary key or unique constraint of the table. Without Key the sink
	// appends (a plain INSERT); only ExactlyOnceSink makes that exactly
	// once.
	Columns []string
	Key     []string
	// Values returns a record's values, one per column.
	Values func(T) []any
	// Batch is how many upserts a writer sends in one round trip.
	Batch int
}

// Sink upserts records into a table: INSERT … ON CONFLICT (Key) DO UPDATE
// SET the other columns, so a row holds the last record written with its
// key. A writer buffers Batch upserts and sends them in one pipelined
// batch, and sends what it holds at every checkpoint barrier
// (at-least-once). A restored job writes the records since its checkpoint
// again, in their order, which leaves every row as an uninterrupted run
// leaves it: idempotent by key.
type Sink[T any] struct {
	cfg SinkConfig[T]
	sql string
}

var _ weir.Sink[int] = (*Sink[int])(nil)

// NewSink checks cfg and returns a sink.
func NewSink[T any](cfg SinkConfig[T]) (*Sink[T], error) {
	switch {
	case cfg.DSN == "":
		return nil, errors.New("postgres: SinkConfig.DSN is required")
	case cfg.Table == "":
		return nil, errors.New("postgres: SinkConfig.Table is required")
	case len(cfg.Columns) == 0:
		return nil, errors.New("postgres: SinkConfig.Columns is required")
	case cfg.Values == nil:
		return nil, errors.New("postgres: SinkConfig.Values is required")
	case cfg.Batch < 0:
		return nil, fmt.Errorf("postgres: SinkConfig.Batch %d must not be negative", cfg.Batch)
	}
	if _, err := pgx.ParseConfig(cfg.DSN); err != nil {
		return nil, fmt.Errorf("postgres: SinkConfig.DSN: %w", err)
	}
	for i, k := range cfg.Key {
		if !slices.Contains(cfg.Columns, k) {
			return nil, fmt.Errorf("postgres: SinkConfig.Key[%d] %q is not one of Columns %v", i, k, cfg.Columns)
		}
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	return &Sink[T]{cfg: cfg, sql: upsertSQL(cfg.Table, cfg.Columns, cfg.Key)}, nil
}

// upsertSQL is the statement of one upsert.
func upsertSQL(table string, cols, key []string) string {
	q := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = pgx.Identifier{n}.Sanitize()
		}
		return out
	}
	params := make([]string, len(cols))
	var set []string
	for i, c := range cols {
		params[i] = fmt.Sprintf("$%d", i+1)
		if !slices.Contains(key, c) {
			set = append(set, fmt.Sprintf("%s = EXCLUDED.%s", pgx.Identifier{c}.Sanitize(), pgx.Identifier{c}.Sanitize()))
		}
	}
	if len(key) == 0 {
		return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)",
			pgx.Identifier(strings.Split(table, ".")).Sanitize(), strings.Join(q(cols), ", "), strings.Join(params, ", "))
	}
	action := "DO NOTHING"
	if len(set) > 0 {
		action = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) %s",
		pgx.Identifier(strings.Split(table, ".")).Sanitize(), strings.Join(q(cols), ", "), strings.Join(params, ", "),
		strings.Join(q(key), ", "), action)
}

// Open implements weir.Sink: it connects, so that a wrong DSN or table
// fails the job at its start.
func (s *Sink[T]) Open(ctx context.Context, _ weir.SinkInfo) (weir.SinkWriter[T], error) {
	conn, err := pgx.Connect(ctx, s.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := conn.Prepare(ctx, "weir_upsert", s.sql); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("postgres: table %s: %s: %w", s.cfg.Table, s.sql, err)
	}
	return &writer[T]{s: s, conn: conn}, nil
}

type writer[T any] struct {
	s    *Sink[T]
	conn *pgx.Conn
	rows [][]any
}

var _ weir.Flusher = (*writer[int])(nil)

func (w *writer[T]) Write(v T) error {
	vals := w.s.cfg.Values(v)
	if len(vals) != len(w.s.cfg.Columns) {
		return fmt.Errorf("postgres: table %s: Values gave %d values for the %d columns %v", w.s.cfg.Table, len(vals), len(w.s.cfg.Columns), w.s.cfg.Columns)
	}
	w.rows = append(w.rows, vals)
	if len(w.rows) >= w.s.cfg.Batch {
		return w.Flush()
	}
	return nil
}

// Flush implements weir.Flusher: the buffered upserts in one batch, in
// one transaction.
func (w *writer[T]) Flush() error {
	if len(w.rows) == 0 {
		return nil
	}
	ctx := context.Background()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, r := range w.rows {
		b.Queue("weir_upsert", r...)
	}
	b.Queue("COMMIT")
	if err := w.conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: table %s: upsert: %w", w.s.cfg.Table, err)
	}
	clear(w.rows)
	w.rows = w.rows[:0]
	return nil
}

func (w *writer[T]) Close() error {
	err := w.Flush()
	if cerr := w.conn.Close(context.Background()); err == nil && cerr != nil {
		err = fmt.Errorf("postgres: %w", cerr)
	}
	return err
}
