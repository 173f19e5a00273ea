package pipeline_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirstream/weir"
)

// A CSV input with a declared schema reads typed columns (in any order of
// the header), and a CSV output writes the columns of its projection.
func TestPipelineCSV(t *testing.T) {
	const src = `version: 1
inputs:
  trips:
    type: file
    format: csv
    path: ${env:IN}
    schema: {id: int, km: float, city: string}
steps:
  - name: long
    filter: km >= 10
  - name: shape
    project: {city: upper(city), id: id, m: int(km * 1000)}
outputs:
  out: {type: file, format: csv, path: "${env:OUT}"}
`
	dir := t.TempDir()
	in, out := filepath.Join(dir, "trips.csv"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte("city,id,km\nlyon,1,12.5\nnice,2,3\nparis,3,10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := parse(t, src, map[string]string{"IN": in, "OUT": out})
	e := weir.New(p.EnvOptions()...)
	if _, err := p.Build(e); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := committed(t, out)
	want := []string{"LYON,1,12500", "PARIS,3,10000", "city,id,m"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("CSV output %q, want %q", got, want)
	}
}
