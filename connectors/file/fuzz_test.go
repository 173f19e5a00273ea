package file

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzSourcePositions reads a file straight through and again with the
// reader reopened at its position after every Poll: both must give the
// same records and rejections, with the same lines and errors, whatever
// the file holds.
func FuzzSourcePositions(f *testing.F) {
	f.Add([]byte("{\"n\":1}\n\n{\"n\":2}\r\nbad\n{\"n\":3}"), false, false, uint8(1))
	f.Add([]byte("n,user\n1,a\n\n\"2\",\"b\nc\"\n3,\"d\n4,e\n"), true, false, uint8(2))
	f.Add([]byte("user,n\r\n\"x\"\"y\",1\r\n2,z\n ,3\n\"4\",a\"b\n"), true, true, uint8(3))
	f.Add([]byte("n\n1\n2\n"), true, true, uint8(1))
	f.Fuzz(func(t *testing.T, content []byte, isCSV, gzipped bool, max uint8) {
		if max == 0 || len(content) > 1<<16 {
			return
		}
		c := Uncompressed
		if gzipped {
			c = Gzip
		}
		name := filepath.Join(t.TempDir(), "a")
		writeFile(t, name, c, string(content))
		cfg := SourceConfig{Paths: []string{name}, Compression: c, MaxRecordBytes: 64}
		open := jsonSource
		if isCSV {
			open = csvSource
		}
		read := func(reopen bool) []string {
			o := &output{}
			err := readSplitErr(open(t, cfg), name, int(max), reopen, o)
			out := slices.Clone(o.got)
			for _, r := range o.rejects {
				out = append(out, fmt.Sprintf("reject %d %q %v", r.line, r.raw, r.err))
			}
			return append(out, fmt.Sprint(err))
		}
		straight, reopened := read(false), read(true)
		if !slices.Equal(straight, reopened) {
			t.Fatalf("read straight:\n%q\nreopened after every Poll:\n%q", straight, reopened)
		}
	})
}
