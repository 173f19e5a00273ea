package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Compression says how a source's files are compressed.
type Compression uint8

const (
	// Auto tells by each file's extension: ".gz" is Gzip, ".zst" and
	// ".zstd" are Zstd, anything else Uncompressed.
	Auto Compression = iota
	// Uncompressed files are read as they are.
	Uncompressed
	// Gzip files (RFC 1952, several members one after the other too).
	Gzip
	// Zstd files (RFC 8878).
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Auto:
		return "auto"
	case Uncompressed:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// of returns the compression of the file at path.
func (c Compression) of(path string) Compression {
	if c != Auto {
		return c
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gz":
		return Gzip
	case ".zst", ".zstd":
		return Zstd
	}
	return Uncompressed
}

// Defaults of SourceConfig.
const (
	// DefaultSettleTime is the default of SourceConfig.SettleTime.
	DefaultSettleTime = time.Second
	// DefaultMaxRecordBytes is the default of SourceConfig.MaxRecordBytes:
	// 16 MiB.
	DefaultMaxRecordBytes = 16 << 20
	// DefaultMaxOpenFiles is the default of SourceConfig.MaxOpenFiles.
	DefaultMaxOpenFiles = 32
)

// SourceConfig configures a file source (JSONLinesSource, CSVSource). The
// zero value of every field but Paths has a default.
type SourceConfig struct {
	// Paths are what to read: files, directories (read with their
	// subdirectories) and glob patterns (filepath.Match syntax; a
	// directory a pattern matches is read like a named one). In
	// directories and among a pattern's matches, names starting with '.'
	// or '_' are skipped, files and directories alike: they are files
	// being written, or markers such as _SUCCESS. A named file is read
	// whatever its name. Required.
	Paths []string

	// Compression of the files; Auto (the default) tells by extension.
	Compression Compression

	// Watch makes the source unbounded: it reads the files there when the
	// job starts, then looks for new ones every weir.DiscoveryInterval
	// (default 10 s) and reads each once. Without Watch the source reads
	// the files there when the job starts and ends.
	Watch bool

	// SettleTime (with Watch) is how long a file must have gone
	// unmodified before it is read, so that a file still being written in
	// place is not read half-way. Zero means DefaultSettleTime; a
	// negative value picks files up as soon as they are seen, for
	// producers that write each file under a hidden name and rename it
	// when complete (the safe way in any case).
	SettleTime time.Duration

	// MaxRecordBytes bounds a record (a line; a CSV record with its
	// quoted line breaks): a longer one is rejected, its first
	// MaxRecordBytes bytes going to the error policy. Zero means
	// DefaultMaxRecordBytes.
	MaxRecordBytes int

	// MaxOpenFiles bounds how many files the source reads at once, over
	// all its subtasks: the others wait their turn, holding back the
	// watermark as unread input does. Zero means DefaultMaxOpenFiles.
	MaxOpenFiles int

	// RejectBlank rejects blank lines (empty or white space only) as bad
	// records. By default they are skipped: not records, so neither
	// emitted nor rejected, and counted by Source.BlankLines.
	RejectBlank bool
}

// Validate reports the first problem with the configuration, naming the
// field.
func (c SourceConfig) Validate() error {
	switch {
	case len(c.Paths) == 0:
		return errors.New("file source: SourceConfig.Paths is required")
	case c.Compression > Zstd:
		return fmt.Errorf("file source: SourceConfig.Compression %v is not one of Auto, Uncompressed, Gzip, Zstd", c.Compression)
	case c.MaxRecordBytes < 0:
		return fmt.Errorf("file source: SourceConfig.MaxRecordBytes %d must not be negative", c.MaxRecordBytes)
	case c.MaxOpenFiles < 0:
		return fmt.Errorf("file source: SourceConfig.MaxOpenFiles %d must not be negative", c.MaxOpenFiles)
	}
	for i, p := range c.Paths {
		if p == "" {
			return fmt.Errorf("file source: SourceConfig.Paths[%d] is empty", i)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("file source: SourceConfig.Paths[%d] %q: %w", i, p, err)
		}
	}
	return nil
}

func (c SourceConfig) withDefaults() SourceConfig {
	if c.SettleTime == 0 {
		c.SettleTime = DefaultSettleTime
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxOpenFiles == 0 {
		c.MaxOpenFiles = DefaultMaxOpenFiles
	}
	return c
}

// Source reads files; each file is a split, and a record's offset is its
// line number (the first line of a record spanning several), counting
// from one. It implements weir.Source, weir.SplitDiscoverer (with
// SourceConfig.Watch) and weir.OffsetNamer.
//
// A Source value may serve any number of jobs.
type Source[T any] struct {
	cfg SourceConfig
	// csv is set for CSV sources.
	csv *csvDecoding[T]
	dec format.Decoder[T]
	// blank counts the blank lines the readers skipped.
	blank atomic.Int64
	files openFiles
}

// openFiles hands out the source's MaxOpenFiles among its readers.
type openFiles struct {
	mu      sync.Mutex
	max     int
	open    int
	waiting []func() // wake functions of readers waiting for a file
}

// acquire takes a file if one is free; otherwise wake, if not nil, is
// called when one comes free.
func (o *openFiles) acquire(wake func()) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.open < o.max {
		o.open++
		return true
	}
	if wake != nil {
		o.waiting = append(o.waiting, wake)
	}
	return false
}

// release frees a file and wakes the readers waiting for one; all of them,
// since some may have closed meanwhile.
func (o *openFiles) release() {
	o.mu.Lock()
	o.open--
	waiting := o.waiting
	o.waiting = nil
	o.mu.Unlock()
	for _, wake := range waiting {
		wake()
	}
}

var (
	_ weir.Source[int]     = (*Source[int])(nil)
	_ weir.SplitDiscoverer = (*Source[int])(nil)
	_ weir.OffsetNamer     = (*Source[int])(nil)
)

// JSONLinesSource returns a source of the JSON lines in the files cfg
// names, each line decoded by dec (format.JSON[T]() for the JSON of a Go
// type). A line that does not decode is rejected with its text and line
// number: the job's error policy fails the job, skips it or writes it to
// the dead letters with the file and the line.
func JSONLinesSource[T any](cfg SourceConfig, dec format.Decoder[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dec == nil {
		return nil, errors.New("file source: the decoder is nil (format.JSON[T]() decodes JSON)")
	}
	s := newSource[T](cfg)
	s.dec = dec
	return s, nil
}

func newSource[T any](cfg SourceConfig) *Source[T] {
	s := &Source[T]{cfg: cfg.withDefaults()}
	s.files.max = s.cfg.MaxOpenFiles
	return s
}

// BlankLines returns how many blank lines the readers of this source have
// skipped, in every job it serves.
func (s *Source[T]) BlankLines() int64 { return s.blank.Load() }

// OffsetName implements weir.OffsetNamer: offsets are line numbers.
func (s *Source[T]) OffsetName() string { return "line" }

// Bounded implements weir.Source: the source is bounded unless it watches.
func (s *Source[T]) Bounded() bool { return !s.cfg.Watch }

// Splits implements weir.Source: one split per file, its ID the file's
// path (as Paths spell it, cleaned), in lexical order. Without Watch a
// path that names nothing, or a pattern that matches nothing, is an error.
func (s *Source[T]) Splits(context.Context) ([]weir.Split, error) {
	return s.list(time.Now())
}

// Enumerator implements weir.SplitDiscoverer: with Watch, the runtime asks
// it for the files that appeared since the job started. The runtime keeps
// the IDs of the files it has seen in checkpoints, so the enumerator keeps
// no state of its own.
func (s *Source[T]) Enumerator(context.Context, []byte) (weir.SplitEnumerator, error) {
	return enumerator[T]{s}, nil
}

type enumerator[T any] struct{ s *Source[T] }

func (e enumerator[T]) Discover(context.Context) ([]weir.Split, error) { return e.s.list(time.Now()) }
func (e enumerator[T]) State() ([]byte, error)                         { return nil, nil }
func (e enumerator[T]) Close() error                                   { return nil }

// list returns the files the source reads now, as splits.
func (s *Source[T]) list(now time.Time) ([]weir.Split, error) {
	var files []string
	add := func(path string, fi fs.FileInfo) {
		if s.cfg.Watch && s.cfg.SettleTime > 0 && now.Sub(fi.ModTime()) < s.cfg.SettleTime {
			return // perhaps still being written: a later listing sees it
		}
		files = append(files, filepath.Clean(path))
	}
	for _, p := range s.cfg.Paths {
		if !hasMeta(p) {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("file source: %w", err)
			}
			if err := s.addPath(p, fi, add); err != nil {
				return nil, err
			}
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("file source: pattern %q: %w", p, err)
		}
		n := len(files)
		for _, path := range m {
			if hidden(filepath.Base(path)) {
				continue
			}
			fi, err := os.Stat(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the glob
			}
			if err != nil {
				return nil, fmt.Errorf("file source: %w", err)
			}
			if err := s.addPath(path, fi, add); err != nil {
				return nil, err
			}
		}
		if len(files) == n && !s.cfg.Watch {
			return nil, fmt.Errorf("file source: no file matches %q", p)
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	out := make([]weir.Split, len(files))
	for i, f := range files {
		out[i] = weir.Split{ID: f}
	}
	return out, nil
}

// addPath adds the file at path, or the files beneath the directory.
func (s *Source[T]) addPath(path string, fi fs.FileInfo, add func(string, fs.FileInfo)) error {
	if fi.Mode().IsRegular() {
		add(path, fi)
		return nil
	}
	if !fi.IsDir() {
		return nil
	}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != path && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while listing
			}
			return err
		}
		if p != path && hidden(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(p) // follows a symbolic link to a file
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			add(p, fi)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("file source: listing %s: %w", path, err)
	}
	return nil
}

// hasMeta reports whether p is a glob pattern rather than a path.
func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// hidden reports whether a file or directory name is skipped in listings.
func hidden(name string) bool { return name != "" && (name[0] == '.' || name[0] == '_') }
