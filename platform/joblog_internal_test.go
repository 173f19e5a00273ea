package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJobLogRotation: a log rotates at the end of the first line that
// takes it past its size, a line longer than the size is kept whole, the
// oldest file falls off, and with no older files kept the log starts
// again empty.
func TestJobLogRotation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  int
		writes []string
		want   []string // job.log, job.log.1, job.log.2, …
	}{
		{"under the size", 2, []string{"a\n", "b\n"}, []string{"a\nb\n"}},
		{"split at the line's end", 2, []string{"aaaa\nbb", "b\ncc"}, []string{"cc", "aaaa\nbbb\n"}},
		{"long line kept whole", 2, []string{"0123456789abcdef", "ghij\nk\n"}, []string{"", "0123456789abcdefghij\nk\n"}},
		{"oldest falls off", 2, []string{"1111111111\n", "2222222222\n", "3333333333\n", "4\n"}, []string{"4\n", "3333333333\n", "2222222222\n"}},
		{"none kept", 0, []string{"1111111111\n", "22\n"}, []string{"22\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "job.log")
			l, err := openJobLog(path, 8, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.writes {
				if n, err := l.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("write %q: %d, %v", w, n, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				p := path
				if k > 0 {
					p = olderLog(path, k)
				}
				if b, err := os.ReadFile(p); err != nil || string(b) != want {
					t.Errorf("%s = %q, %v; want %q", filepath.Base(p), b, err, want)
				}
			}
			if _, err := os.Stat(olderLog(path, len(tc.want))); !os.IsNotExist(err) {
				t.Errorf("%s exists: %v", filepath.Base(olderLog(path, len(tc.want))), err)
			}
			if tail := string(logTail(path, 1<<10)); !strings.HasSuffix(tail, tc.want[0]) {
				t.Errorf("tail %q does not end with job.log", tail)
			}
		})
	}
}
