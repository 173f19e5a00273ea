package checkpoint

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Storage keeps checkpoints and savepoints. It is deliberately small so
// that an object-store implementation needs only these operations; the
// policies built on them (Latest, Retain) are package functions shared by
// every implementation.
//
// Implementations are safe for concurrent use, except that one state file
// is written by one goroutine and one checkpoint is completed once.
type Storage interface {
	// Create creates the state file name of the checkpoint ref, which must
	// not be complete yet, and returns a writer for it. The writer's Close
	// makes the file durable and reports any error on the way; a file whose
	// Close failed must not be listed in the metadata. A writer may also
	// be an Aborter, to give the file up without making it durable (see
	// Abort). A name is written once: creating it again is an error
	// wrapping ErrExists. Names are checked (see ErrInvalidName) so that
	// every file stays inside the checkpoint.
	Create(ctx context.Context, ref Ref, name string) (io.WriteCloser, error)

	// Open opens the state file name of the checkpoint ref for reading.
	Open(ctx context.Context, ref Ref, name string) (io.ReadCloser, error)

	// Complete checks that every state file m lists is present with the
	// listed size and then makes m the checkpoint's metadata atomically:
	// from the moment Complete returns nil the checkpoint exists, and
	// before it, it does not. When Complete fails the checkpoint must be
	// treated as failed and removed with Delete; Complete undoes what it
	// can, but after a failure late in the protocol it cannot promise that
	// the metadata is gone. Completing a checkpoint twice is an error
	// wrapping ErrExists.
	Complete(ctx context.Context, m *Metadata) error

	// ReadMetadata returns the metadata of a completed checkpoint. A
	// checkpoint that does not exist gives an error wrapping ErrNotFound;
	// one without metadata, an error wrapping ErrIncomplete; one whose
	// metadata is damaged, an error wrapping ErrCorrupt.
	ReadMetadata(ctx context.Context, ref Ref) (*Metadata, error)

	// List returns the completed checkpoints and savepoints, newest first
	// (see Info for the order). Incomplete ones are left out. Metadata that
	// cannot be used — damaged (ErrCorrupt), a format version this build
	// does not know, or contents that do not validate — makes List fail,
	// naming it, rather than hide a checkpoint that may be the newest: its
	// completion time cannot be read, so nothing can show it is older.
	List(ctx context.Context) ([]Info, error)

	// Incomplete returns the checkpoints and savepoints that have been
	// started (they have a directory or files) but have no metadata,
	// ordered by kind and then ID. It exists so that Retain can clean up
	// after crashes.
	Incomplete(ctx context.Context) ([]Ref, error)

	// Resolve finds the completed checkpoint or savepoint a user named by
	// location, in the implementation's own terms (a path for Dir). Naming
	// the storage itself means its newest one.
	Resolve(ctx context.Context, location string) (Info, error)

	// Delete removes a checkpoint or savepoint, complete or not. The
	// metadata goes first, so a crash halfway leaves an incomplete
	// checkpoint, never a complete one with missing files. Deleting one
	// that does not exist is an error wrapping ErrNotFound.
	Delete(ctx context.Context, ref Ref) error
}

// Aborter is implemented by a state file writer that can give its file up:
// Abort ends the writer without making the file durable — no flush of what
// is buffered, no sync — for a write that failed or was canceled, whose
// checkpoint is then deleted. Syncing a large partial file would only
// delay that failure and the Delete. What of the file reached the storage
// stays until the checkpoint is deleted and must not be listed in its
// metadata. Write and Close fail after Abort; Abort after Close, or a
// second Abort, does nothing and returns nil, so a writer can be aborted
// in a defer.
type Aborter interface {
	Abort() error
}

// Abort gives up the state file that w, a writer returned by Create, was
// writing: through its Abort method when it is an Aborter, otherwise by
// closing it, which may make the partial file durable first.
func Abort(w io.WriteCloser) error {
	if a, ok := w.(Aborter); ok {
		return a.Abort()
	}
	return w.Close()
}

var (
	// ErrNotFound reports a checkpoint or savepoint that does not exist, or
	// that there is none to pick.
	ErrNotFound = errors.New("not found")
	// ErrIncomplete reports a checkpoint that was started but has no
	// _metadata yet (perhaps a _metadata.tmp), and so must not be used.
	ErrIncomplete = errors.New("incomplete: no _metadata")
	// ErrCorrupt reports a _metadata that fails its checksum. Complete
	// makes _metadata appear only by renaming a file already written and
	// synced, so no crash of the writer leaves one torn: it was damaged
	// afterwards. Such a checkpoint is neither incomplete (it may be the
	// newest, whose output sinks have committed) nor usable.
	ErrCorrupt = errors.New("damaged after it was written")
	// ErrExists reports an attempt to write what is already written: a
	// state file created twice, a state file added to a completed
	// checkpoint, or a checkpoint completed twice.
	ErrExists = errors.New("already exists")
	// ErrInvalidName reports a state file name that could leave the
	// checkpoint's directory, hide from a listing or clash with the
	// storage's own files.
	ErrInvalidName = errors.New("invalid state file name")
)

// Kind tells checkpoints from savepoints: checkpoints are the job's own and
// are retired by Retain; savepoints belong to the user and are never
// deleted automatically.
type Kind uint8

const (
	// KindCheckpoint is a periodic checkpoint, taken for recovery.
	KindCheckpoint Kind = 1
	// KindSavepoint is a savepoint, taken on request to stop, upgrade or
	// move a job.
	KindSavepoint Kind = 2
)

// String returns "checkpoint" or "savepoint", the names used in the
// metadata.
func (k Kind) String() string {
	switch k {
	case KindCheckpoint:
		return "checkpoint"
	case KindSavepoint:
		return "savepoint"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText encodes the kind by name so the metadata reads as text.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("checkpoint: invalid kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "checkpoint":
		*k = KindCheckpoint
	case "savepoint":
		*k = KindSavepoint
	default:
		return fmt.Errorf("checkpoint: unknown kind %q (want checkpoint or savepoint)", b)
	}
	return nil
}

func (k Kind) valid() bool { return k == KindCheckpoint || k == KindSavepoint }

// prefix is the start of the directory name of a checkpoint of this kind.
func (k Kind) prefix() string {
	switch k {
	case KindCheckpoint:
		return "chk-"
	case KindSavepoint:
		return "sp-"
	}
	// Never a valid directory name, so an invalid Ref cannot name one.
	return k.String() + "-"
}

// idDigits is how many digits an ID has in a directory name: enough for
// the largest int64, so that names sort in numeric order.
const idDigits = 19

// Ref names one checkpoint or savepoint. A checkpoint and a savepoint may
// share an ID; the kind tells them apart.
type Ref struct {
	Kind Kind
	// ID is positive and, for checkpoints, increases with every checkpoint
	// the coordinator starts.
	ID int64
}

// String returns the name of the checkpoint's directory, such as
// "chk-0000000000000000042".
func (r Ref) String() string {
	return fmt.Sprintf("%s%0*d", r.Kind.prefix(), idDigits, r.ID)
}

// ParseRef parses a directory name written by Ref.String. It accepts only
// the canonical form, so that each checkpoint has exactly one name.
func ParseRef(name string) (Ref, error) { return parseRef(name, true) }

// parseRef parses a checkpoint's name; unless canonical, the ID may be
// written without its leading zeros ("chk-7").
func parseRef(name string, canonical bool) (Ref, error) {
	var r Ref
	var digits string
	switch {
	case strings.HasPrefix(name, "chk-"):
		r.Kind, digits = KindCheckpoint, name[len("chk-"):]
	case strings.HasPrefix(name, "sp-"):
		r.Kind, digits = KindSavepoint, name[len("sp-"):]
	default:
		return Ref{}, fmt.Errorf("checkpoint: %q is not a checkpoint or savepoint name (chk-<id> or sp-<id>)", name)
	}
	if canonical && (len(digits) != idDigits || strings.Trim(digits, "0123456789") != "") {
		return Ref{}, fmt.Errorf("checkpoint: %q: the ID must have exactly %d digits", name, idDigits)
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 || strings.Trim(digits, "0123456789") != "" {
		return Ref{}, fmt.Errorf("checkpoint: %q: the ID must be a positive int64", name)
	}
	r.ID = id
	return r, nil
}

func (r Ref) validate() error {
	switch {
	case !r.Kind.valid():
		return fmt.Errorf("checkpoint: ref %v: kind must be checkpoint or savepoint", r)
	case r.ID <= 0:
		return fmt.Errorf("checkpoint: ref %v: ID %d must be positive", r, r.ID)
	}
	return nil
}

// Info describes a completed checkpoint or savepoint.
//
// Lists are ordered newest first by CompletedAt; equal times are ordered
// by ID, higher first, and then savepoints before checkpoints, so the order
// is total and the same on every call.
type Info struct {
	// Ref names it.
	Ref Ref
	// CompletedAt is the completion time recorded in the metadata.
	CompletedAt time.Time
	// Size is the bytes of its state files and metadata together.
	Size int64
	// Location is where it is, in the storage's own terms (a directory
	// path for Dir); Resolve accepts it.
	Location string
}

// newerFirst orders Infos as documented on Info.
func newerFirst(a, b Info) int {
	if c := b.CompletedAt.Compare(a.CompletedAt); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Ref.ID, a.Ref.ID); c != 0 {
		return c
	}
	return cmp.Compare(b.Ref.Kind, a.Ref.Kind)
}

// Latest returns the newest completed checkpoint or savepoint, by
// completion time; it is the one a job restarts from unless told
// otherwise. With none it returns an error wrapping ErrNotFound.
func Latest(ctx context.Context, s Storage) (Info, error) {
	infos, err := s.List(ctx)
	if err != nil {
		return Info{}, err
	}
	if len(infos) == 0 {
		return Info{}, fmt.Errorf("checkpoint: no completed checkpoint or savepoint: %w", ErrNotFound)
	}
	return infos[0], nil
}

// Retain deletes every completed checkpoint except the newest n (in List
// order), and every incomplete checkpoint whose ID is below the highest ID
// of a completed one: such a checkpoint can no longer complete usefully,
// since a newer one subsumes it, so it is either abandoned or left by a
// crash. Incomplete checkpoints with higher IDs may still be in progress
// and are kept. Completed savepoints are never touched: they belong to the
// user. An incomplete savepoint whose ID is below the highest ID of a
// completed checkpoint or savepoint is deleted like an incomplete
// checkpoint: checkpoints and savepoints share one sequence of IDs, so it
// can no longer complete — it was abandoned (a job stopped at once while
// taking it) or left by a crash, and no one can restore from it. n must be
// at least 1, so a job always keeps a checkpoint to restart from.
//
// When s is a SharedStorage, Retain then deletes the shared files no
// remaining checkpoint or savepoint refers to (RetainShared), so a shared
// file goes only with the last checkpoint that needs it.
//
// Retain deletes what it can and reports every failure; a checkpoint that
// disappears while it runs is not a failure.
func Retain(ctx context.Context, s Storage, n int) error {
	return RetainFor(ctx, s, n, 0, time.Time{})
}

// RetainFor is Retain keeping, besides the newest n, every completed
// checkpoint completed within the last d before now: retention by time, so
// that a job can be rewound to a checkpoint of days ago. d ≤ 0 is Retain.
func RetainFor(ctx context.Context, s Storage, n int, d time.Duration, now time.Time) error {
	if n < 1 {
		return fmt.Errorf("checkpoint: Retain(%d): must keep at least one checkpoint", n)
	}
	infos, err := s.List(ctx)
	if err != nil {
		return err
	}
	incomplete, err := s.Incomplete(ctx)
	if err != nil {
		return err
	}
	var doomed []Ref
	var newest, newestAny int64
	kept := 0
	for _, in := range infos {
		newestAny = max(newestAny, in.Ref.ID)
		if in.Ref.Kind != KindCheckpoint {
			continue
		}
		newest = max(newest, in.Ref.ID)
		if kept < n {
			kept++
			continue
		}
		if d > 0 && now.Sub(in.CompletedAt) <= d {
			continue
		}
		doomed = append(doomed, in.Ref)
	}
	for _, r := range incomplete {
		if r.Kind == KindCheckpoint && r.ID < newest || r.Kind == KindSavepoint && r.ID < newestAny {
			doomed = append(doomed, r)
		}
	}
	var errs []error
	for _, r := range doomed {
		if err := s.Delete(ctx, r); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if ss, ok := s.(SharedStorage); ok && ctx.Err() == nil {
		errs = append(errs, RetainShared(ctx, ss))
	}
	return errors.Join(errs...)
}

// maxNameLen is the longest state file name: what common file systems and
// object stores accept for one path element.
const maxNameLen = 255

// reservedPrefix starts the names of the storage's own files (_metadata and
// its temporary), so no state file can be mistaken for one.
const reservedPrefix = "_"

// validateName checks a state file name. The rules are stricter than any
// one file system needs, so that a name valid here is valid in every
// Storage, and plain enough to state in FORMAT.md.
func validateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxNameLen))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return bad("contains a path separator")
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	case strings.HasPrefix(name, "."):
		return bad("starts with a dot")
	case strings.HasPrefix(name, reservedPrefix):
		return bad(fmt.Sprintf("starts with %q, which is reserved for the storage's own files", reservedPrefix))
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("contains a control character")
	}
	return nil
}

// StateFileName returns a state file name for one subtask of an operator.
// Any operator ID gives a valid name, and different (operator, subtask)
// pairs give different names, so a coordinator need not invent a scheme.
// Readable IDs stay readable; bytes other than ASCII letters, digits and
// '-' are escaped as %XX, and an ID too long to fit is shortened and made
// unique with a hash of the whole ID.
func StateFileName(operatorID string, subtask int) string {
	var b strings.Builder
	for i := 0; i < len(operatorID); i++ {
		c := operatorID[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	id := b.String()
	// 200 leaves room for the subtask suffix within maxNameLen.
	if len(id) > 200 {
		sum := sha256.Sum256([]byte(operatorID))
		id = id[:160] + "~" + hex.EncodeToString(sum[:16])
	}
	return fmt.Sprintf("%s-%05d", id, subtask)
}

// sortRefs orders refs by kind, then ID, for a stable Incomplete listing.
func sortRefs(refs []Ref) {
	slices.SortFunc(refs, compareRefs)
}

// compareRefs orders refs by kind, then ID.
func compareRefs(a, b Ref) int {
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}
