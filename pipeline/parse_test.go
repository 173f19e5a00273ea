package pipeline

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestParseErrors")

// Each file of testdata/errors holds mistakes; Parse must report all of
// them at once, each at its line and column with the line and a caret, as
// the file's .golden says.
func TestParseErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			p, err := ParseFile(path, Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", path, p)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T, want Errors: %v", err, err)
			}
			got := []byte(err.Error() + "\n")
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("errors of %s:\n%s\nwant (%s):\n%s", path, got, golden, want)
			}
		})
	}
}

// A file over MaxFileSize is refused before it is parsed, naming the
// limit.
func TestParseRefusesLargeFile(t *testing.T) {
	data := append([]byte("version: 1\n# "), bytes.Repeat([]byte("x"), 10<<20)...)
	_, err := Parse("big.yaml", data, Options{})
	if err == nil || !strings.Contains(err.Error(), "big.yaml: the file is larger than 1048576 bytes") {
		t.Fatalf("error %v, want the size limit named", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(path, Options{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("ParseFile: error %v, want the size limit named", err)
	}
}

// Binary data and an empty file are errors naming the file.
func TestParseNotYAML(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"\x00\xff\xfe", "bin.yaml: not a YAML file: invalid UTF-8 at byte 1"},
		{"", "bin.yaml: the file is empty"},
		{"[1, 2]", `bin.yaml:1:1: pipeline: want a mapping (field: value), got a list`},
		{"a: 1\n---\nb: 2\n", "the file holds 2 YAML documents; a pipeline is one"},
	} {
		_, err := Parse("bin.yaml", []byte(tc.data), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): error %v, want %q", tc.data, err, tc.want)
		}
	}
}

const secretPipeline = `version: 1
inputs:
  events:
    type: kafka
    brokers: ${env:BROKERS}
    topic: events
    sasl:
      mechanism: ${env:MECH}
      user: weir
      password: "${file:PASSWORD_FILE}"
outputs:
  out: {type: stdout}
`

// ${env:…} and ${file:…} are replaced in connector fields, and an error
// about such a field shows the reference, never the value.
func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("hunter2-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BROKERS": "127.0.0.1:1", "MECH": "PLAIN", "PASSWORD_FILE": pw}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	data := strings.ReplaceAll(secretPipeline, "${file:PASSWORD_FILE}", "${file:"+pw+"}")
	p, err := Parse("p.yaml", []byte(data), Options{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	k := p.Inputs[0].Kafka
	if k.Conn.SASL.Password != "hunter2-secret" || k.Conn.Brokers[0] != "127.0.0.1:1" {
		t.Fatalf("substituted %+v %+v", k.Conn, k.Conn.SASL)
	}

	env["MECH"] = "hunter2-mechanism"
	delete(env, "BROKERS")
	_, err = Parse("p.yaml", []byte(data), Options{LookupEnv: lookup})
	if err == nil {
		t.Fatal("Parse accepted a bad mechanism and a missing variable")
	}
	msg := err.Error()
	if strings.Contains(msg, "hunter2") {
		t.Errorf("the error shows a secret:\n%s", msg)
	}
	for _, want := range []string{"p.yaml:5:14: input \"events\": brokers: environment variable BROKERS is not set", "p.yaml:8:7: input \"events\": sasl: mechanism: want PLAIN"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error:\n%s\nwant it to hold %q", msg, want)
		}
	}
}

func anyEnv(name string) (string, bool) { return "/tmp/" + name, true }

// The files of testdata/valid and examples/pipelines parse, and their
// test cases pass.
func TestParseValid(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	examples, _ := filepath.Glob("../examples/pipelines/*.yaml")
	for _, path := range append(files, examples...) {
		p, err := ParseFile(path, Options{LookupEnv: anyEnv})
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(p.Tests) == 0 {
			t.Errorf("%s has no test cases", path)
		}
		for _, r := range p.Test(t.Context()) {
			if r.Err != nil {
				t.Errorf("%s:%d: test %q: %v", path, r.Pos.Line, r.Name, r.Err)
			}
		}
	}
}

// A megabyte of nested brackets is refused at once: the YAML parser's
// time grows with the square of their depth.
func TestParseRefusesDeepNesting(t *testing.T) {
	data := append([]byte("version: 1\ninputs: "), bytes.Repeat([]byte("["), MaxFileSize-30)...)
	_, err := Parse("deep.yaml", data, Options{})
	if err == nil || !strings.Contains(err.Error(), "deep.yaml:2:73: collections nested more than 64 deep") {
		t.Fatalf("error %v", err)
	}
}
