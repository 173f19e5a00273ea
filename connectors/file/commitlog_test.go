package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommitLogNamesEachFileWithItsCheckpoint: with CommitLog, each
// Commit appends its files with their checkpoint to the subtask's log.
func TestCommitLogNamesEachFileWithItsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, CommitLog: true}), 1, 2)
	ctx := context.Background()
	var cs [][]byte
	for id := int64(1); id <= 2; id++ {
		write(t, w, int(id)*10, int(id)*10+3)
		cs = append(cs, prepare(t, w, id))
	}
	if err := w.Commit(ctx, cs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, cs[1:]); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, CommitLogName+"-1"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "1 part-1-") || !strings.HasPrefix(lines[1], "2 part-1-") {
		t.Fatalf("commit log:\n%s\nwant checkpoint 1's file, then checkpoint 2's", b)
	}
	for _, l := range lines {
		_, name, _ := strings.Cut(l, " ")
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("the log names %s, which is not visible: %v", name, err)
		}
	}
	closeWriter(t, w)
}
