// Package checkpointtest is the conformance suite for checkpoint.Storage
// implementations: every implementation runs the same tests, so that a
// coordinator behaves the same whichever storage a job is configured with.
//
// The suite covers what an implementation can be asked through the
// interface. What depends on how an implementation lays out its bytes — a
// torn metadata file, a crash between two steps — needs the
// implementation's own tests (see dir_test.go for Dir).
package checkpointtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
)

// Run runs the suite, and for a checkpoint.SharedStorage the tests of
// its shared area too. newStorage must return an empty storage that lives
// until the test ends (cleaning it up with t.Cleanup is the caller's
// business).
func Run(t *testing.T, newStorage func(t *testing.T) checkpoint.Storage) {
	tests := []struct {
		name string
		fn   func(h *H)
	}{
		{"RoundTrip", testRoundTrip},
		{"Empty", testEmpty},
		{"EmptyCheckpoint", testEmptyCheckpoint},
		{"IncompleteIsInvisible", testIncompleteIsInvisible},
		{"ListOrder", testListOrder},
		{"SameIDBothKinds", testSameIDBothKinds},
		{"Retain", testRetain},
		{"Retain/KeepsEverythingWhenFew", testRetainFew},
		{"Retain/RefusesZero", testRetainZero},
		{"Retain/ByTime", testRetainFor},
		{"Delete", testDelete},
		{"Complete/ChecksFiles", testCompleteChecksFiles},
		{"Complete/Twice", testCompleteTwice},
		{"Complete/InvalidMetadata", testCompleteInvalid},
		{"Create/Twice", testCreateTwice},
		{"Create/AfterComplete", testCreateAfterComplete},
		{"Create/InvalidNames", testInvalidNames},
		{"Create/InvalidRef", testInvalidRef},
		{"Writer/CloseTwice", testWriterCloseTwice},
		{"Writer/Abort", testWriterAbort},
		{"Open/Missing", testOpenMissing},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Resolve/Listed", testResolveListed},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(&H{T: t, S: newStorage(t), Ctx: t.Context()})
		})
	}
	for _, tc := range sharedTests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := newStorage(t).(checkpoint.SharedStorage)
			if !ok {
				t.Skip("not a SharedStorage")
			}
			tc.fn(&H{T: t, S: s, Ctx: t.Context()}, s)
		})
	}
}

// H bundles what one test of the suite works with. Its helpers are
// exported so an implementation's own tests can build checkpoints the same
// way.
type H struct {
	*testing.T
	S   checkpoint.Storage
	Ctx context.Context
}

// T0 is the completion time the suite's checkpoints start from; fixed, so
// nothing depends on the clock.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Content returns the bytes the suite writes for one subtask: distinct per
// checkpoint, operator and subtask, so a mix-up cannot go unnoticed.
func Content(ref checkpoint.Ref, op string, subtask int) []byte {
	line := fmt.Sprintf("%v/%s/%d\n", ref, op, subtask)
	return bytes.Repeat([]byte(line), 1+subtask*3)
}

// Meta returns the metadata of a checkpoint with one operator per entry of
// pars (operator "op<i>" with that parallelism, files named by
// StateFileName and filled by Content), completed at at.
func Meta(ref checkpoint.Ref, at time.Time, pars ...int) *checkpoint.Metadata {
	m := &checkpoint.Metadata{
		FormatVersion:  checkpoint.FormatVersion,
		Kind:           ref.Kind,
		ID:             ref.ID,
		CompletedAt:    at,
		MaxParallelism: 128,
		Operators:      []checkpoint.Operator{},
	}
	for i, p := range pars {
		op := checkpoint.Operator{ID: fmt.Sprintf("op%d", i), Name: fmt.Sprintf("operator %d", i), Parallelism: p}
		for st := range p {
			op.Subtasks = append(op.Subtasks, checkpoint.StateFile{
				Name: checkpoint.StateFileName(op.ID, st),
				Size: int64(len(Content(ref, op.ID, st))),
			})
		}
		m.Operators = append(m.Operators, op)
	}
	return m
}

// Write writes the state files Meta lists and returns that metadata. It
// does not complete the checkpoint.
func (h *H) Write(ref checkpoint.Ref, at time.Time, pars ...int) *checkpoint.Metadata {
	h.Helper()
	m := Meta(ref, at, pars...)
	for _, op := range m.Operators {
		for st, f := range op.Subtasks {
			h.WriteFile(ref, f.Name, Content(ref, op.ID, st))
		}
	}
	return m
}

// WriteFile writes one state file and fails the test on any error.
func (h *H) WriteFile(ref checkpoint.Ref, name string, data []byte) {
	h.Helper()
	w, err := h.S.Create(h.Ctx, ref, name)
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

// Complete writes and completes a checkpoint (see Write).
func (h *H) Complete(ref checkpoint.Ref, at time.Time, pars ...int) *checkpoint.Metadata {
	h.Helper()
	m := h.Write(ref, at, pars...)
	if err := h.S.Complete(h.Ctx, m); err != nil {
		h.Fatal(err)
	}
	return m
}

// Refs returns the refs of a listing, in order.
func Refs(infos []checkpoint.Info) []checkpoint.Ref {
	refs := make([]checkpoint.Ref, len(infos))
	for i, in := range infos {
		refs[i] = in.Ref
	}
	return refs
}

// List lists and fails the test on error.
func (h *H) List() []checkpoint.Info {
	h.Helper()
	infos, err := h.S.List(h.Ctx)
	if err != nil {
		h.Fatal(err)
	}
	return infos
}

// Incomplete lists incomplete checkpoints and fails the test on error.
func (h *H) Incomplete() []checkpoint.Ref {
	h.Helper()
	refs, err := h.S.Incomplete(h.Ctx)
	if err != nil {
		h.Fatal(err)
	}
	return refs
}

// MustErr fails the test unless err wraps target.
func (h *H) MustErr(err, target error, what string) {
	h.Helper()
	if !errors.Is(err, target) {
		h.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// SameMetadata fails the test unless got and want are equal, comparing
// times as instants.
func (h *H) SameMetadata(got, want *checkpoint.Metadata) {
	h.Helper()
	g, w := *got, *want
	if !g.CompletedAt.Equal(w.CompletedAt) {
		h.Fatalf("CompletedAt = %v, want %v", g.CompletedAt, w.CompletedAt)
	}
	g.CompletedAt, w.CompletedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		h.Fatalf("metadata differs:\n got  %+v\n want %+v", g, w)
	}
}

func chk(id int64) checkpoint.Ref { return checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id} }
func sp(id int64) checkpoint.Ref  { return checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: id} }

func at(minutes int) time.Time { return T0.Add(time.Duration(minutes) * time.Minute) }

func testRoundTrip(h *H) {
	ref := chk(7)
	m := h.Write(ref, at(0).Add(123456789*time.Nanosecond), 2, 3)
	m.Job = map[string][]byte{"graph": []byte("fingerprint"), "sink/pending": {0, 1, 2, 255}}
	if err := h.S.Complete(h.Ctx, m); err != nil {
		h.Fatal(err)
	}

	got, err := h.S.ReadMetadata(h.Ctx, ref)
	if err != nil {
		h.Fatal(err)
	}
	h.SameMetadata(got, m)

	for _, op := range got.Operators {
		for st, f := range op.Subtasks {
			r, err := h.S.Open(h.Ctx, ref, f.Name)
			if err != nil {
				h.Fatal(err)
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				h.Fatal(err)
			}
			if want := Content(ref, op.ID, st); !bytes.Equal(data, want) {
				h.Fatalf("operator %s subtask %d: read %q, wrote %q", op.ID, st, data, want)
			}
		}
	}

	infos := h.List()
	if len(infos) != 1 || infos[0].Ref != ref || !infos[0].CompletedAt.Equal(m.CompletedAt) {
		h.Fatalf("List = %+v, want just %v completed at %v", infos, ref, m.CompletedAt)
	}
	enc, err := m.Encode()
	if err != nil {
		h.Fatal(err)
	}
	if want := m.StateSize() + int64(len(enc)); infos[0].Size != want {
		h.Fatalf("Size = %d, want %d (state files and metadata)", infos[0].Size, want)
	}
	latest, err := checkpoint.Latest(h.Ctx, h.S)
	if err != nil || latest != infos[0] {
		h.Fatalf("Latest = %+v, %v; want %+v", latest, err, infos[0])
	}
	if inc := h.Incomplete(); len(inc) != 0 {
		h.Fatalf("Incomplete = %v after completing", inc)
	}
}

func testEmpty(h *H) {
	if infos := h.List(); len(infos) != 0 {
		h.Fatalf("List = %v on an empty storage", infos)
	}
	_, err := checkpoint.Latest(h.Ctx, h.S)
	h.MustErr(err, checkpoint.ErrNotFound, "Latest on an empty storage")
	_, err = h.S.ReadMetadata(h.Ctx, chk(1))
	h.MustErr(err, checkpoint.ErrNotFound, "ReadMetadata of a checkpoint never started")
}

// A job whose operators have no state still checkpoints (its sources'
// positions may be in Job), without writing any file.
func testEmptyCheckpoint(h *H) {
	h.Complete(chk(1), at(0))
	got, err := h.S.ReadMetadata(h.Ctx, chk(1))
	if err != nil {
		h.Fatal(err)
	}
	if len(got.Operators) != 0 {
		h.Fatalf("operators = %v, want none", got.Operators)
	}
	if refs := Refs(h.List()); !slices.Equal(refs, []checkpoint.Ref{chk(1)}) {
		h.Fatalf("List = %v", refs)
	}
}

func testIncompleteIsInvisible(h *H) {
	h.Complete(chk(1), at(0), 1)
	h.Write(chk(2), at(1), 2) // all files written, never completed
	if refs := Refs(h.List()); !slices.Equal(refs, []checkpoint.Ref{chk(1)}) {
		h.Fatalf("List = %v, want only the completed chk 1", refs)
	}
	if latest, err := checkpoint.Latest(h.Ctx, h.S); err != nil || latest.Ref != chk(1) {
		h.Fatalf("Latest = %v, %v; want chk 1", latest.Ref, err)
	}
	_, err := h.S.ReadMetadata(h.Ctx, chk(2))
	h.MustErr(err, checkpoint.ErrIncomplete, "ReadMetadata of an incomplete checkpoint")
	if refs := h.Incomplete(); !slices.Equal(refs, []checkpoint.Ref{chk(2)}) {
		h.Fatalf("Incomplete = %v, want chk 2", refs)
	}
}

func testListOrder(h *H) {
	// Completion time decides, whatever the kind and ID; equal times fall
	// back to the higher ID, then savepoint before checkpoint.
	h.Complete(chk(1), at(0), 1)
	h.Complete(chk(2), at(10), 1)
	h.Complete(sp(3), at(20), 1)
	h.Complete(chk(4), at(30), 1)
	h.Complete(sp(900), at(5), 1) // a savepoint from another job, older
	h.Complete(chk(5), at(40), 1)
	h.Complete(sp(5), at(40), 1)
	h.Complete(chk(6), at(40), 1)
	want := []checkpoint.Ref{chk(6), sp(5), chk(5), chk(4), sp(3), chk(2), sp(900), chk(1)}
	if got := Refs(h.List()); !slices.Equal(got, want) {
		h.Fatalf("List order = %v, want %v", got, want)
	}
	if latest, err := checkpoint.Latest(h.Ctx, h.S); err != nil || latest.Ref != chk(6) {
		h.Fatalf("Latest = %v, %v; want chk 6", latest.Ref, err)
	}
}

func testSameIDBothKinds(h *H) {
	mc := h.Complete(chk(5), at(0), 1)
	ms := h.Complete(sp(5), at(1), 2)
	gc, err := h.S.ReadMetadata(h.Ctx, chk(5))
	if err != nil {
		h.Fatal(err)
	}
	gs, err := h.S.ReadMetadata(h.Ctx, sp(5))
	if err != nil {
		h.Fatal(err)
	}
	h.SameMetadata(gc, mc)
	h.SameMetadata(gs, ms)
	if err := h.S.Delete(h.Ctx, chk(5)); err != nil {
		h.Fatal(err)
	}
	if refs := Refs(h.List()); !slices.Equal(refs, []checkpoint.Ref{sp(5)}) {
		h.Fatalf("after deleting chk 5: List = %v, want sp 5", refs)
	}
}

func testRetain(h *H) {
	h.Complete(chk(1), at(1), 1)
	h.Complete(chk(2), at(2), 1)
	h.Write(chk(3), at(3), 1) // abandoned: older than the newest complete
	h.Complete(chk(4), at(4), 2)
	h.Complete(sp(5), at(5), 1)
	h.Complete(chk(6), at(6), 1)
	h.Complete(chk(7), at(7), 1)
	h.Write(chk(8), at(8), 1) // in progress: newer, must survive
	h.Write(sp(9), at(9), 1)  // a savepoint in progress: kept
	h.Write(sp(3), at(3), 1)  // a savepoint abandoned by a job stopped at once: deleted
	h.Complete(sp(1), at(0), 1)

	if err := checkpoint.Retain(h.Ctx, h.S, 2); err != nil {
		h.Fatal(err)
	}
	if got, want := Refs(h.List()), []checkpoint.Ref{chk(7), chk(6), sp(5), sp(1)}; !slices.Equal(got, want) {
		h.Fatalf("after Retain(2): List = %v, want %v", got, want)
	}
	if got, want := h.Incomplete(), []checkpoint.Ref{chk(8), sp(9)}; !slices.Equal(got, want) {
		h.Fatalf("after Retain(2): Incomplete = %v, want %v", got, want)
	}
	// What is kept is intact.
	if _, err := h.S.ReadMetadata(h.Ctx, chk(6)); err != nil {
		h.Fatal(err)
	}
	// Retain again changes nothing.
	if err := checkpoint.Retain(h.Ctx, h.S, 2); err != nil {
		h.Fatal(err)
	}
	if got := len(h.List()); got != 4 {
		h.Fatalf("second Retain(2) left %d, want 4", got)
	}
	// The in-progress one completes; now chk 6 is the oldest of three.
	h.MustNil(h.S.Complete(h.Ctx, Meta(chk(8), at(8), 1)))
	h.MustNil(checkpoint.Retain(h.Ctx, h.S, 2))
	if got, want := Refs(h.List()), []checkpoint.Ref{chk(8), chk(7), sp(5), sp(1)}; !slices.Equal(got, want) {
		h.Fatalf("after chk 8 and Retain(2): List = %v, want %v", got, want)
	}
}

// MustNil fails the test on a non-nil error.
func (h *H) MustNil(err error) {
	h.Helper()
	if err != nil {
		h.Fatal(err)
	}
}

func testRetainFew(h *H) {
	h.Complete(chk(1), at(1), 1)
	h.Complete(chk(2), at(2), 1)
	h.MustNil(checkpoint.Retain(h.Ctx, h.S, 5))
	if got := Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(2), chk(1)}) {
		h.Fatalf("Retain(5) of two: List = %v", got)
	}
}

// testRetainFor: RetainFor keeps the newest n and every checkpoint
// completed within d, and deletes the older ones.
func testRetainFor(h *H) {
	for i := int64(1); i <= 6; i++ {
		h.Complete(chk(i), at(int(i)*10), 1)
	}
	// now is at(60): within 25 minutes are chk 4 (at 40), 5 and 6.
	h.MustNil(checkpoint.RetainFor(h.Ctx, h.S, 1, 25*time.Minute, at(60)))
	if got, want := Refs(h.List()), []checkpoint.Ref{chk(6), chk(5), chk(4)}; !slices.Equal(got, want) {
		h.Fatalf("RetainFor(1, 25m) = %v, want %v", got, want)
	}
	h.MustNil(checkpoint.RetainFor(h.Ctx, h.S, 2, 0, at(60)))
	if got, want := Refs(h.List()), []checkpoint.Ref{chk(6), chk(5)}; !slices.Equal(got, want) {
		h.Fatalf("RetainFor(2, 0) = %v, want %v", got, want)
	}
}

func testRetainZero(h *H) {
	h.Complete(chk(1), at(1), 1)
	if err := checkpoint.Retain(h.Ctx, h.S, 0); err == nil {
		h.Fatal("Retain(0) succeeded; it must refuse to delete every checkpoint")
	}
	if len(h.List()) != 1 {
		h.Fatal("Retain(0) deleted something")
	}
}

func testDelete(h *H) {
	h.Complete(chk(1), at(1), 2)
	h.Write(chk(2), at(2), 1)
	h.Complete(sp(3), at(3), 1)
	for _, r := range []checkpoint.Ref{chk(1), chk(2), sp(3)} {
		if err := h.S.Delete(h.Ctx, r); err != nil {
			h.Fatalf("Delete(%v): %v", r, err)
		}
	}
	if infos, inc := h.List(), h.Incomplete(); len(infos)+len(inc) != 0 {
		h.Fatalf("after deleting everything: List = %v, Incomplete = %v", Refs(infos), inc)
	}
	h.MustErr(h.S.Delete(h.Ctx, chk(1)), checkpoint.ErrNotFound, "Delete of a deleted checkpoint")
	_, err := h.S.Open(h.Ctx, chk(1), checkpoint.StateFileName("op0", 0))
	if err == nil {
		h.Fatal("a state file of a deleted checkpoint still opens")
	}
}

func testCompleteChecksFiles(h *H) {
	m := h.Write(chk(1), at(1), 2)

	missing := *m
	missing.Operators = slices.Clone(m.Operators)
	missing.Operators[0].Subtasks = []checkpoint.StateFile{m.Operators[0].Subtasks[0], {Name: "never-written", Size: 0}}
	if err := h.S.Complete(h.Ctx, &missing); err == nil || !strings.Contains(err.Error(), "never-written") {
		h.Fatalf("Complete with a missing file: %v; want an error naming it", err)
	}

	short := *m
	short.Operators = slices.Clone(m.Operators)
	short.Operators[0].Subtasks = slices.Clone(m.Operators[0].Subtasks)
	short.Operators[0].Subtasks[1].Size++
	if err := h.S.Complete(h.Ctx, &short); err == nil || !strings.Contains(err.Error(), m.Operators[0].Subtasks[1].Name) {
		h.Fatalf("Complete with a wrong size: %v; want an error naming the file", err)
	}

	if infos := h.List(); len(infos) != 0 {
		h.Fatalf("a failed Complete left %v listed", Refs(infos))
	}
	// A failed Complete leaves nothing in the way of a correct one.
	h.MustNil(h.S.Complete(h.Ctx, m))
	if got := Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
		h.Fatalf("List = %v", got)
	}
}

func testCompleteTwice(h *H) {
	m := h.Complete(chk(1), at(1), 1)
	later := *m
	later.CompletedAt = at(2)
	h.MustErr(h.S.Complete(h.Ctx, &later), checkpoint.ErrExists, "second Complete")
	got, err := h.S.ReadMetadata(h.Ctx, chk(1))
	h.MustNil(err)
	h.SameMetadata(got, m)
}

func testCompleteInvalid(h *H) {
	m := h.Write(chk(1), at(1), 1)
	m.MaxParallelism = 0
	err := h.S.Complete(h.Ctx, m)
	var fe *checkpoint.FieldError
	if !errors.As(err, &fe) || fe.Field != "MaxParallelism" {
		h.Fatalf("Complete with MaxParallelism 0: %v; want a FieldError for MaxParallelism", err)
	}
	if len(h.List()) != 0 {
		h.Fatal("invalid metadata completed a checkpoint")
	}
}

func testCreateTwice(h *H) {
	h.WriteFile(chk(1), "a", []byte("first"))
	_, err := h.S.Create(h.Ctx, chk(1), "a")
	h.MustErr(err, checkpoint.ErrExists, "creating a state file twice")
	r, err := h.S.Open(h.Ctx, chk(1), "a")
	h.MustNil(err)
	defer r.Close()
	if data, _ := io.ReadAll(r); string(data) != "first" {
		h.Fatalf("the file reads %q after a second Create, want %q", data, "first")
	}
}

func testCreateAfterComplete(h *H) {
	h.Complete(chk(1), at(1), 1)
	_, err := h.S.Create(h.Ctx, chk(1), "late")
	h.MustErr(err, checkpoint.ErrExists, "Create in a completed checkpoint")
}

// BadNames are state file names every Storage must refuse.
var BadNames = []string{
	"", ".", "..", "../escape", "a/../../b", "a/b", `a\b`, "/abs", ".hidden",
	"_metadata", "_metadata.tmp", "_x", "x..y", "nul\x00byte", "new\nline",
	"\xff\xfe", strings.Repeat("n", 256),
}

func testInvalidNames(h *H) {
	for _, name := range BadNames {
		if w, err := h.S.Create(h.Ctx, chk(1), name); !errors.Is(err, checkpoint.ErrInvalidName) {
			if w != nil {
				w.Close()
			}
			h.Errorf("Create(%q): %v; want ErrInvalidName", name, err)
		}
		if r, err := h.S.Open(h.Ctx, chk(1), name); !errors.Is(err, checkpoint.ErrInvalidName) {
			if r != nil {
				r.Close()
			}
			h.Errorf("Open(%q): %v; want ErrInvalidName", name, err)
		}
	}
	// Names a coordinator would use are fine, including ones built from
	// operator IDs full of odd characters.
	for _, name := range []string{"a", "op-1.state", "x.y", checkpoint.StateFileName("../../etc/passwd", 3), checkpoint.StateFileName(strings.Repeat("é", 300), 0)} {
		h.WriteFile(chk(1), name, []byte("x"))
	}
}

func testInvalidRef(h *H) {
	for _, r := range []checkpoint.Ref{{}, {Kind: checkpoint.KindCheckpoint}, {Kind: checkpoint.KindSavepoint, ID: -1}, {Kind: 9, ID: 1}} {
		if w, err := h.S.Create(h.Ctx, r, "a"); err == nil {
			w.Close()
			h.Errorf("Create in %+v succeeded", r)
		}
		if err := h.S.Delete(h.Ctx, r); err == nil {
			h.Errorf("Delete(%+v) succeeded", r)
		}
	}
}

func testWriterCloseTwice(h *H) {
	w, err := h.S.Create(h.Ctx, chk(1), "a")
	h.MustNil(err)
	h.MustNil(w.Close())
	if err := w.Close(); err == nil {
		h.Error("second Close succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		h.Error("Write after Close succeeded")
	}
}

// A writer that can abort gives its file up: it cannot be written or
// closed afterwards, aborting again or after Close does nothing, and
// Delete removes what of the checkpoint it was part of is left.
func testWriterAbort(h *H) {
	w, err := h.S.Create(h.Ctx, chk(1), "a")
	h.MustNil(err)
	a, ok := w.(checkpoint.Aborter)
	if !ok {
		w.Close()
		h.Skip("the storage's writers are not Aborters")
	}
	_, err = w.Write(Content(chk(1), "a", 9))
	h.MustNil(err)
	h.MustNil(a.Abort())
	h.MustNil(a.Abort())
	if _, err := w.Write([]byte("x")); err == nil {
		h.Error("Write after Abort succeeded")
	}
	if err := w.Close(); err == nil {
		h.Error("Close after Abort succeeded")
	}
	// What of the file reached the storage stays until Delete; a storage
	// that keeps nothing of an aborted file (S3 aborts the upload) has
	// nothing to list or delete.
	switch got := h.Incomplete(); {
	case slices.Equal(got, []checkpoint.Ref{chk(1)}):
		h.MustNil(h.S.Delete(h.Ctx, chk(1)))
	case len(got) == 0:
		h.MustErr(h.S.Delete(h.Ctx, chk(1)), checkpoint.ErrNotFound, "Delete of a checkpoint whose one write was aborted, leaving nothing")
	default:
		h.Errorf("Incomplete = %v after an aborted write, want [%v] or nothing", got, chk(1))
	}
	if got := h.Incomplete(); len(got) != 0 {
		h.Errorf("Incomplete = %v after Delete, want nothing", got)
	}

	// Abort after Close keeps the file.
	m := Meta(chk(2), at(2), 1)
	name := m.Operators[0].Subtasks[0].Name
	w, err = h.S.Create(h.Ctx, chk(2), name)
	h.MustNil(err)
	_, err = w.Write(Content(chk(2), "op0", 0))
	h.MustNil(err)
	h.MustNil(w.Close())
	h.MustNil(w.(checkpoint.Aborter).Abort())
	h.MustNil(h.S.Complete(h.Ctx, m))
	r, err := h.S.Open(h.Ctx, chk(2), name)
	h.MustNil(err)
	data, err := io.ReadAll(r)
	r.Close()
	h.MustNil(err)
	if !bytes.Equal(data, Content(chk(2), "op0", 0)) {
		h.Errorf("a file aborted after Close reads %d bytes that differ from what was written", len(data))
	}
}

func testOpenMissing(h *H) {
	h.Complete(chk(1), at(1), 1)
	if r, err := h.S.Open(h.Ctx, chk(1), "nope"); err == nil {
		r.Close()
		h.Fatal("Open of a file never written succeeded")
	}
	if r, err := h.S.Open(h.Ctx, chk(2), "nope"); err == nil {
		r.Close()
		h.Fatal("Open in a checkpoint never started succeeded")
	}
}

// Subtasks write their files concurrently, the first of them creating the
// checkpoint as they go; run with -race.
func testConcurrentWriters(h *H) {
	const n = 16
	ref := chk(1)
	m := &checkpoint.Metadata{
		FormatVersion: checkpoint.FormatVersion, Kind: ref.Kind, ID: ref.ID, CompletedAt: at(1), MaxParallelism: 128,
		Operators: []checkpoint.Operator{{ID: "op", Name: "op", Parallelism: n, Subtasks: make([]checkpoint.StateFile, n)}},
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := checkpoint.StateFileName("op", i)
			data := Content(ref, "op", i)
			w, err := h.S.Create(h.Ctx, ref, name)
			if err != nil {
				errs[i] = err
				return
			}
			// Several writes, so the writers interleave.
			for chunk := range slices.Chunk(data, 7) {
				if _, err := w.Write(chunk); err != nil {
					w.Close()
					errs[i] = err
					return
				}
			}
			errs[i] = w.Close()
			m.Operators[0].Subtasks[i] = checkpoint.StateFile{Name: name, Size: int64(len(data))}
		})
	}
	wg.Wait()
	h.MustNil(errors.Join(errs...))
	h.MustNil(h.S.Complete(h.Ctx, m))
	for i := range n {
		r, err := h.S.Open(h.Ctx, ref, checkpoint.StateFileName("op", i))
		h.MustNil(err)
		data, err := io.ReadAll(r)
		r.Close()
		h.MustNil(err)
		if !bytes.Equal(data, Content(ref, "op", i)) {
			h.Fatalf("subtask %d reads back %d bytes that differ from what it wrote", i, len(data))
		}
	}
}

func testResolveListed(h *H) {
	h.Complete(chk(1), at(1), 1)
	h.Complete(sp(2), at(2), 1)
	for _, in := range h.List() {
		got, err := h.S.Resolve(h.Ctx, in.Location)
		if err != nil || got != in {
			h.Fatalf("Resolve(%q) = %+v, %v; want %+v", in.Location, got, err, in)
		}
	}
}

func testCanceledContext(h *H) {
	h.Complete(chk(1), at(1), 1)
	m := h.Write(chk(2), at(2), 1)
	ctx, cancel := context.WithCancel(h.Ctx)
	cancel()
	calls := map[string]func() error{
		"Create": func() error {
			w, err := h.S.Create(ctx, chk(3), "a")
			if err == nil {
				w.Close()
			}
			return err
		},
		"Open": func() error {
			r, err := h.S.Open(ctx, chk(1), checkpoint.StateFileName("op0", 0))
			if err == nil {
				r.Close()
			}
			return err
		},
		"Complete":     func() error { return h.S.Complete(ctx, m) },
		"ReadMetadata": func() error { _, err := h.S.ReadMetadata(ctx, chk(1)); return err },
		"List":         func() error { _, err := h.S.List(ctx); return err },
		"Incomplete":   func() error { _, err := h.S.Incomplete(ctx); return err },
		"Resolve":      func() error { _, err := h.S.Resolve(ctx, h.List()[0].Location); return err },
		"Delete":       func() error { return h.S.Delete(ctx, chk(1)) },
		"Retain":       func() error { return checkpoint.Retain(ctx, h.S, 1) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			h.Errorf("%s with a canceled context: %v; want context.Canceled", name, err)
		}
	}
	// Nothing happened.
	if got := Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
		h.Fatalf("List = %v after canceled calls", got)
	}
}
