package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// The example fraud rule raises an alert for each card and minute with
// more than 3 transactions from more than one city: what plain Go counts
// over the same file. Its own test case passes too.
func TestExampleFraud(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "txns.jsonl")
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	cities := []string{"paris", "lyon", "nice"}
	type minute struct {
		card string
		at   int64
	}
	counts, places := map[minute]int{}, map[minute]map[string]bool{}
	var b strings.Builder
	for i := range 3000 {
		card := fmt.Sprintf("c%02d", (i*7)%40)
		// Most cards stay in one city; every fifth card moves.
		city := cities[(i*7)%40%3]
		if (i*7)%40%5 == 0 {
			city = cities[i%3]
		}
		ts := base.Add(time.Duration(i)*200*time.Millisecond - time.Duration(i%3)*time.Second)
		fmt.Fprintf(&b, `{"id":%d,"card":%q,"amount":%d.25,"city":%q,"ts":%q}`+"\n", i, card, i%90, city, ts.Format(time.RFC3339Nano))
		m := minute{card, ts.Truncate(time.Minute).Unix()}
		counts[m]++
		if places[m] == nil {
			places[m] = map[string]bool{}
		}
		places[m][city] = true
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var want []string
	for m, n := range counts {
		if n > 3 && len(places[m]) > 1 {
			want = append(want, fmt.Sprintf("%s %s %d %d", m.card, time.Unix(m.at, 0).UTC().Format(time.RFC3339), n, len(places[m])))
		}
	}
	slices.Sort(want)
	if len(want) < 10 {
		t.Fatalf("the reference raises %d alerts; the test needs more", len(want))
	}

	out := filepath.Join(dir, "out")
	env := map[string]string{"FRAUD_INPUT": in, "FRAUD_OUTPUT": out}
	p, err := pipeline.ParseFile("../examples/pipelines/fraud.yaml", pipeline.Options{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Test(t.Context()) {
		if r.Err != nil {
			t.Errorf("test case %q: %v", r.Name, r.Err)
		}
	}
	run(t, p, weir.Parallelism(2))
	var got []string
	for _, l := range committed(t, filepath.Join(out, "alerts")) {
		var card, minute string
		var txns, ncities int
		var a struct {
			Card, Minute string
			Txns, Cities int
		}
		if err := jsonUnmarshal(l, &a); err != nil {
			t.Fatal(err)
		}
		card, minute, txns, ncities = a.Card, a.Minute, a.Txns, a.Cities
		got = append(got, fmt.Sprintf("%s %s %d %d", card, minute, txns, ncities))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if late := committed(t, filepath.Join(out, "late")); len(late) != 0 {
		t.Errorf("%d late transactions, want none: they are at most 2 s out of order", len(late))
	}
}
