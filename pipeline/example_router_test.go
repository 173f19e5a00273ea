package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// The example Keystone-style router sends a file of mixed events to three
// outputs by type, each projected, and counts the other types as
// filtered; a record that does not match its schema is dead-lettered.
func TestExampleRouter(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "events.jsonl")
	var b strings.Builder
	var plays, purchases, errs []string
	types := []string{"play", "purchase", "crash", "pause", "error"}
	for i := 1; i <= 50; i++ {
		typ := types[i%len(types)]
		fmt.Fprintf(&b, `{"id":%d,"type":%q,"user":"u%d","title":"t%d","amount":%d.5,"ts":"2026-03-01T10:00:%02dZ"}`+"\n", i, typ, i%4, i%3, i, i)
		switch typ {
		case "play":
			plays = append(plays, fmt.Sprintf(`{"id":%d,"title":"T%d","user":"u%d"}`, i, i%3, i%4))
		case "purchase":
			purchases = append(purchases, fmt.Sprintf(`{"cents":%d,"id":%d,"user":"u%d"}`, i*100+50, i, i%4))
		case "crash", "error":
			errs = append(errs, fmt.Sprintf(`{"at":%d,"id":%d,"kind":%q}`, 1772359200+i, i, typ))
		}
	}
	b.WriteString(`{"id":"not a number","type":"play"}` + "\n")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	env := map[string]string{"ROUTER_INPUT": in, "ROUTER_OUTPUT": out}
	p, err := pipeline.ParseFile("../examples/pipelines/router.yaml", pipeline.Options{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	e := weir.New(append(p.EnvOptions(), weir.Parallelism(2))...)
	if _, err := p.Build(e); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"plays": plays, "purchases": purchases, "errors": errs} {
		slices.Sort(want)
		if got := committed(t, filepath.Join(out, name)); !slices.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	dead := committed(t, filepath.Join(out, "dead-letters"))
	if len(dead) != 1 || !strings.Contains(dead[0], `not a number`) {
		t.Errorf("dead letters: %q", dead)
	}
	var filtered int64
	for _, m := range e.Metrics() {
		filtered += m.Filtered
	}
	if filtered != 10 { // the pauses
		t.Errorf("%d records filtered, want the 10 pauses", filtered)
	}
}
