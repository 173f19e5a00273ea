package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

// TestMain checks that no test leaves a goroutine behind: the concurrent
// writer tests start goroutines of their own.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDir(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Storage { return newDir(t, t.TempDir()) })
}

func newDir(t *testing.T, path string) *checkpoint.Dir {
	t.Helper()
	d, err := checkpoint.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func harness(t *testing.T, d *checkpoint.Dir) *checkpointtest.H {
	return &checkpointtest.H{T: t, S: d, Ctx: t.Context()}
}

func chk(id int64) checkpoint.Ref { return checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id} }
func sp(id int64) checkpoint.Ref  { return checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: id} }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestDamagedMetadata damages the metadata of the newest checkpoint in every
// way a bad disk or a person could — cut at every byte, any one bit flipped,
// bytes appended — and checks that each time it is neither used nor hidden:
// _metadata appears only by a rename of a synced file, so no crash tears it,
// and skipping it would restore from an older checkpoint whose output the
// newer one's sinks have already committed. List and Latest fail naming
// it, Retain deletes nothing, and Inspect shows it as broken.
func TestDamagedMetadata(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 1)
	h.Complete(chk(2), checkpointtest.T0.Add(1), 2, 1)
	path := filepath.Join(d.Path(), chk(2).String(), "_metadata")
	good, err := os.ReadFile(path)
	must(t, err)

	check := func(what string, data []byte) {
		t.Helper()
		must(t, os.WriteFile(path, data, 0o644))
		if _, err := d.List(t.Context()); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: List: %v; want ErrCorrupt naming %s", what, err, path)
		}
		if latest, err := checkpoint.Latest(t.Context(), d); !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("%s: Latest = %v, %v; want ErrCorrupt", what, latest.Ref, err)
		}
		if _, err := d.ReadMetadata(t.Context(), chk(2)); !errors.Is(err, checkpoint.ErrCorrupt) || errors.Is(err, checkpoint.ErrIncomplete) {
			t.Fatalf("%s: ReadMetadata: %v, want ErrCorrupt", what, err)
		}
		if err := checkpoint.Retain(t.Context(), d, 1); err == nil {
			t.Fatalf("%s: Retain went ahead without knowing the newest checkpoint", what)
		}
		es, err := d.Inspect(t.Context())
		must(t, err)
		if len(es) != 2 || es[0].Ref != chk(1) || es[0].Status != checkpoint.Complete ||
			es[1].Ref != chk(2) || es[1].Status != checkpoint.Broken || !errors.Is(es[1].Problem, checkpoint.ErrCorrupt) {
			t.Fatalf("%s: Inspect = %+v; want chk 1 complete, chk 2 broken", what, es)
		}
	}
	// Every seventh cut and flip through the Dir (each check lists the
	// directory four times); every bit of every byte through the decoder
	// below.
	for n := 0; n < len(good); n += 7 {
		check("truncated to "+strconv.Itoa(n)+" bytes", good[:n])
	}
	for i := 3; i < len(good); i += 7 {
		bad := slices.Clone(good)
		bad[i] ^= 1 << (i % 8)
		check("bit flipped at byte "+strconv.Itoa(i), bad)
	}
	for i := range good {
		for bit := range 8 {
			bad := slices.Clone(good)
			bad[i] ^= 1 << bit
			if _, err := checkpoint.DecodeMetadata(bad); !errors.Is(err, checkpoint.ErrChecksum) {
				t.Fatalf("bit %d of byte %d flipped: DecodeMetadata: %v, want ErrChecksum", bit, i, err)
			}
		}
	}
	check("appended to", append(slices.Clone(good), "{}\n"...))

	must(t, os.WriteFile(path, good, 0o644))
	if got := checkpointtest.Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(2), chk(1)}) {
		t.Fatalf("with the metadata restored: List = %v", got)
	}
}

// crashAt is the panic a test failpoint raises to stop an operation dead,
// the way a crash would: Complete has no deferred cleanup that could run.
type crashAt string

// completeCrashing completes m with a failpoint that panics at point, and
// reports whether it did.
func completeCrashing(t *testing.T, d *checkpoint.Dir, m *checkpoint.Metadata, point string) (crashed bool) {
	t.Helper()
	d.Failpoints = func(name string) error {
		if name == point {
			panic(crashAt(name))
		}
		return nil
	}
	defer func() {
		d.Failpoints = nil
		if r := recover(); r != nil {
			if r != crashAt(point) {
				panic(r)
			}
			crashed = true
		}
	}()
	if err := d.Complete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return false
}

// TestCrashBeforeRename leaves the metadata under its temporary name, as a
// crash between writing and renaming it would, and checks that the
// checkpoint is incomplete, that a later checkpoint makes Retain remove it,
// and that completing it again would have worked.
func TestCrashBeforeRename(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	m1 := h.Write(chk(1), checkpointtest.T0, 2)
	if !completeCrashing(t, d, m1, checkpoint.FailpointMetadataTempWritten) {
		t.Fatal("the failpoint did not fire")
	}
	dir1 := filepath.Join(d.Path(), chk(1).String())
	if !exists(filepath.Join(dir1, "_metadata.tmp")) || exists(filepath.Join(dir1, "_metadata")) {
		t.Fatal("want _metadata.tmp and no _metadata after the crash")
	}
	if infos := h.List(); len(infos) != 0 {
		t.Fatalf("List = %v; a checkpoint with only _metadata.tmp is not complete", checkpointtest.Refs(infos))
	}
	_, err := checkpoint.Latest(t.Context(), d)
	h.MustErr(err, checkpoint.ErrNotFound, "Latest")
	if got := h.Incomplete(); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
		t.Fatalf("Incomplete = %v", got)
	}

	// The restarted job goes on with the next ID; Retain cleans up.
	h.Complete(chk(2), checkpointtest.T0.Add(1), 1)
	must(t, checkpoint.Retain(t.Context(), d, 3))
	if exists(dir1) {
		t.Fatal("Retain left the crashed checkpoint's directory")
	}
	if got := checkpointtest.Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(2)}) {
		t.Fatalf("List = %v", got)
	}
}

// TestRetryAfterCrash: a leftover temporary file does not stand in the way
// of completing the same checkpoint again.
func TestRetryAfterCrash(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	m := h.Write(chk(1), checkpointtest.T0, 1)
	if !completeCrashing(t, d, m, checkpoint.FailpointMetadataTempWritten) {
		t.Fatal("the failpoint did not fire")
	}
	must(t, d.Complete(t.Context(), m))
	got, err := d.ReadMetadata(t.Context(), chk(1))
	must(t, err)
	h.SameMetadata(got, m)
	if exists(filepath.Join(d.Path(), chk(1).String(), "_metadata.tmp")) {
		t.Fatal("_metadata.tmp is left after a successful Complete")
	}
}

// TestFailpointsFire records the failpoints of one checkpoint's life.
func TestFailpointsFire(t *testing.T) {
	d := newDir(t, t.TempDir())
	var mu sync.Mutex
	var got []string
	d.Failpoints = func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, name)
		return nil
	}
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 2)
	must(t, d.Delete(t.Context(), chk(1)))
	want := []string{
		checkpoint.FailpointStateFileSynced,
		checkpoint.FailpointStateFileSynced,
		checkpoint.FailpointMetadataTempWritten,
		checkpoint.FailpointMetadataRenamed,
		checkpoint.FailpointMetadataSynced,
		checkpoint.FailpointDeleteMetadataRemoved,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("failpoints fired: %q\nwant %q", got, want)
	}
}

var errInjected = errors.New("injected")

// TestFailpointErrors makes each step of Complete fail and checks that a
// failed Complete never leaves a complete checkpoint, nor anything that
// stops a retry.
func TestFailpointErrors(t *testing.T) {
	for _, point := range []string{
		checkpoint.FailpointMetadataTempWritten,
		checkpoint.FailpointMetadataRenamed,
		checkpoint.FailpointMetadataSynced,
	} {
		t.Run(point, func(t *testing.T) {
			d := newDir(t, t.TempDir())
			h := harness(t, d)
			m := h.Write(chk(1), checkpointtest.T0, 1)
			d.Failpoints = func(name string) error {
				if name == point {
					return errInjected
				}
				return nil
			}
			err := d.Complete(t.Context(), m)
			if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), point) {
				t.Fatalf("Complete: %v; want the injected error, naming %s", err, point)
			}
			if infos := h.List(); len(infos) != 0 {
				t.Fatalf("a failed Complete left %v listed", checkpointtest.Refs(infos))
			}
			for _, f := range []string{"_metadata", "_metadata.tmp"} {
				if exists(filepath.Join(d.Path(), chk(1).String(), f)) {
					t.Errorf("a failed Complete left %s", f)
				}
			}
			d.Failpoints = nil
			must(t, d.Complete(t.Context(), m))
		})
	}

	t.Run(checkpoint.FailpointStateFileSynced, func(t *testing.T) {
		d := newDir(t, t.TempDir())
		d.Failpoints = func(name string) error { return errInjected }
		w, err := d.Create(t.Context(), chk(1), "a")
		must(t, err)
		if _, err := w.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); !errors.Is(err, errInjected) {
			t.Fatalf("Close: %v; want the injected error", err)
		}
	})

	t.Run(checkpoint.FailpointDeleteMetadataRemoved, func(t *testing.T) {
		d := newDir(t, t.TempDir())
		h := harness(t, d)
		h.Complete(chk(1), checkpointtest.T0, 1)
		d.Failpoints = func(name string) error { return errInjected }
		if err := d.Delete(t.Context(), chk(1)); !errors.Is(err, errInjected) {
			t.Fatalf("Delete: %v; want the injected error", err)
		}
		// Halfway through a Delete the checkpoint is incomplete, not a
		// complete one with files missing.
		if infos := h.List(); len(infos) != 0 {
			t.Fatalf("half-deleted checkpoint listed: %v", checkpointtest.Refs(infos))
		}
		d.Failpoints = nil
		must(t, d.Delete(t.Context(), chk(1)))
		if exists(filepath.Join(d.Path(), chk(1).String())) {
			t.Fatal("the second Delete left the directory")
		}
	})
}

// TestCompleteCanceledMidway: cancellation is honoured up to the rename,
// and leaves nothing behind.
func TestCompleteCanceledMidway(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	m := h.Write(chk(1), checkpointtest.T0, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	d.Failpoints = func(name string) error {
		if name == checkpoint.FailpointMetadataTempWritten {
			cancel()
		}
		return nil
	}
	if err := d.Complete(ctx, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("Complete: %v; want context.Canceled", err)
	}
	if infos := h.List(); len(infos) != 0 {
		t.Fatalf("a canceled Complete left %v listed", checkpointtest.Refs(infos))
	}
	if exists(filepath.Join(d.Path(), chk(1).String(), "_metadata.tmp")) {
		t.Fatal("a canceled Complete left _metadata.tmp")
	}
}

// The environment variables that turn TestCrashChild into the process
// that crashes.
const (
	crashRootEnv  = "WEIR_CHECKPOINT_CRASH_ROOT"
	crashPointEnv = "WEIR_CHECKPOINT_CRASH_AT"
	crashExit     = 42
)

// TestCrashChild is not a test of its own: TestCrash runs the test binary
// again with the environment set, to write a checkpoint and die at a
// failpoint.
func TestCrashChild(t *testing.T) {
	root, point := os.Getenv(crashRootEnv), os.Getenv(crashPointEnv)
	if root == "" {
		t.Skip("run by TestCrash")
	}
	d := newDir(t, root)
	d.Failpoints = func(name string) error {
		if name == point {
			os.Exit(crashExit)
		}
		return nil
	}
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 2)
	must(t, d.Delete(t.Context(), chk(1)))
	t.Fatalf("failpoint %q never fired", point)
}

// TestCrash kills a real process at each failpoint and checks what the
// next process finds: before the rename an incomplete checkpoint that
// Retain removes, after it a complete one that reads back intact. (A
// process crash keeps what the kernel has buffered; the fsyncs matter for
// power loss, which a test cannot cause.)
func TestCrash(t *testing.T) {
	if os.Getenv(crashRootEnv) != "" {
		t.Skip("inside the crashing child")
	}
	exe, err := os.Executable()
	must(t, err)
	for _, tc := range []struct {
		point    string
		complete bool
	}{
		{checkpoint.FailpointStateFileSynced, false},
		{checkpoint.FailpointMetadataTempWritten, false},
		{checkpoint.FailpointMetadataRenamed, true},
		{checkpoint.FailpointMetadataSynced, true},
		{checkpoint.FailpointDeleteMetadataRemoved, false},
	} {
		t.Run(tc.point, func(t *testing.T) {
			root := t.TempDir()
			cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashRootEnv+"="+root, crashPointEnv+"="+tc.point)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != crashExit {
				t.Fatalf("child: %v, want exit status %d; output:\n%s", err, crashExit, out)
			}

			d := newDir(t, root)
			h := harness(t, d)
			if tc.complete {
				if got := checkpointtest.Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
					t.Fatalf("List = %v, want chk 1", got)
				}
				got, err := d.ReadMetadata(t.Context(), chk(1))
				must(t, err)
				h.SameMetadata(got, checkpointtest.Meta(chk(1), checkpointtest.T0, 2))
				return
			}
			if infos := h.List(); len(infos) != 0 {
				t.Fatalf("List = %v, want nothing complete", checkpointtest.Refs(infos))
			}
			if got := h.Incomplete(); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
				t.Fatalf("Incomplete = %v, want chk 1", got)
			}
			h.Complete(chk(2), checkpointtest.T0.Add(1), 1)
			must(t, checkpoint.Retain(t.Context(), d, 1))
			if exists(filepath.Join(root, chk(1).String())) {
				t.Fatal("Retain left the crashed checkpoint")
			}
		})
	}
}

// TestSymlinksStayInside: a symbolic link inside the root cannot make the
// Dir read or write outside it, whether it stands for a state file or for a
// whole checkpoint directory.
func TestSymlinksStayInside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	must(t, os.WriteFile(secret, []byte("secret"), 0o644))

	d := newDir(t, t.TempDir())
	h := harness(t, d)
	h.WriteFile(chk(1), "a", []byte("x"))
	dir1 := filepath.Join(d.Path(), chk(1).String())
	must(t, os.Symlink(secret, filepath.Join(dir1, "abs")))
	rel, err := filepath.Rel(dir1, secret)
	must(t, err)
	must(t, os.Symlink(rel, filepath.Join(dir1, "rel")))
	for _, name := range []string{"abs", "rel"} {
		if r, err := d.Open(t.Context(), chk(1), name); err == nil {
			r.Close()
			t.Errorf("Open(%q), a link to outside the root, succeeded", name)
		}
	}

	// A checkpoint directory that is a link to outside.
	must(t, os.Symlink(outside, filepath.Join(d.Path(), chk(2).String())))
	if w, err := d.Create(t.Context(), chk(2), "planted"); err == nil {
		w.Close()
		t.Error("Create through a linked checkpoint directory succeeded")
	}
	if exists(filepath.Join(outside, "planted")) {
		t.Fatal("a file was written outside the root")
	}
	if r, err := d.Open(t.Context(), chk(2), "secret"); err == nil {
		r.Close()
		t.Error("Open through a linked checkpoint directory succeeded")
	}
}

// TestResolve covers the paths a user may give to restore from.
func TestResolve(t *testing.T) {
	base := t.TempDir()
	rootPath := filepath.Join(base, "checkpoints")
	d := newDir(t, rootPath)
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 1)
	h.Complete(sp(2), checkpointtest.T0.Add(2), 1)
	h.Complete(chk(3), checkpointtest.T0.Add(1), 1)
	h.Write(chk(4), checkpointtest.T0.Add(3), 1)
	must(t, os.WriteFile(filepath.Join(base, "file"), []byte("x"), 0o644))
	must(t, os.Mkdir(filepath.Join(rootPath, "chk-3"), 0o755))
	must(t, os.Mkdir(filepath.Join(base, "elsewhere"), 0o755))
	must(t, os.Symlink(rootPath, filepath.Join(base, "link")))

	ok := []struct {
		path string
		want checkpoint.Ref
	}{
		{rootPath, sp(2)}, // the newest by completion time
		{rootPath + "/", sp(2)},
		{filepath.Join(base, "link"), sp(2)},
		{base + "/checkpoints/../checkpoints", sp(2)},
		{filepath.Join(rootPath, chk(1).String()), chk(1)},
		{filepath.Join(rootPath, chk(3).String()) + "/", chk(3)},
		{filepath.Join(rootPath, sp(2).String()), sp(2)},
		{filepath.Join(base, "link", chk(1).String()), chk(1)},
	}
	for _, tc := range ok {
		got, err := d.Resolve(t.Context(), tc.path)
		if err != nil || got.Ref != tc.want {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tc.path, got.Ref, err, tc.want)
		}
	}

	bad := []struct {
		path string
		is   error
	}{
		{filepath.Join(rootPath, chk(4).String()), checkpoint.ErrIncomplete},
		{filepath.Join(rootPath, chk(5).String()), fs.ErrNotExist},
		{filepath.Join(base, "nonexistent"), fs.ErrNotExist},
		{filepath.Join(base, "file"), nil},
		{filepath.Join(base, "elsewhere"), nil},
		{filepath.Join(rootPath, "chk-3"), nil}, // not the canonical name
		{"", nil},
	}
	for _, tc := range bad {
		_, err := d.Resolve(t.Context(), tc.path)
		if err == nil || !strings.Contains(err.Error(), `"`+tc.path+`"`) {
			t.Errorf("Resolve(%q): %v; want an error naming the path", tc.path, err)
		} else if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("Resolve(%q): %v; want one wrapping %v", tc.path, err, tc.is)
		}
	}

	// An empty root has nothing to resolve to.
	empty := newDir(t, filepath.Join(base, "empty"))
	if _, err := empty.Resolve(t.Context(), empty.Path()); !errors.Is(err, checkpoint.ErrNotFound) || !strings.Contains(err.Error(), empty.Path()) {
		t.Errorf("Resolve of an empty root: %v; want ErrNotFound naming it", err)
	}
}

// TestOpenPath restores from a savepoint wherever it is, as `weir run
// --from <path>` would.
func TestOpenPath(t *testing.T) {
	base := t.TempDir()
	rootPath := filepath.Join(base, "savepoints")
	{
		d := newDir(t, rootPath)
		h := harness(t, d)
		h.Complete(sp(7), checkpointtest.T0, 2)
		h.Complete(chk(8), checkpointtest.T0.Add(1), 1)
		h.Write(chk(9), checkpointtest.T0.Add(2), 1)
	}
	must(t, os.Mkdir(filepath.Join(base, "empty"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "file"), []byte("x"), 0o644))

	for _, tc := range []struct {
		path string
		want checkpoint.Ref
	}{
		{filepath.Join(rootPath, sp(7).String()), sp(7)},
		{rootPath, chk(8)},
	} {
		d, info, err := checkpoint.OpenPath(t.Context(), tc.path)
		if err != nil {
			t.Fatalf("OpenPath(%q): %v", tc.path, err)
		}
		if info.Ref != tc.want || d.Path() != rootPath {
			t.Errorf("OpenPath(%q) = %s, %v; want %s, %v", tc.path, d.Path(), info.Ref, rootPath, tc.want)
		}
		m, err := d.ReadMetadata(t.Context(), info.Ref)
		must(t, err)
		r, err := d.Open(t.Context(), info.Ref, m.Operators[0].Subtasks[0].Name)
		must(t, err)
		r.Close()
		must(t, d.Close())
	}

	for _, tc := range []struct {
		path string
		is   error
	}{
		{filepath.Join(rootPath, chk(9).String()), checkpoint.ErrIncomplete},
		{filepath.Join(base, "empty"), checkpoint.ErrNotFound},
		{filepath.Join(base, "nonexistent"), fs.ErrNotExist},
		{filepath.Join(base, "file"), nil},
		{filepath.Join(base, "nonexistent", sp(7).String()), fs.ErrNotExist},
	} {
		d, _, err := checkpoint.OpenPath(t.Context(), tc.path)
		if err == nil {
			d.Close()
			t.Errorf("OpenPath(%q) succeeded", tc.path)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tc.path+`"`) {
			t.Errorf("OpenPath(%q): %v; want an error naming the path", tc.path, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("OpenPath(%q): %v; want one wrapping %v", tc.path, err, tc.is)
		}
	}
	// OpenPath never creates what it was asked to find.
	if exists(filepath.Join(base, "nonexistent")) {
		t.Fatal("OpenPath created a directory")
	}
}

// TestUnreadableMetadataIsNotHidden: intact metadata this build cannot use
// (here, from a newer format version) must not be mistaken for a torn file.
// Skipping it could restore from an older checkpoint, and Retain could
// delete it; so List fails, naming the file, and Retain deletes nothing.
func TestUnreadableMetadataIsNotHidden(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 1)
	h.Complete(chk(2), checkpointtest.T0.Add(1), 1)
	h.Complete(chk(3), checkpointtest.T0.Add(2), 1)
	path := filepath.Join(d.Path(), chk(3).String(), "_metadata")
	good, err := os.ReadFile(path)
	must(t, err)
	body := strings.Replace(string(good[:len(good)-len("crc32c 00000000\n")]), `"formatVersion": 1`, `"formatVersion": 3`, 1)
	must(t, os.WriteFile(path, seal(body), 0o644))

	_, err = d.List(t.Context())
	if !errors.Is(err, checkpoint.ErrVersion) || !strings.Contains(err.Error(), path) {
		t.Fatalf("List: %v; want ErrVersion naming %s", err, path)
	}
	if _, err := checkpoint.Latest(t.Context(), d); err == nil {
		t.Fatal("Latest skipped a checkpoint it cannot read")
	}
	if err := checkpoint.Retain(t.Context(), d, 1); err == nil {
		t.Fatal("Retain went ahead without knowing the newest checkpoint")
	}
	for _, r := range []checkpoint.Ref{chk(1), chk(2), chk(3)} {
		if !exists(filepath.Join(d.Path(), r.String())) {
			t.Fatalf("%v was deleted", r)
		}
	}
}

// TestRenamedDirectory: metadata that describes another checkpoint than
// its directory's name is refused rather than restored under the wrong ID.
func TestRenamedDirectory(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 1)
	must(t, os.Rename(filepath.Join(d.Path(), chk(1).String()), filepath.Join(d.Path(), chk(5).String())))
	if _, err := d.ReadMetadata(t.Context(), chk(5)); err == nil || !strings.Contains(err.Error(), "renamed") {
		t.Fatalf("ReadMetadata of a renamed checkpoint: %v", err)
	}
}

// TestForeignEntriesIgnored: what the Dir did not write — other files,
// directories with other names — is neither listed nor deleted.
func TestForeignEntriesIgnored(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	for _, name := range []string{"README", "chk-1", "chk-x", "sp-", "lost+found"} {
		must(t, os.Mkdir(filepath.Join(d.Path(), name), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(d.Path(), chk(7).String()), []byte("a file, not a dir"), 0o644))
	h.Complete(chk(8), checkpointtest.T0, 1)
	h.Complete(chk(9), checkpointtest.T0.Add(1), 1)
	must(t, checkpoint.Retain(t.Context(), d, 1))
	if got := checkpointtest.Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(9)}) {
		t.Fatalf("List = %v", got)
	}
	if got := h.Incomplete(); len(got) != 0 {
		t.Fatalf("Incomplete = %v", got)
	}
	for _, name := range []string{"README", "chk-1", "chk-x", "sp-", "lost+found", chk(7).String()} {
		if !exists(filepath.Join(d.Path(), name)) {
			t.Errorf("%s was removed", name)
		}
	}
}

// TestInspectChecksStateFiles: a completed checkpoint whose state file was
// deleted or cut short is broken, naming the file, and an incomplete one
// says whether its metadata was being written.
func TestInspectChecksStateFiles(t *testing.T) {
	d := newDir(t, t.TempDir())
	h := harness(t, d)
	h.Complete(chk(1), checkpointtest.T0, 1)
	h.Complete(chk(2), checkpointtest.T0.Add(1), 2)
	h.Complete(sp(3), checkpointtest.T0.Add(2), 2)
	h.Write(chk(4), checkpointtest.T0.Add(3), 1)
	must(t, os.WriteFile(filepath.Join(d.Path(), chk(4).String(), "_metadata.tmp"), []byte("{"), 0o644))
	files := func(r checkpoint.Ref) []string {
		m, err := d.ReadMetadata(t.Context(), r)
		must(t, err)
		return []string{filepath.Join(d.Path(), r.String(), m.Operators[0].Subtasks[0].Name),
			filepath.Join(d.Path(), r.String(), m.Operators[0].Subtasks[1].Name)}
	}
	deleted, cut := files(chk(2))[1], files(sp(3))[0]
	must(t, os.Remove(deleted))
	must(t, os.Truncate(cut, 1))

	es, err := d.Inspect(t.Context())
	must(t, err)
	want := []struct {
		ref    checkpoint.Ref
		status checkpoint.Status
		says   string
	}{
		{chk(1), checkpoint.Complete, ""},
		{chk(2), checkpoint.Broken, deleted + " is missing"},
		{sp(3), checkpoint.Broken, cut + " has 1 bytes, the metadata says"},
		{chk(4), checkpoint.Incomplete, "only _metadata.tmp"},
	}
	if len(es) != len(want) {
		t.Fatalf("Inspect = %+v; want %d entries", es, len(want))
	}
	for i, w := range want {
		e := es[i]
		if e.Ref != w.ref || e.Status != w.status || (w.says == "") != (e.Problem == nil) ||
			(e.Problem != nil && !strings.Contains(e.Problem.Error(), w.says)) {
			t.Errorf("Inspect[%d] = %v %v %v; want %v %v saying %q", i, e.Ref, e.Status, e.Problem, w.ref, w.status, w.says)
		}
	}
	if err := d.Verify(t.Context(), chk(2)); !errors.Is(err, checkpoint.ErrMissingFile) || !strings.Contains(err.Error(), deleted) {
		t.Errorf("Verify(chk 2) = %v; want ErrMissingFile naming %s", err, deleted)
	}
	must(t, d.Verify(t.Context(), chk(1)))
}

// An aborted state file is neither flushed nor synced: Abort fires no
// FailpointStateFileSynced (which follows every sync of a state file),
// leaves the buffered bytes out, keeps the name taken, and Delete removes
// the partial file with its checkpoint.
func TestAbortDoesNotSync(t *testing.T) {
	d := newDir(t, t.TempDir())
	var mu sync.Mutex
	syncs := 0
	d.Failpoints = func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		if name == checkpoint.FailpointStateFileSynced {
			syncs++
		}
		return nil
	}
	synced := func() int {
		mu.Lock()
		defer mu.Unlock()
		return syncs
	}
	w, err := d.Create(t.Context(), chk(1), "a")
	must(t, err)
	if _, err := w.Write([]byte("buffered, never flushed")); err != nil {
		t.Fatal(err)
	}
	must(t, w.(checkpoint.Aborter).Abort())
	if n := synced(); n != 0 {
		t.Fatalf("Abort synced the state file (%d syncs)", n)
	}
	path := filepath.Join(d.Path(), chk(1).String(), "a")
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Size() != 0 {
		t.Errorf("the aborted file holds %d bytes, want none: the buffer is dropped, not flushed", fi.Size())
	}
	if _, err := d.Create(t.Context(), chk(1), "a"); !errors.Is(err, checkpoint.ErrExists) {
		t.Errorf("Create of an aborted file's name: %v, want ErrExists", err)
	}

	// The hook does count the sync of a closed file.
	w, err = d.Create(t.Context(), chk(1), "b")
	must(t, err)
	must(t, w.Close())
	if n := synced(); n != 1 {
		t.Fatalf("%d syncs after a Close, want 1", n)
	}
	must(t, d.Delete(t.Context(), chk(1)))
	if exists(filepath.Join(d.Path(), chk(1).String())) {
		t.Error("Delete left the aborted checkpoint's directory")
	}
}

// A state file several times the size after which its disk writes are
// started comes back byte for byte, written in pieces of every size.
func TestLargeStateFile(t *testing.T) {
	d := newDir(t, t.TempDir())
	w, err := d.Create(t.Context(), chk(1), "big")
	must(t, err)
	var want bytes.Buffer
	rng := rand.New(rand.NewPCG(3, 4))
	for want.Len() < 20<<20 {
		p := make([]byte, rng.IntN(1<<20))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		want.Write(p)
	}
	must(t, w.Close())
	r, err := d.Open(t.Context(), chk(1), "big")
	must(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	must(t, err)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes back, wrote %d; equal: false", len(got), want.Len())
	}
}
