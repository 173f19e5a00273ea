package platform

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRestoreArgsKeepTheChosenSnapshot: after a restore from an older
// checkpoint, a restart starts from that checkpoint again until the new
// run has completed one of its own, not from the newest of the run before.
func TestRestoreArgsKeepTheChosenSnapshot(t *testing.T) {
	dir := t.TempDir()
	complete := func(name string) {
		if err := os.MkdirAll(filepath.Join(dir, checkpoints, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, checkpoints, name, "_metadata"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	j := newJob(dir, jobSpec{ID: "j000000000001"})
	if got := restoreArgs(j); got != nil {
		t.Errorf("no checkpoint: %v; want no --restore", got)
	}
	complete("chk-3")
	complete("chk-7")
	if got, want := restoreArgs(j), []string{"--restore", "latest"}; !slices.Equal(got, want) {
		t.Errorf("checkpoints, no restore chosen: %v; want %v", got, want)
	}
	c, status, err := findSnapshot(filepath.Join(dir, checkpoints), "chk-3")
	if err != nil {
		t.Fatal(status, err)
	}
	j.mu.spec.RestoreFrom, j.mu.spec.RestoreAbove = filepath.Base(c.Path), highestID(filepath.Join(dir, checkpoints))
	want := []string{"--restore", filepath.Join(dir, checkpoints, "chk-3")}
	if got := restoreArgs(j); !slices.Equal(got, want) {
		t.Errorf("restored from chk-3 with chk-7 newer: %v; want %v", got, want)
	}
	// An incomplete checkpoint of the new run changes nothing.
	if err := os.MkdirAll(filepath.Join(dir, checkpoints, "chk-8"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := restoreArgs(j); !slices.Equal(got, want) {
		t.Errorf("with an incomplete chk-8: %v; want %v", got, want)
	}
	complete("chk-8")
	if got, want := restoreArgs(j), []string{"--restore", "latest"}; !slices.Equal(got, want) {
		t.Errorf("after the new run's chk-8: %v; want %v", got, want)
	}
}
