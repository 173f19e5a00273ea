package pipeline_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weirstream/weir/connectors/postgres/pgtest"
)

// startPostgres starts a PostgreSQL server for the test (pgtest.Start)
// and returns its DSN.
func startPostgres(t *testing.T) string { return pgtest.Start(t) }

// execSQL runs statements on the database at dsn.
func execSQL(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// queryInt runs a query returning one integer.
func queryInt(t *testing.T, dsn, q string) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

const enrichPostgres = `version: 1
inputs:
  views:
    type: file
    path: ${env:IN}
    schema: {view: int, customer: any}
steps:
  - name: with-customer
    enrich:
      postgres:
        dsn: ${env:PG}
        query: SELECT name, tier, since, credit, lookup() AS n FROM customers WHERE id = $1
        params: [customer]
      cache: {ttl: 1h}
      fields: {who: name, tier: "tier == nil ? nil : upper(tier)", since: since, credit: credit}
      on_miss: MISS
outputs:
  out: {type: stdout}
dead_letter: {path: "${env:DEAD}"}
`

// A PostgreSQL lookup takes the first row of a query with parameters
// from the record; each key is queried once (the cache), a key with no
// row is a miss, and a query the server refuses is a dead letter.
func TestEnrichPostgres(t *testing.T) {
	dsn := startPostgres(t)
	execSQL(t, dsn,
		`CREATE SEQUENCE lookups`,
		// lookup() counts the rows the query returns, so the test sees
		// how often each key was queried.
		`CREATE FUNCTION lookup() RETURNS bigint AS 'SELECT nextval(''lookups'')' LANGUAGE sql VOLATILE`,
		`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, tier text, since timestamptz, credit numeric(10,2))`,
		`INSERT INTO customers VALUES (1, 'Ann', 'gold', '2024-01-02T03:04:05Z', 12.5), (2, 'Bob', NULL, NULL, NULL)`)
	var records []string
	for i, c := range []int{1, 2, 1, 3, 1, 2, 3} {
		records = append(records, fmt.Sprintf(`{"view":%d,"customer":%d}`, i, c))
	}
	out, dead := runLines(t, strings.Replace(enrichPostgres, "MISS", "keep", 1), map[string]string{"PG": dsn}, records)
	if len(out) != len(records) || len(dead) != 0 {
		t.Fatalf("%d out, %d dead letters; want %d out: %v %v", len(out), len(dead), len(records), out, dead)
	}
	for _, r := range out {
		var want map[string]any
		switch r["customer"] {
		case float64(1):
			want = map[string]any{"who": "Ann", "tier": "GOLD", "since": "2024-01-02T03:04:05Z", "credit": 12.5}
		case float64(2):
			want = map[string]any{"who": "Bob", "tier": nil, "since": nil, "credit": nil}
		case float64(3):
			want = map[string]any{"who": nil, "tier": nil, "since": nil, "credit": nil}
		}
		for k, v := range want {
			got, ok := r[k]
			if !ok || fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("view %v: %s = %v, want %v (record %v)", r["view"], k, got, v, r)
			}
		}
	}
	if n := queryInt(t, dsn, `SELECT last_value FROM lookups`); n != 2 {
		t.Errorf("the customers' rows were read %d times, want 2: one per key, the rest from the cache", n)
	}

	// A miss dead-lettered, and a query the server refuses (a parameter
	// of the wrong type) dead-lettered with the server's reason.
	out, dead = runLines(t, strings.Replace(enrichPostgres, "MISS", "dead-letter", 1), map[string]string{"PG": dsn},
		[]string{`{"view":1,"customer":1}`, `{"view":2,"customer":3}`, `{"view":3,"customer":"x"}`})
	if len(out) != 1 || len(dead) != 2 {
		t.Fatalf("%d out, %d dead letters, want 1 and 2: %v %v", len(out), len(dead), out, dead)
	}
	causes := []string{dead[0]["error"].(string), dead[1]["error"].(string)}
	sort.Strings(causes)
	if !strings.Contains(causes[0], "nothing found for the query with $1 = 3") {
		t.Errorf("a miss: %q, want it to name the parameter", causes[0])
	}
	if !strings.Contains(causes[1], "postgres: the query with $1 = x") || strings.Contains(causes[1], "attempts") {
		t.Errorf("a refused query: %q, want the parameter named and no retries", causes[1])
	}
}
