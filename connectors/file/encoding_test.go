package file

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

func csvEvents(t *testing.T) Encoding[event] {
	t.Helper()
	for _, e := range encodings(t) {
		if e.name == "CSV" {
			var c Config[event]
			e.set(&c)
			return c.Encoding
		}
	}
	t.Fatal("no CSV encoding")
	return nil
}

// row is a record whose V fails to encode when negative.
type row struct {
	N int     `csv:"n"`
	V failing `csv:"v"`
}

type failing int

func (f failing) MarshalText() ([]byte, error) {
	if f < 0 {
		return nil, errors.New("negative")
	}
	return []byte(strconv.Itoa(int(f))), nil
}

func (f *failing) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(string(b))
	*f = failing(n)
	return err
}

// CSV part files each start with the header, quote what needs quoting, and
// read back as written.
func TestCSVEncoding(t *testing.T) {
	dir := t.TempDir()
	users := []string{"plain", "a,b", `q"uote`, "line\nbreak", " lead", "", "crlf\r\nin"}
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, Encoding: csvEvents(t), Ext: ".csv", RollSize: 20}), 0, 1)
	defer closeWriter(t, w)
	for i, u := range users {
		if err := w.Write(event{N: i, User: u}); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, w, prepare(t, w, 1))
	files := visibleFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d files with RollSize 20, want several", len(files))
	}
	got := map[int]string{}
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) < 2 || !slices.Equal(rows[0], []string{"n", "user"}) {
			t.Fatalf("%s: %q, want the header and records", name, rows)
		}
		for _, r := range rows[1:] {
			n, _ := strconv.Atoi(r[0])
			got[n] = r[1]
		}
	}
	for i, u := range users {
		// encoding/csv reads a quoted \r\n as \n, as RFC 4180 readers do.
		if want := strings.ReplaceAll(u, "\r\n", "\n"); got[i] != want {
			t.Errorf("record %d: user %q, want %q", i, got[i], want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, files[0]))
	if err != nil {
		t.Fatal(err)
	}
	if want := "n,user\n0,plain\n1,\"a,b\"\n"; !strings.HasPrefix(string(b), want) {
		t.Errorf("first file %q, want it to start %q", b, want)
	}
}

// A record that does not encode fails its write alone, and a file none of
// whose records could be written is not committed.
func TestCSVEncodingBadRecord(t *testing.T) {
	dir := t.TempDir()
	f, err := format.CSV[row](format.CSVConfig{Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := CSV(f)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config[row]{Dir: dir, Encoding: enc, Ext: ".csv", Partition: func(r row) string { return strconv.Itoa(r.N % 2) }})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.OpenWriter(weir.SinkInfo{Name: "files", OperatorID: "op", Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, r := range []row{{1, -1}, {2, 2}, {4, -4}, {6, 6}} {
		err := w.Write(r)
		if (err != nil) != (r.V < 0) || err != nil && !strings.Contains(err.Error(), "negative") {
			t.Errorf("Write(%v): %v", r, err)
		}
	}
	c, err := w.Prepare(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(context.Background(), [][]byte{c}); err != nil {
		t.Fatal(err)
	}
	equal(t, "visible files", visibleFiles(t, dir), []string{"0/" + partName(0, w.attempt, 1, ".csv")})
	b, err := os.ReadFile(filepath.Join(dir, "0", partName(0, w.attempt, 1, ".csv")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "n;v\n2;2\n6;6\n"; string(b) != want {
		t.Errorf("the file holds %q, want %q", b, want)
	}
}

// Parquet part files are rolled at every checkpoint and each is a whole
// file parquet-go reads.
func TestParquetEncoding(t *testing.T) {
	dir := t.TempDir()
	enc, err := Parquet[event]()
	if err != nil {
		t.Fatal(err)
	}
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, Encoding: enc, Ext: ".parquet"}), 0, 1)
	defer closeWriter(t, w)
	var want []event
	for cp := range 2 {
		for n := cp * 100; n < cp*100+100; n++ {
			e := event{N: n, User: "u" + strconv.Itoa(n%7)}
			want = append(want, e)
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		commit(t, w, prepare(t, w, int64(cp+1)))
		if files := visibleFiles(t, dir); len(files) != cp+1 {
			t.Fatalf("after checkpoint %d: files %q, want %d", cp+1, files, cp+1)
		}
	}
	var got []event
	for _, name := range visibleFiles(t, dir) {
		rows, err := parquet.ReadFile[event](filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) != 100 {
			t.Errorf("%s has %d rows, want 100", name, len(rows))
		}
		got = append(got, rows...)
	}
	slices.SortFunc(got, func(a, b event) int { return a.N - b.N })
	if !slices.Equal(got, want) {
		t.Errorf("read back %d rows, want %d: %v", len(got), len(want), got)
	}
}

func TestEncodingConstructors(t *testing.T) {
	if _, err := Parquet[int](); err == nil {
		t.Error("Parquet[int]: no error")
	}
	if _, err := Parquet[struct{ C chan int }](); err == nil {
		t.Error("Parquet of a struct with a channel: no error")
	}
	if _, err := Parquet[struct{ x int }](); err == nil {
		t.Error("Parquet of a struct without exported fields: no error")
	}
	if _, err := CSV[event](nil); err == nil {
		t.Error("CSV without a format: no error")
	}
	rf, err := format.CSV[format.Record](format.CSVConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CSV(rf); err == nil {
		t.Error("CSV of a format without columns: no error")
	}
	rf, err = rf.WithHeader([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CSV(rf); err != nil {
		t.Errorf("CSV of a format given a header: %v", err)
	}
	enc := csvEvents(t)
	if _, err := New(Config[event]{Dir: "d", Format: numbers(), Encoding: enc}); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("New with Format and Encoding: %v", err)
	}
}

// A write the file refuses (here: its descriptor closed underneath) fails
// the writer, whatever the encoding: the file's contents are unknown, so
// nothing more is written and no checkpoint can name it.
func TestWriteFailureStopsTheWriter(t *testing.T) {
	for _, enc := range encodings(t)[:2] { // Parquet writes at Close only
		t.Run(enc.name, func(t *testing.T) {
			cfg := Config[event]{Dir: t.TempDir(), Partition: func(e event) string { return e.User }}
			enc.set(&cfg)
			w := openWriter(t, newSink(t, cfg), 0, 1)
			defer closeWriter(t, w)
			write(t, w, 0, 1)
			w.open[""].f.Close()
			var err error
			for n := 1; err == nil && n < 1e5; n++ {
				err = w.Write(event{N: n})
			}
			if err == nil || !strings.Contains(err.Error(), "write ") {
				t.Fatalf("Write to a closed file: %v", err)
			}
			if err := w.Write(event{N: 1, User: "other"}); err == nil {
				t.Error("Write to another file after a failed write: no error")
			}
			if _, err := w.Prepare(1); err == nil {
				t.Error("Prepare after a failed write: no error")
			}
		})
	}
}
