package file

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// Every compression reads the same lines with the same line numbers:
// blank lines skipped and counted, CRLF line breaks, no final line break.
func TestSourceCompressions(t *testing.T) {
	const content = "{\"n\":1}\r\n\n{\"n\":2}\n   \n{\"n\":3}"
	want := []string{"1@1", "2@3", "3@5"}
	for _, tc := range []struct {
		name  string
		write Compression // how the file is written
		cfg   Compression // what the source is told
		ext   string
	}{
		{"plain", Uncompressed, Auto, ".jsonl"},
		{"gzip by extension", Gzip, Auto, ".jsonl.gz"},
		{"zstd by extension", Zstd, Auto, ".jsonl.zst"},
		{"gzip set", Gzip, Gzip, ".data"},
		{"zstd set", Zstd, Zstd, ".data"},
		{"plain set despite the extension", Uncompressed, Uncompressed, ".gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "a"+tc.ext)
			writeFile(t, name, tc.write, content)
			for _, max := range []int{1, 2, 100} {
				for _, reopen := range []bool{false, true} {
					s := jsonSource(t, SourceConfig{Paths: []string{name}, Compression: tc.cfg})
					o := readSplit(t, s, name, max, reopen)
					if !slices.Equal(o.got, want) || len(o.rejects) > 0 {
						t.Errorf("Poll(%d), reopened after each: %v: got %q, rejected %v; want %q", max, reopen, o.got, o.rejects, want)
					}
					if n := s.BlankLines(); n != 2 {
						t.Errorf("Poll(%d), reopened after each: %v: %d blank lines counted, want 2", max, reopen, n)
					}
				}
			}
		})
	}
}

// A reader reopened at its position after every Poll reads every line of
// a larger file once, whatever the compression and the batch size: the
// offset of a plain file and the bytes skipped of a compressed one land on
// the next line.
func TestSourceResumesAtItsPosition(t *testing.T) {
	content := jsonLines(0, 3000) + "\n" + strings.Repeat("x", 100_000) + "\n" + jsonLines(3000, 3100)
	for _, c := range []Compression{Uncompressed, Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "a.jsonl"+ext(c))
			writeFile(t, name, c, content)
			s := jsonSource(t, SourceConfig{Paths: []string{name}})
			o := readSplit(t, s, name, 7, true)
			if len(o.got) != 3100 {
				t.Fatalf("read %d records, want 3100", len(o.got))
			}
			for i, g := range o.got {
				line := i + 1
				if i >= 3000 {
					line += 2
				}
				if want := fmt.Sprintf("%d@%d", i, line); g != want {
					t.Fatalf("record %d is %s, want %s", i, g, want)
				}
			}
			if len(o.rejects) != 1 || o.rejects[0].line != 3002 {
				t.Fatalf("rejected %v, want line 3002 only", o.rejects)
			}
		})
	}
}

func TestSourcePaths(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{
		"a/1.jsonl", "a/2.jsonl.gz", "a/sub/3.jsonl", "a/.hidden.jsonl", "a/_SUCCESS", "a/_tmp/4.jsonl", "a/.git/5.jsonl",
		"b/x.jsonl", "b/y.csv", "b/_z.jsonl", "c/_named.jsonl",
	} {
		writeFile(t, filepath.Join(dir, f), Uncompressed, "{}\n")
	}
	p := func(s string) string { return filepath.Join(dir, filepath.FromSlash(s)) }
	for _, tc := range []struct {
		name  string
		paths []string
		want  []string
	}{
		{"a directory, with its subdirectories, without hidden names", []string{p("a")}, []string{"a/1.jsonl", "a/2.jsonl.gz", "a/sub/3.jsonl"}},
		{"a glob, without hidden names", []string{p("b/*.jsonl")}, []string{"b/x.jsonl"}},
		{"a glob matching a directory", []string{p("[ab]")}, []string{"a/1.jsonl", "a/2.jsonl.gz", "a/sub/3.jsonl", "b/x.jsonl", "b/y.csv"}},
		{"a named file, hidden or not", []string{p("c/_named.jsonl")}, []string{"c/_named.jsonl"}},
		{"overlapping paths, once each", []string{p("b/x.jsonl"), p("b"), p("b/./x.jsonl")}, []string{"b/x.jsonl", "b/y.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			splits, err := jsonSource(t, SourceConfig{Paths: tc.paths}).Splits(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range splits {
				got = append(got, s.ID)
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = p(w)
			}
			if !slices.Equal(got, want) {
				t.Errorf("splits %q, want %q", got, want)
			}
		})
	}
}

func TestSourcePathsThatNameNothing(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path  string
		watch bool
		err   string // "" for none
	}{
		{filepath.Join(dir, "*.jsonl"), false, "no file matches"},
		{filepath.Join(dir, "*.jsonl"), true, ""},
		{filepath.Join(dir, "missing"), false, "no such file"},
		{filepath.Join(dir, "missing"), true, "no such file"},
		{dir, false, ""}, // an empty directory: nothing to read
	} {
		_, err := jsonSource(t, SourceConfig{Paths: []string{tc.path}, Watch: tc.watch}).Splits(context.Background())
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Splits of %s (watch %v): %v, want an error with %q", tc.path, tc.watch, err, tc.err)
		}
	}
}

// A watching source lists a file only once it has gone unmodified for the
// settle time.
func TestSourceSettleTime(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a.jsonl")
	writeFile(t, name, Uncompressed, "{}\n")
	mod := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(name, mod, mod); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		settle time.Duration
		watch  bool
		now    time.Time
		listed bool
	}{
		{0, true, mod.Add(DefaultSettleTime - time.Millisecond), false},
		{0, true, mod.Add(DefaultSettleTime), true},
		{time.Minute, true, mod.Add(59 * time.Second), false},
		{time.Minute, true, mod.Add(time.Minute), true},
		{-1, true, mod, true},
		{time.Minute, false, mod, true}, // a bounded source reads what is there
	} {
		s := jsonSource(t, SourceConfig{Paths: []string{dir}, Watch: tc.watch, SettleTime: tc.settle})
		splits, err := s.list(tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if listed := len(splits) == 1; listed != tc.listed {
			t.Errorf("settle time %v, watch %v, %v after the last change: listed %v, want %v", tc.settle, tc.watch, tc.now.Sub(mod), listed, tc.listed)
		}
	}
}

func TestSourceConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  SourceConfig
		want string
	}{
		{SourceConfig{}, "Paths is required"},
		{SourceConfig{Paths: []string{""}}, "Paths[0] is empty"},
		{SourceConfig{Paths: []string{"a", "[b"}}, "Paths[1]"},
		{SourceConfig{Paths: []string{"a"}, Compression: 9}, "Compression"},
		{SourceConfig{Paths: []string{"a"}, MaxRecordBytes: -1}, "MaxRecordBytes"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := JSONLinesSource[event](SourceConfig{Paths: []string{"a"}}, nil); err == nil {
		t.Error("JSONLinesSource accepts a nil decoder")
	}
}

// Bad input is rejected with the line it is on: a line that does not
// decode, one that is too long, a blank line when blank lines are bad, and
// the rest of a compressed file that does not decompress.
func TestSourceRejects(t *testing.T) {
	dir := t.TempDir()
	good := jsonLines(0, 3)
	plain := filepath.Join(dir, "bad.jsonl")
	writeFile(t, plain, Uncompressed, good+"{\"n\":\"three\"}\n\n"+strings.Repeat("y", 50)+"\n"+jsonLines(3, 4))
	o := readSplit(t, jsonSource(t, SourceConfig{Paths: []string{plain}, MaxRecordBytes: 40, RejectBlank: true}), plain, 2, true)
	want := []string{"0@1", "1@2", "2@3", "3@7"}
	if !slices.Equal(o.got, want) {
		t.Errorf("emitted %q, want %q", o.got, want)
	}
	wantRejects := []struct {
		raw  string
		line int64
		err  string
	}{
		{`{"n":"three"}`, 4, "json"},
		{"", 5, "blank line"},
		{strings.Repeat("y", 40), 6, "record of 50 bytes is longer than MaxRecordBytes (40)"},
	}
	if len(o.rejects) != len(wantRejects) {
		t.Fatalf("rejected %v, want %v", o.rejects, wantRejects)
	}
	for i, w := range wantRejects {
		if r := o.rejects[i]; r.raw != w.raw || r.line != w.line || !strings.Contains(r.err.Error(), w.err) {
			t.Errorf("reject %d: %q at line %d: %v; want %q at line %d: %q", i, r.raw, r.line, r.err, w.raw, w.line, w.err)
		}
	}

	for _, c := range []Compression{Gzip, Zstd} {
		t.Run("corrupt "+c.String(), func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "a.jsonl"+ext(c))
			b := compress(t, c, []byte(jsonLines(0, 2000)))
			b[len(b)-6] ^= 0xff // the checksum (gzip) or the last block (zstd)
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
			o := readSplit(t, jsonSource(t, SourceConfig{Paths: []string{name}}), name, 100, false)
			if len(o.rejects) != 1 || !strings.Contains(o.rejects[0].err.Error(), "does not decompress") {
				t.Fatalf("rejected %v, want one record: does not decompress", o.rejects)
			}
			if r := o.rejects[0]; r.line != int64(len(o.got))+1 {
				t.Errorf("rejected at line %d after %d records, want the line after them", r.line, len(o.got))
			}
		})
	}
	t.Run("not gzip at all", func(t *testing.T) {
		name := filepath.Join(t.TempDir(), "a.jsonl.gz")
		writeFile(t, name, Uncompressed, good)
		o := readSplit(t, jsonSource(t, SourceConfig{Paths: []string{name}}), name, 100, false)
		if len(o.got) != 0 || len(o.rejects) != 1 || o.rejects[0].line != 1 || !strings.Contains(o.rejects[0].err.Error(), "gzip") {
			t.Fatalf("emitted %q, rejected %v; want one reject at line 1 naming gzip", o.got, o.rejects)
		}
	})
}

// A file that grows while it is read, or is shorter than the position a
// checkpoint holds, fails the read: files must be complete.
func TestSourceFileChanged(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a.jsonl")
	writeFile(t, name, Uncompressed, jsonLines(0, 10))
	s := jsonSource(t, SourceConfig{Paths: []string{name}})
	r, err := s.OpenSplit(context.Background(), weir.Split{ID: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o := &output{}
	if _, err := r.Poll(o, 5); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, jsonLines(10, 11))
	f.Close()
	if _, err := r.Poll(o, 100); err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Errorf("Poll after the file grew: %v", err)
	}

	writeFile(t, name, Uncompressed, jsonLines(0, 2))
	for _, c := range []Compression{Uncompressed, Gzip} {
		name := filepath.Join(dir, "b.jsonl"+ext(c))
		writeFile(t, name, c, jsonLines(0, 10))
		r, err := s.OpenSplit(context.Background(), weir.Split{ID: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Poll(o, 8); err != nil {
			t.Fatal(err)
		}
		pos := slices.Clone(r.Position())
		r.Close()
		writeFile(t, name, c, jsonLines(0, 2))
		err = readSplitErr(s, name, 100, false, o)
		if err != nil {
			t.Fatalf("%v", err)
		}
		r, err = s.OpenSplit(context.Background(), weir.Split{ID: name}, pos)
		if err != nil {
			t.Fatal(err)
		}
		var st weir.PollStatus
		for err == nil && st != weir.End {
			st, err = r.Poll(o, 100)
		}
		r.Close()
		if err == nil || !strings.Contains(err.Error(), "the file changed") {
			t.Errorf("%v: restored at a position beyond the end of the file: %v", c, err)
		}
	}
}

func TestSourceBadPosition(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.jsonl")
	writeFile(t, name, Uncompressed, jsonLines(0, 2))
	s := jsonSource(t, SourceConfig{Paths: []string{name}})
	for _, pos := range [][]byte{{}, {2, 0, 0}, {1, 5}, {1, 1, 2}, {1, 1, 1, 1}} {
		if r, err := s.OpenSplit(context.Background(), weir.Split{ID: name}, pos); err == nil {
			r.Close()
			t.Errorf("OpenSplit at position %x: no error", pos)
		}
	}
}

// A job with the dead-letter policy writes the records its file sources
// reject with their file and line: a JSON line that does not decode, a
// CSV row with a field too many (in a gzip file), and the rest of a
// corrupt gzip file.
func TestSourceDeadLetters(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "in", "a.jsonl")
	writeFile(t, jsonl, Uncompressed, jsonLines(0, 2)+"not json\n"+jsonLines(2, 4))
	csvName := filepath.Join(dir, "csv", "b.csv.gz")
	writeFile(t, csvName, Gzip, "n,user\n4,a\n5,b,extra\n\"6\",c\n")
	corrupt := filepath.Join(dir, "in", "c.jsonl.gz")
	b := compress(t, Gzip, []byte(jsonLines(7, 9)))
	if err := os.WriteFile(corrupt, b[:len(b)-4], 0o644); err != nil { // without its size
		t.Fatal(err)
	}
	dead := filepath.Join(dir, "dead")
	env := weir.New(weir.Parallelism(2), weir.OnError(weir.DeadLetter), weir.DeadLetters(dead))
	read := weir.Collect(weir.Union(
		weir.From(env, jsonSource(t, SourceConfig{Paths: []string{filepath.Dir(jsonl)}})).Name("json"),
		weir.From(env, csvSource(t, SourceConfig{Paths: []string{filepath.Dir(csvName)}})).Name("csv")))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range read.Values() {
		got = append(got, strconv.Itoa(e.N))
	}
	slices.Sort(got)
	equal(t, "read", got, nums([2]int{0, 5}, [2]int{6, 9}))
	files, _ := filepath.Glob(filepath.Join(dead, "part-*"))
	var letters []string
	for _, f := range files {
		for _, l := range fileLines(t, f) {
			var m struct {
				Source, Split, Record, Error string
				Line                         int
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			errPart, _, _ := strings.Cut(m.Error, ":")
			letters = append(letters, fmt.Sprintf("%s %s line %d %q %s", m.Source, filepath.Base(m.Split), m.Line, m.Record, errPart))
		}
	}
	slices.Sort(letters)
	want := []string{
		`csv b.csv.gz line 3 "5,b,extra" CSV`,
		`json a.jsonl line 3 "not json" json`,
		`json c.jsonl.gz line 3 "" gzip file does not decompress after line 2`,
	}
	equal(t, "dead letters", letters, want)
}

// A source reads at most MaxOpenFiles files at once; a reader waiting for
// one is woken when another closes.
func TestSourceMaxOpenFiles(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range 3 {
		name := filepath.Join(dir, fmt.Sprintf("%d.jsonl", i))
		writeFile(t, name, Uncompressed, jsonLines(i*10, i*10+10))
		names = append(names, name)
	}
	s := jsonSource(t, SourceConfig{Paths: []string{dir}, MaxOpenFiles: 2})
	var readers []weir.SplitReader[event]
	woken := make([]int, 3)
	for i, name := range names {
		r, err := s.OpenSplit(context.Background(), weir.Split{ID: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.(weir.WakingReader).SetWake(func() { woken[i]++ })
		readers = append(readers, r)
	}
	o := &output{}
	for i, r := range readers {
		st, err := r.Poll(o, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]weir.PollStatus{true: weir.More, false: weir.Wait}[i < 2]; st != want {
			t.Errorf("reader %d: Poll = %v, want %v", i, st, want)
		}
	}
	if err := readers[0].Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(woken, []int{0, 0, 1}) {
		t.Errorf("woken %v after the first reader closed, want the third once", woken)
	}
	for _, r := range readers[1:] {
		for st := weir.More; st != weir.End; {
			var err error
			if st, err = r.Poll(o, 100); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	if len(o.got) != 21 {
		t.Errorf("read %d records, want 21", len(o.got))
	}
	// A job at parallelism 2 reads them all through one open file.
	got, err := readAll(t, jsonSource(t, SourceConfig{Paths: []string{dir}, MaxOpenFiles: 1}), 2)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "read by the job", got, nums([2]int{0, 30}))
}

// A file listed and then removed before it is read fails the read, saying
// so.
func TestSourceFileGone(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.jsonl")
	writeFile(t, name, Uncompressed, jsonLines(0, 2))
	s := jsonSource(t, SourceConfig{Paths: []string{name}})
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := readSplitErr(s, name, 10, false, &output{}); err == nil || !strings.Contains(err.Error(), "was listed but is gone") {
		t.Errorf("reading a removed file: %v", err)
	}
}
