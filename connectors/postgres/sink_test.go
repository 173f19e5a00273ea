package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/postgres"
	"github.com/weirstream/weir/connectors/postgres/pgtest"
	"github.com/weirstream/weir/connectortest"
)

func exec(t *testing.T, dsn string, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// rows reads "id=value" of every row of table.
func rows(dsn, table string) ([]string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, "SELECT id, value FROM "+table+" ORDER BY id")
	if err != nil {
		return nil, err
	}
	var out []string
	for rs.Next() {
		var id, v string
		if err := rs.Scan(&id, &v); err != nil {
			return nil, err
		}
		out = append(out, id+"="+v)
	}
	return out, rs.Err()
}

// The upsert sink passes the conformance suite as an at-least-once sink:
// each record is a row of its own key.
func TestUpsertSinkConformance(t *testing.T) {
	dsn := pgtest.Start(t)
	var tables atomic.Int64
	connectortest.RunSink(t, connectortest.Sink[string]{
		Capabilities: connectortest.SinkCapabilities{Rescale: true},
		Setup: func(t *testing.T) connectortest.SinkData[string] {
			table := fmt.Sprintf("suite%d", tables.Add(1))
			exec(t, dsn, "CREATE TABLE "+table+" (id text PRIMARY KEY, value text NOT NULL)")
			cfg := postgres.SinkConfig[string]{DSN: dsn, Table: table, Columns: []string{"id", "value"}, Key: []string{"id"},
				Values: func(s string) []any { return []any{s, "v" + s} }}
			return connectortest.SinkData[string]{
				Sink: func() weir.Sink[string] {
					s, err := postgres.NewSink(cfg)
					if err != nil {
						t.Fatalf("NewSink: %v", err)
					}
					return s
				},
				Committed: func() ([]string, error) {
					rs, err := rows(dsn, table)
					var out []string
					for _, r := range rs {
						out = append(out, r[:indexEq(r)])
					}
					return out, err
				},
			}
		},
		Record: func(n int64) string { return strconv.FormatInt(n, 10) },
	})
}

func indexEq(s string) int {
	for i := range len(s) {
		if s[i] == '=' {
			return i
		}
	}
	return len(s)
}

// A job upserting 3000 updates of 50 keys, failing once after a
// checkpoint and restarted by its restart strategy, leaves each row at its
// key's last update, as the reference computed from the input says.
func TestUpsertSinkAcrossRestart(t *testing.T) {
	dsn := pgtest.Start(t)
	exec(t, dsn, "CREATE TABLE view (id text PRIMARY KEY, value text NOT NULL, updated bigint NOT NULL)")
	const n, keys = 3000, 50
	type update struct {
		key string
		seq int64
	}
	gen := weir.Generator(weir.GeneratorSpec{Count: n, Rate: 5000}, func(seq int64) update {
		return update{key: fmt.Sprintf("k%02d", seq%keys), seq: seq}
	})
	want := map[string]string{}
	for seq := range int64(n) {
		want[fmt.Sprintf("k%02d", seq%keys)] = fmt.Sprintf("v%d", seq)
	}
	sink, err := postgres.NewSink(postgres.SinkConfig[update]{DSN: dsn, Table: "view", Columns: []string{"id", "value", "updated"},
		Key: []string{"id"}, Batch: 64,
		Values: func(u update) []any { return []any{u.key, fmt.Sprintf("v%d", u.seq), u.seq} }})
	if err != nil {
		t.Fatal(err)
	}
	var armed, failed atomic.Bool
	var seen, restarts atomic.Int64
	var arm sync.Once
	env := weir.New(weir.Checkpoints(100*time.Millisecond, t.TempDir()),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { arm.Do(func() { armed.Store(true) }) }),
		weir.Restarts(weir.RestartStrategy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}),
		weir.OnRestart(func(weir.Restart) { restarts.Add(1) }))
	s := weir.TryMap(weir.From(env, gen).ID("gen"), func(u update) (update, error) {
		if armed.Load() && seen.Add(1) > 200 && failed.CompareAndSwap(false, true) {
			return u, errors.New("the failure injected once after a checkpoint")
		}
		return u, nil
	}).ID("fail-once")
	weir.To(s, sink).ID("view")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if restarts.Load() != 1 {
		t.Fatalf("the job restarted %d times, want 1", restarts.Load())
	}
	got, err := rows(dsn, "view")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != keys {
		t.Fatalf("view holds %d rows, want %d", len(got), keys)
	}
	for _, r := range got {
		id := r[:indexEq(r)]
		if r[len(id)+1:] != want[id] {
			t.Errorf("row %s, want %s=%s", r, id, want[id])
		}
	}
}
