package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Whatever a segment file holds, the scan on open keeps a prefix of whole
// records that encode back to the same bytes, and fails on nothing.
func FuzzScanSegment(f *testing.F) {
	good := appendRecord(appendRecord(nil, 0, 1, []byte("a")), 1, 2, []byte(`{"view":"v"}`))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(bytes.Clone(good), 0, 0, 0, 0, 1))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "seg")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		count, size, _, err := scanSegment(file, 0, make([]byte, 64))
		if err != nil {
			t.Fatal(err)
		}
		var again []byte
		rest := data[:size]
		for i := range count {
			rec, err := parseRecord(rest, i)
			if err != nil {
				t.Fatalf("record %d of the kept prefix: %v", i, err)
			}
			again = appendRecord(again, rec.off, rec.nanos, rec.value)
			rest = rest[rec.size:]
		}
		if !bytes.Equal(again, data[:size]) {
			t.Fatalf("the kept prefix of %d records does not encode back to its bytes", count)
		}
		if size < int64(len(data)) {
			if _, err := parseRecord(data[size:], count); err == nil {
				t.Fatalf("the scan stopped at byte %d before a whole record", size)
			}
		}
	})
}
