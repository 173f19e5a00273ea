package checkpoint

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Store is a Storage as a job and the weir command use it: besides the
// contract, it checks what a listing or a restore needs, says where it is,
// and is closed when done. Dir and S3 are Stores; Open picks one by
// location.
type Store interface {
	Storage
	// Verify checks that every state file the metadata of ref lists is
	// there with its size, naming the first that is not (ErrMissingFile).
	Verify(ctx context.Context, ref Ref) error
	// Inspect returns every checkpoint and savepoint with its status, for
	// people looking at the storage.
	Inspect(ctx context.Context) ([]Entry, error)
	// CheckWritable checks that checkpoints can be written, so that a job
	// fails at its start rather than at its first checkpoint.
	CheckWritable(ctx context.Context) error
	// Location is where the storage is: a directory's absolute path, or
	// s3://bucket/prefix.
	Location() string
	// Close releases what the Store holds.
	Close() error
}

var (
	_ Store = (*Dir)(nil)
	_ Store = (*S3)(nil)
)

// Open opens the checkpoint storage at location: s3://bucket/prefix for
// S3 (configured from the environment, see S3ConfigFromEnv), anything
// else a directory, created when it does not exist. It sends no request to
// S3; CheckWritable does.
func Open(location string) (Store, error) {
	if !IsS3URL(location) {
		return OpenDir(location)
	}
	cfg, err := S3ConfigFromEnv(location)
	if err != nil {
		return nil, err
	}
	return OpenS3(cfg)
}

// OpenLocation is OpenPath for any location: the storage holding the
// checkpoint or savepoint a user named — a directory path, or an s3:// URL
// of a storage (its newest one) or of one chk-<id> or sp-<id> in it. The
// caller closes the returned Store.
func OpenLocation(ctx context.Context, location string) (Store, Info, error) {
	if !IsS3URL(location) {
		return OpenPath(ctx, location)
	}
	bucket, prefix, err := ParseS3URL(location)
	if err != nil {
		return nil, Info{}, fmt.Errorf("checkpoint: resolve %q: %w", location, err)
	}
	root := location
	if parent, base := path.Split(prefix); base != "" {
		if _, perr := parseRef(base, false); perr == nil {
			root = S3Scheme + bucket + "/" + strings.TrimSuffix(parent, "/")
		}
	}
	cfg, err := S3ConfigFromEnv(root)
	if err != nil {
		return nil, Info{}, err
	}
	s, err := OpenS3(cfg)
	if err != nil {
		return nil, Info{}, err
	}
	info, err := s.Resolve(ctx, location)
	if err != nil {
		return nil, Info{}, err
	}
	return s, info, nil
}

// Location returns the root directory's absolute path (as Path).
func (d *Dir) Location() string { return d.path }

// RefLocation returns the location of the checkpoint or savepoint ref in
// the storage at location (a directory or s3://bucket/prefix), as its
// Info.Location gives it.
func RefLocation(location string, ref Ref) string {
	if IsS3URL(location) {
		return strings.TrimSuffix(location, "/") + "/" + ref.String()
	}
	return filepath.Join(location, ref.String())
}
