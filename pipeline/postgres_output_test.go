package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weirstream/weir"
)

const postgresOutputPipeline = `version: 1
inputs:
  bills:
    type: file
    path: ${env:IN}
    schema: {customer: string, hour: int, amount: int}
outputs:
  billed:
    type: postgres
    dsn: ${env:PG_DSN}
    table: billed
    columns: [customer, hour, amount]
    delivery: exactly-once
  totals:
    type: postgres
    from: bills
    dsn: ${env:PG_DSN}
    table: last_bill
    columns: [customer, amount]
    key: [customer]
`

// A pipeline appends each record to one table exactly once and upserts
// the last amount per customer into another.
func TestPipelinePostgresOutputs(t *testing.T) {
	dsn := startPostgres(t)
	execSQL(t, dsn, "CREATE TABLE billed (customer text, hour bigint, amount bigint)",
		"CREATE TABLE last_bill (customer text PRIMARY KEY, amount bigint)")
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf(`{"customer":"c%d","hour":%d,"amount":%d}`, i%4, i, i))
	}
	runLines(t, postgresOutputPipeline, map[string]string{"PG_DSN": dsn}, lines,
		weir.Checkpoints(20*time.Millisecond, t.TempDir()))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, distinct, sum int64
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT hour), sum(amount) FROM billed").Scan(&n, &distinct, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 100 || distinct != 100 || sum != 4950 {
		t.Errorf("billed: %d rows, %d distinct hours, sum %d; want 100, 100, 4950", n, distinct, sum)
	}
	rows, err := conn.Query(ctx, "SELECT customer || '=' || amount FROM last_bill ORDER BY customer")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c0=96", "c1=97", "c2=98", "c3=99"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("last_bill = %v, want %v", got, want)
	}
}
