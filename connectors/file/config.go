package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The defaults of Config's rolling fields are those of Flink's
// DefaultRollingPolicy.
const (
	// DefaultRollSize is the default of Config.RollSize: 128 MiB.
	DefaultRollSize = 128 << 20
	// DefaultRollInterval is the default of Config.RollInterval.
	DefaultRollInterval = time.Minute
)

// Config configures a Sink. The zero value of every field but Dir and
// Format (or Encoding) has a default. The functions (Format, Partition,
// Now) and Encoding's NewFile are called by every subtask's writer, on the
// subtasks' goroutines at once, so they must be safe for concurrent use;
// each FileEncoder is used by one writer.
type Config[T any] struct {
	// Dir is the base directory; it is created if missing. Every file the
	// sink writes is beneath it. Required.
	Dir string

	// Format encodes one record as a line; the sink appends '\n'.
	// JSONLines and Lines build the common ones. Set Format or Encoding.
	Format func(T) ([]byte, error)

	// Encoding writes part files of a format with more to it than lines:
	// CSV (a header row in every file) or Parquet. Set Format or Encoding.
	Encoding Encoding[T]

	// Ext is appended to every part file name, with its dot (".jsonl");
	// empty for none.
	Ext string

	// RollSize rolls a part file (closes it and makes it pending) as soon as
	// it holds at least this many bytes, so a file is at most RollSize plus
	// one record long (for Parquet, whose rows wait in memory until the
	// file rolls, the bytes are the writer's estimate of the file's size).
	// Zero means DefaultRollSize.
	RollSize int64

	// RollInterval rolls a part file when a record arrives and the file was
	// opened at least this long ago. Zero means DefaultRollInterval. Every
	// checkpoint rolls every file anyway, so this only matters when
	// checkpoints are further apart.
	RollInterval time.Duration

	// Partition, when set, puts each record in the subdirectory it returns
	// ("" for the base directory; "a/b" nests). The value must be a relative
	// slash-separated path without empty, "." or ".." segments and without
	// segments starting with a dot; a record whose value is not fails the
	// write with an error wrapping ErrPartition.
	Partition func(T) string

	// EventTimeBuckets, when set, is a time layout (time.Time.Format, UTC)
	// applied to each record's event time to name a subdirectory, below the
	// Partition one if both are set: "2006-01-02--15" gives hourly buckets,
	// "dt=2006-01-02/hour=15" nested ones. A record without an event time
	// then fails the write.
	EventTimeBuckets string

	// Committed, if set, is called after each part file is committed, with
	// its path relative to Dir. Crash tests use it to stop a commit
	// halfway; it may also feed monitoring.
	Committed func(path string)
	// CommitLog, when set, makes every Commit append to a hidden file of
	// Dir, before it renames anything, one line per part file it commits:
	// the checkpoint ID and the file's path relative to Dir ("42
	// a/part-0-….jsonl"), and fsync it. The file is CommitLogName plus
	// "-" and the subtask. It says which checkpoint committed each file,
	// so that a restatement (weir serve's rewind) can keep the files a
	// checkpoint had committed and re-read the rest.
	CommitLog bool
	// Now is the clock RollInterval is measured with; nil means time.Now.
	// Tests set it.
	Now func() time.Time
}

// Validate reports the first problem with the configuration, naming the
// field.
func (c Config[T]) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("file: Config.Dir is required")
	case c.Format == nil && c.Encoding == nil:
		return errors.New("file: Config.Format or Config.Encoding is required (file.JSONLines, file.Lines, file.CSV or file.Parquet build one)")
	case c.Format != nil && c.Encoding != nil:
		return errors.New("file: Config.Format and Config.Encoding are both set; set one")
	case c.RollSize < 0:
		return fmt.Errorf("file: Config.RollSize %d must not be negative", c.RollSize)
	case c.RollInterval < 0:
		return fmt.Errorf("file: Config.RollInterval %v must not be negative", c.RollInterval)
	}
	if c.Ext != "" && (c.Ext[0] != '.' || strings.ContainsAny(c.Ext, "/\\\x00") || len(c.Ext) == 1) {
		return fmt.Errorf("file: Config.Ext %q must be empty or a dot followed by a name without slashes", c.Ext)
	}
	if c.EventTimeBuckets != "" {
		// Formatting a time with two-digit fields everywhere shows whether
		// the layout can name a directory at all.
		sample := time.Date(2021, 11, 12, 13, 14, 15, 0, time.UTC).Format(c.EventTimeBuckets)
		if err := checkDir(sample); err != nil {
			return fmt.Errorf("file: Config.EventTimeBuckets %q gives directory %q: %w", c.EventTimeBuckets, sample, err)
		}
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config[T]) withDefaults() Config[T] {
	if c.RollSize == 0 {
		c.RollSize = DefaultRollSize
	}
	if c.RollInterval == 0 {
		c.RollInterval = DefaultRollInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Encoding == nil {
		c.Encoding = linesEncoding[T]{c.Format}
	}
	return c
}

// JSONLines returns a Format writing each record as one line of JSON
// (encoding/json, which escapes newlines inside strings).
func JSONLines[T any]() func(T) ([]byte, error) {
	return func(v T) ([]byte, error) { return json.Marshal(v) }
}

// Lines returns a Format writing the line line returns for each record. A
// line containing '\n' is an error, since it would read back as two records.
func Lines[T any](line func(T) string) func(T) ([]byte, error) {
	return func(v T) ([]byte, error) {
		s := line(v)
		if strings.IndexByte(s, '\n') >= 0 {
			return nil, fmt.Errorf("file: line %q contains a newline", s)
		}
		return []byte(s), nil
	}
}
