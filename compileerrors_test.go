package weir_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// docExample marks the compiler's message for a program under
// testdata/compileerrors in docs/errors.md: the ```text block after it.
var docExample = regexp.MustCompile("(?s)<!-- compileerrors: ([a-z0-9_]+) -->\\s*```text\\n(.*?)```")

// TestCompileErrorsDocumented builds every program under
// testdata/compileerrors, each a common mistake, in one go build, and
// checks that the compiler's output for each has every line
// docs/errors.md shows for it, and that every program is documented. A Go
// release that words a message differently fails it: update the page.
func TestCompileErrorsDocumented(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	doc, err := os.ReadFile(filepath.Join("docs", "errors.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, m := range docExample.FindAllSubmatch(doc, -1) {
		name := string(m[1])
		if _, dup := want[name]; dup {
			t.Errorf("docs/errors.md: %s is shown twice", name)
		}
		for line := range strings.Lines(string(m[2])) {
			if line = strings.TrimSpace(line); line != "" {
				want[name] = append(want[name], line)
			}
		}
	}
	dirs, err := filepath.Glob(filepath.Join("testdata", "compileerrors", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	programs := map[string]bool{}
	for _, d := range dirs {
		programs[filepath.Base(filepath.Dir(d))] = true
	}
	for name := range want {
		if !programs[name] {
			t.Errorf("docs/errors.md shows %s, which has no testdata/compileerrors/%s/main.go", name, name)
		}
	}

	cmd := exec.Command(gobin, "build", "./testdata/compileerrors/...")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Fatalf("go build ./testdata/compileerrors/... succeeded; every program there must fail:\n%s", out.Bytes())
	}
	got := outputByProgram(out.String())
	for name := range programs {
		msg, ok := got[name]
		switch {
		case !ok:
			t.Errorf("testdata/compileerrors/%s compiled, or its errors are missing from go build's output:\n%s", name, out.Bytes())
		case len(want[name]) == 0:
			t.Errorf("testdata/compileerrors/%s is not shown in docs/errors.md; the compiler says:\n%s", name, msg)
		}
		for _, line := range want[name] {
			if !strings.Contains(msg, line) {
				t.Errorf("testdata/compileerrors/%s: the compiler's output lacks the line docs/errors.md shows\n  %s\ngot:\n%s", name, line, msg)
			}
		}
	}
}

// outputByProgram splits go build's output into the part for each package
// under testdata/compileerrors, by the "# <import path>" lines that head
// them, with each line's leading whitespace removed.
func outputByProgram(out string) map[string]string {
	const prefix = "# github.com/weirstream/weir/testdata/compileerrors/"
	got := map[string]string{}
	var name string
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			name = strings.TrimSpace(rest)
			continue
		}
		if name != "" {
			got[name] += strings.TrimLeft(line, " \t")
		}
	}
	return got
}

// keyTypeOf records the key type its Open context names.
type keyTypeOf struct{ name *string }

func (k keyTypeOf) Open(oc weir.KeyedOpenContext[[2]int16]) error {
	*k.name = oc.KeyType().String()
	return nil
}

func (keyTypeOf) Process(weir.KeyedContext[[2]int16], int, weir.Out[int]) error { return nil }

func TestKeyTypeNamesTheStreamKey(t *testing.T) {
	var name string
	env := weir.New(weir.Parallelism(1))
	ks := weir.KeyBy(weir.From(env, weir.Slice(1, 2)), func(v int) [2]int16 { return [2]int16{int16(v), 0} })
	weir.Collect(weir.Process(ks, keyTypeOf{&name}))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if name != "[2]int16" {
		t.Errorf("KeyType().String() = %q, want [2]int16", name)
	}
}
