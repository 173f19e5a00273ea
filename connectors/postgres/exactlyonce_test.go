package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/postgres"
	"github.com/weirstream/weir/connectors/postgres/pgtest"
	"github.com/weirstream/weir/connectortest"
)

// The exactly-once sink passes the conformance suite as an exactly-once
// sink appending to a table without a key, where a row written twice
// would be seen twice: a job failing and restarting, a job canceled and
// restored, and a crash between a checkpoint and its commit each leave
// every record once.
func TestExactlyOnceSinkConformance(t *testing.T) {
	dsn := pgtest.Start(t)
	var tables atomic.Int64
	connectortest.RunSink(t, connectortest.Sink[int64]{
		Capabilities: connectortest.SinkCapabilities{ExactlyOnce: true, Rescale: true},
		Setup: func(t *testing.T) connectortest.SinkData[int64] {
			table := fmt.Sprintf("events%d", tables.Add(1))
			exec(t, dsn, "CREATE TABLE "+table+" (n bigint NOT NULL, label text NOT NULL)")
			cfg := postgres.SinkConfig[int64]{DSN: dsn, Table: table, Columns: []string{"n", "label"},
				Values: func(n int64) []any { return []any{n, "n" + strconv.FormatInt(n, 10)} }}
			return connectortest.SinkData[int64]{
				Sink: func() weir.Sink[int64] {
					s, err := postgres.NewExactlyOnceSink(cfg, table)
					if err != nil {
						t.Fatalf("NewExactlyOnceSink: %v", err)
					}
					return s
				},
				Committed: func() ([]int64, error) {
					ctx := context.Background()
					conn, err := pgx.Connect(ctx, dsn)
					if err != nil {
						return nil, err
					}
					defer conn.Close(ctx)
					rs, err := conn.Query(ctx, "SELECT n FROM "+table)
					if err != nil {
						return nil, err
					}
					return pgx.CollectRows(rs, pgx.RowTo[int64])
				},
			}
		},
		Record: func(n int64) int64 { return n },
	})
}
