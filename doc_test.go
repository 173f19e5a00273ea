package weir_test

import (
	"os"
	"strings"
	"testing"
)

// The code in the package doc is the package's Example, which go test
// compiles and runs: every line of the doc's snippet is a line of
// example_test.go, at the top level or in a function body.
func TestDocSnippetIsTheExample(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for l := range strings.Lines(string(example)) {
		have[strings.TrimSuffix(l, "\n")] = true
	}
	n := 0
	for l := range strings.Lines(string(doc)) {
		code, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "//\t")
		if !ok {
			continue
		}
		n++
		if !have[code] && !have["\t"+code] {
			t.Errorf("doc.go shows %q, which is no line of example_test.go", code)
		}
	}
	if n < 10 {
		t.Fatalf("doc.go shows %d lines of code; want the package's example", n)
	}
}
