package weir

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// nativeFiles is what a checkpointStore keeps for incremental checkpoints:
// which shared files the newest complete checkpoint refers to (so the next
// one refers to them too instead of uploading them again), the native
// files of the subtasks written for checkpoints not yet complete, and the
// shared files uploaded for each, which a discard removes.
type nativeFiles struct {
	mu struct {
		sync.Mutex
		present map[string]checkpoint.NativeFile // by shared name
		natives map[nativeKey]*checkpoint.NativeState
		uploads map[int64][]string
	}
}

type nativeKey struct {
	id       int64
	operator string
	subtask  int
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeNative writes a subtask's state for checkpoint id as its backend's
// files: each immutable file the newest complete checkpoint shares
// already (same name and size) is referred to, every other one uploaded
// to the shared area; the files that change (a database's MANIFEST and
// the like) go into the checkpoint, named after the state file; the state
// file holds, in the snapshot format, what the files leave out.
func (s *checkpointStore) writeNative(ctx context.Context, id int64, st runtime.OperatorState, fs state.FileSnapshot, shared checkpoint.SharedStorage) (string, int64, error) {
	r := ref(id, false)
	name := checkpoint.StateFileName(st.OperatorID, st.Subtask)
	nf := fs.Files()
	ns := &checkpoint.NativeState{Format: nf.Format, KeyGroupStart: nf.KeyGroups.Start, KeyGroupEnd: nf.KeyGroups.End}
	for _, f := range nf.Files {
		if f.Ref != "" {
			if known, ok := s.known(f.Ref); ok && known.Size == f.Size {
				ns.Files = append(ns.Files, checkpoint.NativeFile{Name: f.Name, Size: f.Size, CRC: known.CRC, Shared: f.Ref})
				continue
			}
			w, err := shared.CreateShared(ctx, f.Ref)
			if err != nil {
				return "", 0, err
			}
			s.uploaded(id, f.Ref)
			crc, err := copyNative(ctx, w, fs, f)
			if err != nil {
				return "", 0, err
			}
			ns.Files = append(ns.Files, checkpoint.NativeFile{Name: f.Name, Size: f.Size, CRC: crc, Shared: f.Ref})
			continue
		}
		private := name + "." + f.Name
		w, err := s.dir.Create(ctx, r, private)
		if err != nil {
			return "", 0, err
		}
		crc, err := copyNative(ctx, w, fs, f)
		if err != nil {
			return "", 0, err
		}
		ns.Files = append(ns.Files, checkpoint.NativeFile{Name: f.Name, Size: f.Size, CRC: crc, Private: private})
	}
	w, err := s.dir.Create(ctx, r, name)
	if err != nil {
		return "", 0, err
	}
	n, err := fs.WritePart(&canceledWriter{w: w, done: ctx.Done(), err: ctx.Err})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		checkpoint.Abort(w)
		return "", 0, err
	}
	if err := w.Close(); err != nil {
		return "", 0, err
	}
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	if s.files.mu.natives == nil {
		s.files.mu.natives = map[nativeKey]*checkpoint.NativeState{}
	}
	s.files.mu.natives[nativeKey{id, st.OperatorID, st.Subtask}] = ns
	return name, n, nil
}

// copyNative copies the snapshot's file f to w and closes w, or aborts it
// on failure, and returns the CRC-32C of what it copied.
func copyNative(ctx context.Context, w io.WriteCloser, fs state.FileSnapshot, f state.NativeFile) (uint32, error) {
	fail := func(err error) (uint32, error) {
		checkpoint.Abort(w)
		return 0, err
	}
	rc, err := fs.OpenFile(f.Name)
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(&canceledWriter{w: io.MultiWriter(w, h), done: ctx.Done(), err: ctx.Err}, rc)
	if err == nil && n != f.Size {
		err = fmt.Errorf("state file %s: copied %d bytes, the snapshot listed %d", f.Name, n, f.Size)
	}
	if err != nil {
		return fail(err)
	}
	return h.Sum32(), w.Close()
}

func (s *checkpointStore) known(name string) (checkpoint.NativeFile, bool) {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	f, ok := s.files.mu.present[name]
	return f, ok
}

func (s *checkpointStore) uploaded(id int64, name string) {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	if s.files.mu.uploads == nil {
		s.files.mu.uploads = map[int64][]string{}
	}
	s.files.mu.uploads[id] = append(s.files.mu.uploads[id], name)
}

// native returns the native files written for a subtask of checkpoint id.
func (s *checkpointStore) native(id int64, operator string, subtask int) *checkpoint.NativeState {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	return s.files.mu.natives[nativeKey{id, operator, subtask}]
}

// present records the shared files of m, a complete checkpoint, as those
// the next checkpoint may refer to, and forgets what was kept for
// checkpoints up to m.
func (s *checkpointStore) present(m *checkpoint.Metadata) {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	s.files.mu.present = map[string]checkpoint.NativeFile{}
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			if f.Native == nil {
				continue
			}
			for _, nf := range f.Native.Files {
				if nf.Shared != "" {
					s.files.mu.present[nf.Shared] = nf
				}
			}
		}
	}
	for k := range s.files.mu.natives {
		if k.id <= m.ID {
			delete(s.files.mu.natives, k)
		}
	}
	for id := range s.files.mu.uploads {
		if id <= m.ID {
			delete(s.files.mu.uploads, id)
		}
	}
}

// discardShared removes the shared files uploaded for checkpoint id, which
// did not complete, unless a complete checkpoint refers to them. What it
// cannot remove is left for Retain (checkpoint.SharedOrphans).
func (s *checkpointStore) discardShared(ctx context.Context, id int64) {
	s.files.mu.Lock()
	names := s.files.mu.uploads[id]
	delete(s.files.mu.uploads, id)
	for k := range s.files.mu.natives {
		if k.id == id {
			delete(s.files.mu.natives, k)
		}
	}
	present := s.files.mu.present
	s.files.mu.Unlock()
	shared, ok := s.dir.(checkpoint.SharedStorage)
	if !ok {
		return
	}
	for _, n := range names {
		if _, ok := present[n]; !ok {
			_ = shared.DeleteShared(ctx, n)
		}
	}
}

func hasNative(m *checkpoint.Metadata) bool {
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			if f.Native != nil {
				return true
			}
		}
	}
	return false
}

// sharedFetcher returns the function that copies a native file of the
// checkpoint ref in d to a local path, checking its size and CRC-32C; its
// errors name the file and the checkpoint.
func sharedFetcher(d checkpoint.Storage, ref checkpoint.Ref, location string) func(checkpoint.NativeFile, string) error {
	return func(f checkpoint.NativeFile, path string) error {
		var rc io.ReadCloser
		var err error
		what := fmt.Sprintf("file %s of %s", f.Private, location)
		if f.Shared != "" {
			what = fmt.Sprintf("shared file %s (%s) of %s", f.Shared, f.Name, location)
			shared, ok := d.(checkpoint.SharedStorage)
			if !ok {
				return fmt.Errorf("%s: the storage at %s has no shared files", what, location)
			}
			rc, err = shared.OpenShared(context.Background(), f.Shared)
		} else {
			rc, err = d.Open(context.Background(), ref, f.Private)
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", what, err)
		}
		defer rc.Close()
		out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("restore %s: %w", what, err)
		}
		h := crc32.New(castagnoli)
		n, err := io.Copy(io.MultiWriter(out, h), rc)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		switch {
		case err != nil:
			return fmt.Errorf("restore %s: %w", what, err)
		case n != f.Size:
			return fmt.Errorf("restore %s: it has %d bytes, the metadata says %d: %w", what, n, f.Size, checkpoint.ErrMissingFile)
		case h.Sum32() != f.CRC:
			return fmt.Errorf("restore %s: its CRC-32C is %08x, the metadata says %08x: the file was damaged after it was written", what, h.Sum32(), f.CRC)
		}
		return nil
	}
}

// intoFiles restores a backend from state files of which some come with
// native files: the backend must restore those (state.FileRestorer).
func (r *opRestore) intoFiles(b state.Backend, files []state.SnapshotFile) error {
	fr, ok := b.(state.FileRestorer)
	if !ok {
		var format string
		for _, n := range r.natives {
			if n != nil {
				format = n.Format
				break
			}
		}
		return permanent(fmt.Errorf("restore: the checkpoint holds this operator's state in the %s backend's own files (an incremental checkpoint), which the %T backend cannot read: restore it on that backend, or restore a savepoint, which every backend reads", format, b))
	}
	sources := make([]state.RestoreSource, len(files))
	for i, f := range files {
		sources[i].SnapshotFile = f
		n := r.natives[i]
		if n == nil {
			continue
		}
		ns := &state.NativeSource{Fetch: func(f state.NativeFile, path string) error {
			for _, cf := range n.Files {
				if cf.Name == f.Name {
					return r.fetch(cf, path)
				}
			}
			return fmt.Errorf("restore: %s is not a file of the checkpoint", f.Name)
		}}
		ns.Format = n.Format
		ns.KeyGroups = state.KeyGroupRange{Start: n.KeyGroupStart, End: n.KeyGroupEnd}
		for _, cf := range n.Files {
			ns.Files = append(ns.Files, state.NativeFile{Name: cf.Name, Size: cf.Size, Ref: cf.Shared})
		}
		sources[i].Native = ns
	}
	if err := fr.RestoreFiles(sources); err != nil {
		return permanent(fmt.Errorf("restore: %w", err))
	}
	return nil
}
