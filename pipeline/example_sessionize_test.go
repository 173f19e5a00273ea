package pipeline_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// The example script UDF sessionizes its views file with keyed state, at
// parallelism 2: each view with its session, each ended session
// summarized, and the view whose time is not a time dead-lettered with
// the script's message and position.
func TestExampleSessionize(t *testing.T) {
	out := t.TempDir()
	env := map[string]string{"SESSIONIZE_INPUT": "../examples/pipelines/sessionize-views.jsonl", "SESSIONIZE_OUTPUT": out}
	p, err := pipeline.ParseFile("../examples/pipelines/sessionize.yaml", pipeline.Options{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
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
	for name, want := range map[string][]string{
		"views": {
			`{"id":1,"n":1,"session":"ann-1","title":"heat","user":"ann"}`,
			`{"id":2,"n":1,"session":"bob-1","title":"up","user":"bob"}`,
			`{"id":3,"n":2,"session":"ann-1","title":"up","user":"ann"}`,
			`{"id":4,"n":3,"session":"ann-1","title":"heat","user":"ann"}`,
			`{"id":5,"n":1,"session":"bob-2","title":"up","user":"bob"}`,
			`{"id":6,"n":1,"session":"ann-2","title":"alien","user":"ann"}`,
			`{"id":7,"n":2,"session":"bob-2","title":"heat","user":"bob"}`,
		},
		"sessions": {
			`{"end":"2026-03-01T10:01:00.000Z","session":"bob-1","start":"2026-03-01T10:01:00.000Z","titles":1,"user":"bob","views":1}`,
			`{"end":"2026-03-01T10:45:00.000Z","session":"ann-1","start":"2026-03-01T10:00:00.000Z","titles":2,"user":"ann","views":3}`,
		},
	} {
		slices.Sort(want)
		if got := committed(t, filepath.Join(out, name)); !slices.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	dead := committed(t, filepath.Join(out, "dead-letters"))
	if len(dead) != 1 || !strings.Contains(dead[0], `"record":{"id":8,"title":"heat","ts":"not a time","user":"cy"}`) || !strings.Contains(dead[0], `script: process threw at sessionize.js:15:11: Error: view 8: ts \"not a time\" is not a time`) {
		t.Errorf("dead letters: %q", dead)
	}
	for _, r := range p.Test(t.Context()) {
		if r.Err != nil {
			t.Errorf("test case %q: %v", r.Name, r.Err)
		}
	}
}
