package pipeline_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// The CDN-log example enriches its sample log lines with each host's
// customer from PostgreSQL: failed requests are filtered, the host is
// looked up in lower case, and a host nobody owns is dead-lettered.
func TestExampleCDNEnrich(t *testing.T) {
	dsn := startPostgres(t)
	execSQL(t, dsn,
		`CREATE TABLE customers (host text PRIMARY KEY, customer text, plan text)`,
		`INSERT INTO customers VALUES ('a.example', 'acme', 'pro'), ('b.example', 'bolt', 'basic')`)
	out := filepath.Join(t.TempDir(), "out")
	env := map[string]string{"PG_DSN": dsn, "CDN_LOGS": "../examples/pipelines/cdn-logs.jsonl", "CDN_OUTPUT": out}
	p, err := pipeline.ParseFile("../examples/pipelines/cdn-enrich.yaml", pipeline.Options{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	e := weir.New(append(p.EnvOptions(), weir.Parallelism(2))...)
	job, err := p.Build(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"bytes":262144,"customer":"bolt","host":"B.example","hour":"2026-03-01T10","plan":"basic","ts":"2026-03-01T10:00:02Z"}`,
		`{"bytes":262144,"customer":"bolt","host":"b.example","hour":"2026-03-01T10","plan":"basic","ts":"2026-03-01T10:59:59Z"}`,
		`{"bytes":524288,"customer":"acme","host":"a.example","hour":"2026-03-01T10","plan":"pro","ts":"2026-03-01T10:00:00Z"}`,
		`{"bytes":524288,"customer":"acme","host":"a.example","hour":"2026-03-01T10","plan":"pro","ts":"2026-03-01T10:00:03Z"}`,
		`{"bytes":524288,"customer":"acme","host":"a.example","hour":"2026-03-01T11","plan":"pro","ts":"2026-03-01T11:00:01Z"}`,
	}
	if got := committed(t, filepath.Join(out, "billable")); !slices.Equal(got, want) {
		t.Errorf("billable:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	bills := []string{
		`{"bytes":1048576,"customer":"acme","hour":"2026-03-01T10:00:00Z","requests":2}`,
		`{"bytes":524288,"customer":"acme","hour":"2026-03-01T11:00:00Z","requests":1}`,
		`{"bytes":524288,"customer":"bolt","hour":"2026-03-01T10:00:00Z","requests":2}`,
	}
	if got := committed(t, filepath.Join(out, "billing")); !slices.Equal(got, bills) {
		t.Errorf("billing:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(bills, "\n"))
	}
	dead := committed(t, filepath.Join(out, "dead-letters"))
	if len(dead) != 1 || !strings.Contains(dead[0], "nobody.example") || !strings.Contains(dead[0], "nothing found for the query with $1 = nobody.example") {
		t.Errorf("dead letters %q, want the host nobody owns", dead)
	}
}
