package checkpointtest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
)

// sharedTests are the tests a storage that is a checkpoint.SharedStorage
// runs too.
var sharedTests = []struct {
	name string
	fn   func(h *H, s checkpoint.SharedStorage)
}{
	{"Shared/RoundTrip", testSharedRoundTrip},
	{"Shared/Abort", testSharedAbort},
	{"Shared/CompleteChecksFiles", testSharedCompleteChecks},
	{"Shared/VerifyNamesMissing", testSharedVerifyMissing},
	{"Shared/Retain", testSharedRetain},
}

// PutShared writes a shared file and fails the test on any error.
func (h *H) PutShared(s checkpoint.SharedStorage, name string, data []byte) {
	h.Helper()
	w, err := s.CreateShared(h.Ctx, name)
	if err != nil {
		h.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		h.Fatal(err)
	}
	if err := w.Close(); err != nil {
		h.Fatal(err)
	}
}

// WriteNative writes a checkpoint of one operator with one subtask whose
// native files are a private file and the shared files named (which
// must hold their own names, as SharedContent gives), and returns its
// metadata without completing it.
func (h *H) WriteNative(ref checkpoint.Ref, at time.Time, shared ...string) *checkpoint.Metadata {
	h.Helper()
	m := h.Write(ref, at, 1)
	m.FormatVersion = checkpoint.FormatVersionShared
	private := m.Operators[0].Subtasks[0].Name + ".MANIFEST"
	h.WriteFile(ref, private, []byte("manifest"))
	n := &checkpoint.NativeState{Format: "test", KeyGroupStart: 0, KeyGroupEnd: m.MaxParallelism,
		Files: []checkpoint.NativeFile{{Name: "MANIFEST", Size: int64(len("manifest")), Private: private}}}
	for _, s := range shared {
		n.Files = append(n.Files, checkpoint.NativeFile{Name: s + ".sst", Size: int64(len(SharedContent(s))), Shared: s})
	}
	m.Operators[0].Subtasks[0].Native = n
	return m
}

// SharedContent is what the suite writes into the shared file name.
func SharedContent(name string) []byte { return []byte("shared " + name) }

// verify runs the storage's Verify, which Dir and S3 have and the
// interface does not ask for; a storage without one passes.
func (h *H) verify(ref checkpoint.Ref) error {
	v, ok := h.S.(interface {
		Verify(context.Context, checkpoint.Ref) error
	})
	if !ok {
		return nil
	}
	return v.Verify(h.Ctx, ref)
}

func (h *H) sharedNames(s checkpoint.SharedStorage) []string {
	h.Helper()
	infos, err := s.ListShared(h.Ctx)
	if err != nil {
		h.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		if in.Size != int64(len(SharedContent(in.Name))) {
			h.Fatalf("ListShared: %s has size %d, want %d", in.Name, in.Size, len(SharedContent(in.Name)))
		}
		names = append(names, in.Name)
	}
	return names
}

func testSharedRoundTrip(h *H, s checkpoint.SharedStorage) {
	for _, n := range []string{"b-000002.sst", "a-000001.sst"} {
		h.PutShared(s, n, SharedContent(n))
	}
	if got, want := h.sharedNames(s), []string{"a-000001.sst", "b-000002.sst"}; !slices.Equal(got, want) {
		h.Fatalf("ListShared = %v, want %v", got, want)
	}
	r, err := s.OpenShared(h.Ctx, "a-000001.sst")
	h.MustNil(err)
	data, err := io.ReadAll(r)
	r.Close()
	h.MustNil(err)
	if string(data) != string(SharedContent("a-000001.sst")) {
		h.Fatalf("OpenShared read %q", data)
	}
	// Shared files are no checkpoints.
	if infos := h.List(); len(infos) != 0 {
		h.Fatalf("List with shared files only = %v", Refs(infos))
	}
	h.MustNil(s.DeleteShared(h.Ctx, "a-000001.sst"))
	h.MustErr(s.DeleteShared(h.Ctx, "a-000001.sst"), checkpoint.ErrNotFound, "DeleteShared of a deleted file")
	_, err = s.OpenShared(h.Ctx, "a-000001.sst")
	h.MustErr(err, checkpoint.ErrNotFound, "OpenShared of a deleted file")
	if got, want := h.sharedNames(s), []string{"b-000002.sst"}; !slices.Equal(got, want) {
		h.Fatalf("ListShared after DeleteShared = %v, want %v", got, want)
	}
	if _, err := s.CreateShared(h.Ctx, "../escape"); !errors.Is(err, checkpoint.ErrInvalidName) {
		h.Fatalf("CreateShared(../escape): %v, want ErrInvalidName", err)
	}
}

func testSharedAbort(h *H, s checkpoint.SharedStorage) {
	w, err := s.CreateShared(h.Ctx, "x.sst")
	h.MustNil(err)
	if _, err := w.Write([]byte("half")); err != nil {
		h.Fatal(err)
	}
	h.MustNil(checkpoint.Abort(w))
	if got := h.sharedNames(s); len(got) != 0 {
		h.Fatalf("ListShared after an aborted write = %v", got)
	}
	_, err = s.OpenShared(h.Ctx, "x.sst")
	h.MustErr(err, checkpoint.ErrNotFound, "OpenShared after an aborted write")
}

// Complete refuses metadata naming a native file that is missing or of
// another size, naming it.
func testSharedCompleteChecks(h *H, s checkpoint.SharedStorage) {
	h.PutShared(s, "a.sst", SharedContent("a.sst"))
	m := h.WriteNative(chk(1), at(1), "a.sst", "never-written.sst")
	if err := s.Complete(h.Ctx, m); err == nil || !strings.Contains(err.Error(), "never-written.sst") {
		h.Fatalf("Complete with a missing shared file: %v; want an error naming it", err)
	}
	m = h.WriteNative(chk(2), at(2), "a.sst")
	m.Operators[0].Subtasks[0].Native.Files[1].Size++
	if err := s.Complete(h.Ctx, m); err == nil || !strings.Contains(err.Error(), "a.sst") {
		h.Fatalf("Complete with a shared file of another size: %v; want an error naming it", err)
	}
	m = h.WriteNative(chk(3), at(3), "a.sst")
	m.Operators[0].Subtasks[0].Native.Files[0].Private = "op0-00000.missing"
	if err := s.Complete(h.Ctx, m); err == nil || !strings.Contains(err.Error(), "op0-00000.missing") {
		h.Fatalf("Complete with a missing private native file: %v; want an error naming it", err)
	}
	if infos := h.List(); len(infos) != 0 {
		h.Fatalf("failed Completes left %v listed", Refs(infos))
	}
	h.MustNil(s.Complete(h.Ctx, h.WriteNative(chk(4), at(4), "a.sst")))
	h.MustNil(h.verify(chk(4)))
}

func testSharedVerifyMissing(h *H, s checkpoint.SharedStorage) {
	h.PutShared(s, "a.sst", SharedContent("a.sst"))
	h.MustNil(s.Complete(h.Ctx, h.WriteNative(chk(1), at(1), "a.sst")))
	h.MustNil(h.verify(chk(1)))
	h.MustNil(s.DeleteShared(h.Ctx, "a.sst"))
	err := h.verify(chk(1))
	if !errors.Is(err, checkpoint.ErrMissingFile) || !strings.Contains(err.Error(), "shared/a.sst") {
		h.Fatalf("Verify with a shared file deleted: %v; want ErrMissingFile naming shared/a.sst", err)
	}
}

// Retain deletes a shared file once no retained checkpoint or savepoint
// refers to it, and one nothing ever referred to once it is older than
// the newest complete checkpoint; one written after it may belong to a
// checkpoint in progress and stays.
func testSharedRetain(h *H, s checkpoint.SharedStorage) {
	for _, n := range []string{"a", "b", "c", "d"} {
		h.PutShared(s, n, SharedContent(n))
	}
	// Completion times after the files' write times, whatever the clock.
	base := time.Now().Add(time.Hour)
	h.MustNil(s.Complete(h.Ctx, h.WriteNative(chk(1), base, "a", "b")))
	h.MustNil(s.Complete(h.Ctx, h.WriteNative(chk(2), base.Add(time.Minute), "b", "c")))
	h.MustNil(s.Complete(h.Ctx, h.WriteNative(sp(3), base.Add(2*time.Minute), "a")))
	h.MustNil(checkpoint.Retain(h.Ctx, s, 1))
	if got, want := h.sharedNames(s), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		h.Fatalf("shared files after Retain(1) = %v, want %v (a for the savepoint, b and c for chk 2)", got, want)
	}
	h.MustNil(s.Delete(h.Ctx, sp(3)))
	h.MustNil(checkpoint.Retain(h.Ctx, s, 1))
	if got, want := h.sharedNames(s), []string{"b", "c"}; !slices.Equal(got, want) {
		h.Fatalf("shared files after the savepoint's Delete and Retain(1) = %v, want %v", got, want)
	}
	for _, r := range []checkpoint.Ref{chk(2)} {
		h.MustNil(h.verify(r))
	}
}
