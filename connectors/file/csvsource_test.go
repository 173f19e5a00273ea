package file

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectortest"
)

func csvSource(t *testing.T, cfg SourceConfig) *Source[event] {
	t.Helper()
	f, err := format.CSV[event](format.CSVConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := CSVSource(cfg, f)
	if err != nil {
		t.Fatalf("CSVSource: %v", err)
	}
	return s
}

// The header names the columns in another order than the struct and has
// one more; a quoted field spans lines; empty and white-space lines are
// blank.
const csvContent = "user,extra,n\r\n" + // 1
	"ann,x,1\r\n" + // 2
	"\r\n" + // 3 empty
	"\"bob\nand\r\nbo\",,2\n" + // 4–6: one record
	"   \n" + // 7 white space
	"\"c,\"\"d\"\"\",y,3\n" + // 8
	"\n\n" + // 9, 10
	"eve,z,4" // 11, no final line break

var csvWant = []string{"1@2", "2@4", "3@8", "4@11"}

func TestCSVSourceReads(t *testing.T) {
	for _, c := range []Compression{Uncompressed, Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "a.csv"+ext(c))
			writeFile(t, name, c, csvContent)
			for _, max := range []int{1, 2, 100} {
				for _, reopen := range []bool{false, true} {
					s := csvSource(t, SourceConfig{Paths: []string{name}})
					o := readSplit(t, s, name, max, reopen)
					if !slices.Equal(o.got, csvWant) || len(o.rejects) > 0 {
						t.Errorf("Poll(%d), reopened after each: %v: got %q, rejected %v; want %q", max, reopen, o.got, o.rejects, csvWant)
					}
					if n := s.BlankLines(); n != 4 {
						t.Errorf("Poll(%d), reopened after each: %v: %d blank lines, want 4", max, reopen, n)
					}
				}
			}
		})
	}
}

// The records' fields decode as the header binds them.
func TestCSVSourceDecodes(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.csv")
	writeFile(t, name, Uncompressed, csvContent)
	var users []string
	err := readSplitOut(csvSource(t, SourceConfig{Paths: []string{name}}), name, func(e event) { users = append(users, e.User) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ann", "bob\nand\nbo", `c,"d"`, "eve"}; !slices.Equal(users, want) {
		t.Errorf("users %q, want %q", users, want)
	}
}

func TestCSVSourceRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		got     []string
		rejects []string // "line: raw: error part"
	}{
		{"wrong field count", "n,user\n1,a\n2\n3,c,x\n4,d\n", []string{"1@2", "4@5"},
			[]string{"3: 2: line 3 has 1 fields, but the header (line 1) has 2 columns", "4: 3,c,x: line 4 has 3 fields"}},
		{"a field that does not decode", "n,user\none,a\n2,b\n", []string{"2@3"},
			[]string{`2: one,a: csv: column 1 "n"`}},
		{"a stray quote", "n,user\n1,a\"b\n2,b\n", []string{"2@3"},
			[]string{`2: 1,a"b: line 2, column 4: bare "`}},
		{"a quote left open", "n,user\n1,a\n2,\"b\n3,c\n", []string{"1@2"},
			[]string{"3: 2,\"b\n3,c: line 4, column 5: extraneous or missing \" in quoted-field"}},
		{"a header without a column", "user\na\n\nb\n", nil,
			[]string{`1: user: CSV header (line 1): csv: header (user) lacks column "n"`, `2: a: not decoded: CSV header (line 1)`, `4: b: not decoded: CSV header (line 1)`}},
		{"a header naming a column twice", "n,user,n\n1,a,1\n", nil,
			[]string{`1: n,user,n: CSV header (line 1): csv: header: column "n" is both column 1 and column 3`, `2: 1,a,1: not decoded`}},
		{"a record too long", "n,user\n1,a\n2,\"" + strings.Repeat("b", 60) + "\"\n3,c\n", []string{"1@2", "3@4"},
			[]string{"3: 2,\"bbbbb: record of 64 bytes is longer than MaxRecordBytes (40)"}},
		{"a quote left open in a large file", "n,user\n1,a\n2,\"" + strings.Repeat("b\n", 100_000), []string{"1@2"},
			[]string{"3: 2,\"b\nb\nb: longer than MaxRecordBytes (40)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "a.csv")
			writeFile(t, name, Uncompressed, tc.content)
			for _, reopen := range []bool{false, true} {
				o := readSplit(t, csvSource(t, SourceConfig{Paths: []string{name}, MaxRecordBytes: 40}), name, 1, reopen)
				if !slices.Equal(o.got, tc.got) {
					t.Errorf("reopened %v: emitted %q, want %q", reopen, o.got, tc.got)
				}
				var got []string
				for _, r := range o.rejects {
					got = append(got, fmt.Sprintf("%d: %s: %v", r.line, r.raw, r.err))
				}
				ok := len(got) == len(tc.rejects)
				for i := 0; ok && i < len(got); i++ {
					line, rest, _ := strings.Cut(tc.rejects[i], ": ")
					raw, msg, _ := strings.Cut(rest, ": ")
					ok = strings.HasPrefix(got[i], line+": "+raw) && strings.Contains(got[i], msg)
				}
				if !ok {
					t.Errorf("reopened %v: rejected\n%s\nwant\n%s", reopen, strings.Join(got, "\n"), strings.Join(tc.rejects, "\n"))
				}
			}
		})
	}
}

func encodeCSV(_ *testing.T, evs []event) string {
	b := []byte("user,n\n")
	for _, e := range evs {
		b = fmt.Appendf(b, "\"u\n%d\",%d\n", e.N, e.N)
	}
	return string(b)
}

func openCSV(t *testing.T, cfg SourceConfig) weir.Source[event] { return csvSource(t, cfg) }

// The CSV source passes the conformance suite; its records span two lines
// each.
func TestCSVSourceConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		comp  Compression
		watch bool
	}{
		{"plain", Uncompressed, false},
		{"gzip watching", Gzip, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connectortest.RunSource(t, sourceFixture(tc.comp, tc.watch, encodeCSV, openCSV, ".csv"))
		})
	}
}
