package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirstream/weir"
)

func init() {
	// Row values travel in committables as gob-encoded []any.
	gob.Register(time.Time{})
}

// DefaultCommitsTable is the default of ExactlyOnceSink's commits table.
const DefaultCommitsTable = "weir_sink_commits"

// ExactlyOnceSink upserts records like Sink, exactly once: a writer keeps
// the rows written since the last checkpoint barrier and hands them to
// the checkpoint as its committable; when the checkpoint completes they
// are written in one transaction that also inserts the committable's ID
// into a commits table — the offsets-table pattern. A commit that finds
// its ID there has already been applied and does nothing, so the commits
// a restore repeats are idempotent, and nothing a checkpoint covers is
// visible before it completes.
//
// Why not prepared transactions (PREPARE TRANSACTION at the barrier,
// COMMIT PREPARED on completion): a prepared transaction keeps the locks
// of the rows it upserted until it is committed, and the next
// checkpoint's upsert of the same key would wait for them on the task
// that has to commit it; they also need max_prepared_transactions > 0 on
// the server and leave in-doubt transactions to clean up after a crash.
// The commits table needs neither; its cost is that the rows between two
// barriers are held in memory and stored in the checkpoint, so keep the
// checkpoint interval short for high rates.
type ExactlyOnceSink[T any] struct {
	s       *Sink[T]
	commits string
	prefix  string
}

var _ weir.Sink[int] = (*ExactlyOnceSink[int])(nil)

// NewExactlyOnceSink checks cfg and returns an exactly-once sink. prefix
// names the job's sink in the commits table (DefaultCommitsTable, created
// when missing): it must be unique among the sinks writing to the
// database and stable across restores of the job.
func NewExactlyOnceSink[T any](cfg SinkConfig[T], prefix string) (*ExactlyOnceSink[T], error) {
	if prefix == "" {
		return nil, errors.New("postgres: the exactly-once sink's prefix is required (unique per sink, stable across restores)")
	}
	s, err := NewSink(cfg)
	if err != nil {
		return nil, err
	}
	return &ExactlyOnceSink[T]{s: s, commits: DefaultCommitsTable, prefix: prefix}, nil
}

// Open implements weir.Sink.
func (e *ExactlyOnceSink[T]) Open(ctx context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	conn, err := pgx.Connect(ctx, e.s.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// CREATE TABLE IF NOT EXISTS is not safe against itself: two subtasks
	// creating the table at once can fail on the catalog's unique index.
	// A transaction-scoped advisory lock on the table's name makes them
	// take turns.
	create := func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", e.commits); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+pgx.Identifier{e.commits}.Sanitize()+" (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
		return err
	}
	if err := pgx.BeginFunc(ctx, conn, create); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("postgres: create the commits table %s: %w", e.commits, err)
	}
	if _, err := conn.Prepare(ctx, "weir_upsert", e.s.sql); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("postgres: table %s: %s: %w", e.s.cfg.Table, e.s.sql, err)
	}
	return &txWriter[T]{e: e, conn: conn, info: info}, nil
}

// committable is what a checkpoint holds of a writer's rows.
type committable struct {
	ID   string
	Rows [][]any
}

type txWriter[T any] struct {
	e    *ExactlyOnceSink[T]
	conn *pgx.Conn
	info weir.SinkInfo
	rows [][]any
}

var _ weir.TwoPhaseWriter = (*txWriter[int])(nil)

func (w *txWriter[T]) Write(v T) error {
	cfg := &w.e.s.cfg
	vals := cfg.Values(v)
	if len(vals) != len(cfg.Columns) {
		return fmt.Errorf("postgres: table %s: Values gave %d values for the %d columns %v", cfg.Table, len(vals), len(cfg.Columns), cfg.Columns)
	}
	w.rows = append(w.rows, vals)
	return nil
}

// Prepare implements weir.TwoPhaseWriter: the rows since the last barrier
// become the checkpoint's committable.
func (w *txWriter[T]) Prepare(checkpointID int64) ([]byte, error) {
	id := fmt.Sprintf("%s/%d/%d", w.e.prefix, w.info.Subtask, checkpointID)
	if checkpointID == 0 {
		// A job without checkpoints prepares once, with ID 0 in every
		// run: a nonce tells the runs apart.
		var b [8]byte
		rand.Read(b[:])
		id += "/" + hex.EncodeToString(b[:])
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(committable{ID: id, Rows: w.rows}); err != nil {
		return nil, fmt.Errorf("postgres: table %s: encode the rows of checkpoint %d: %w", w.e.s.cfg.Table, checkpointID, err)
	}
	clear(w.rows)
	w.rows = w.rows[:0]
	return buf.Bytes(), nil
}

// Commit implements weir.TwoPhaseWriter: each committable in a
// transaction of its own, skipped when its ID is in the commits table.
func (w *txWriter[T]) Commit(ctx context.Context, committables [][]byte) error {
	for _, raw := range committables {
		var c committable
		if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&c); err != nil {
			return weir.Permanent(fmt.Errorf("postgres: table %s: decode a committable: %w", w.e.s.cfg.Table, err))
		}
		if err := w.commit(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (w *txWriter[T]) commit(ctx context.Context, c committable) error {
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: commit %s: %w", c.ID, err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, "INSERT INTO "+pgx.Identifier{w.e.commits}.Sanitize()+" (id) VALUES ($1) ON CONFLICT DO NOTHING", c.ID)
	if err != nil {
		return fmt.Errorf("postgres: commit %s: %w", c.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // committed before
	}
	b := &pgx.Batch{}
	for _, r := range c.Rows {
		b.Queue("weir_upsert", r...)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: table %s: commit %s: %w", w.e.s.cfg.Table, c.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: table %s: commit %s: %w", w.e.s.cfg.Table, c.ID, err)
	}
	return nil
}

func (w *txWriter[T]) Close() error {
	// Rows not prepared belong to no checkpoint: a restored job writes
	// them again.
	w.rows = nil
	return w.conn.Close(context.Background())
}
