package pebble

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/weirstream/weir/internal/state"
)

// Format is the name of the file format of the Store's checkpoints.
const Format = "pebble"

var _ state.FileStore = (*Store)(nil)

// FileFormat implements state.FileStore.
func (s *Store) FileFormat() string { return Format }

// base is the directory under which the Store's working directory is.
func (s *Store) base() string { return filepath.Dir(s.dir) }

// CheckpointFiles implements state.FileStore, as Flink's RocksDB backend
// takes an incremental checkpoint: the memtable is flushed (the database
// has no write-ahead log, so its contents are in table files only after a
// flush) and a Pebble checkpoint hard-links the table files into a new
// directory beside the working directory and copies the small files that
// change (MANIFEST, OPTIONS, markers). Table (.sst) and blob (.blob) files
// are immutable: Pebble never reuses a file number.
func (s *Store) CheckpointFiles() (string, []state.StoreFile, error) {
	if err := s.usable(); err != nil {
		return "", nil, err
	}
	if err := s.db.Flush(); err != nil {
		return "", nil, fmt.Errorf("pebble state: flush %s: %w", s.dir, err)
	}
	// A flush that could not write its file completes in memory (spillFS):
	// the checkpoint must not link it.
	if err := s.usable(); err != nil {
		return "", nil, err
	}
	// A fresh name, which Pebble's Checkpoint wants not to exist yet.
	dir, err := os.MkdirTemp(s.base(), "weir-checkpoint-")
	if err == nil {
		err = os.Remove(dir)
	}
	if err != nil {
		return "", nil, fmt.Errorf("pebble state: checkpoint: %w", err)
	}
	if err := s.db.Checkpoint(dir); err != nil {
		os.RemoveAll(dir)
		if uerr := s.usable(); uerr != nil {
			return "", nil, uerr
		}
		return "", nil, fmt.Errorf("pebble state: checkpoint %s: %w", s.dir, err)
	}
	if err := s.usable(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("pebble state: checkpoint: %w", err)
	}
	files := make([]state.StoreFile, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("pebble state: checkpoint: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		name := e.Name()
		files = append(files, state.StoreFile{Name: name, Size: fi.Size(),
			Immutable: strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")})
	}
	return dir, files, nil
}

// DeleteRange implements state.FileStore with a range tombstone.
func (s *Store) DeleteRange(lower, upper []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := s.db.DeleteRange(lower, upper, pdb.NoSync); err != nil {
		return fmt.Errorf("pebble state: delete range %x-%x: %w", lower, upper, err)
	}
	return nil
}

// ScratchDir implements state.FileStore.
func (s *Store) ScratchDir() (string, error) {
	dir, err := os.MkdirTemp(s.base(), "weir-restore-")
	if err != nil {
		return "", fmt.Errorf("pebble state: restore directory under %s: %w", s.base(), err)
	}
	return dir, nil
}

// LoadFiles implements state.FileStore: the empty database is closed, dir
// replaces the working directory and the database is opened in it.
func (s *Store) LoadFiles(dir string) error {
	if err := s.usable(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.views > 0 {
		return errors.New("pebble state: LoadFiles with a view open")
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebble state: close %s: %w", s.dir, err)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("pebble state: LoadFiles: %w", err)
	}
	if err := os.Rename(dir, s.dir); err != nil {
		return fmt.Errorf("pebble state: LoadFiles: %w", err)
	}
	cache := s.bud.shared()
	defer cache.Unref()
	db, err := pdb.Open(s.dir, dbOptions(cache, s.bud, s.bg, s.fs))
	if err != nil {
		// Leave the Store closed: it has no database.
		s.closed, s.mu.closed = true, true
		s.bud.release()
		return errors.Join(fmt.Errorf("pebble state: open restored files in %s: %w", s.dir, err), os.RemoveAll(s.dir))
	}
	s.db = db
	return nil
}

// OpenFiles implements state.FileStore: a read-only database with a small
// cache of its own.
func (s *Store) OpenFiles(dir string) (state.StoreView, error) {
	cache := pdb.NewCache(MinMemory)
	defer cache.Unref()
	db, err := pdb.Open(dir, &pdb.Options{
		Cache:    cache,
		ReadOnly: true,
		Logger:   quietLogger{pdb.DefaultLogger},
	})
	if err != nil {
		return nil, fmt.Errorf("pebble state: open %s: %w", dir, err)
	}
	v := &filesView{r: &filesRef{db: db}}
	runtime.AddCleanup(v, (*filesRef).release, v.r)
	return v, nil
}

// filesView is a state.StoreView over a read-only database.
type filesView struct{ r *filesRef }

type filesRef struct {
	db    *pdb.DB
	once  sync.Once
	upper []byte
}

func (r *filesRef) release() { r.once.Do(func() { _ = r.db.Close() }) }

func (v *filesView) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	defer runtime.KeepAlive(v)
	r := v.r
	r.upper = appendSuccessor(r.upper[:0], prefix)
	it, err := r.db.NewIter(bounds(prefix, r.upper))
	if err != nil {
		return fmt.Errorf("pebble state: scan restored files: %w", err)
	}
	return iterate(it, fn)
}

func (v *filesView) Release() { v.r.release() }
