package checkpoint

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"

	"github.com/weirstream/weir/internal/keygroup"
)

// FormatVersion is the version of the metadata format this package writes
// for checkpoints whose state files are all in the snapshot format.
// FORMAT.md describes it.
const FormatVersion = 1

// FormatVersionShared is the version of metadata that lists files in a
// backend's own format (StateFile.Native), some of them shared between
// checkpoints; the version 1 fields are unchanged. This package reads
// both, and writes a checkpoint's metadata as version 1 unless it needs
// version 2, so that checkpoints without shared files stay readable by
// builds that know only version 1.
const FormatVersionShared = 2

// The metadata file is the JSON document, a newline, then the trailer line
// "crc32c " + 8 lowercase hex digits + "\n", the CRC-32C (Castagnoli) of
// every byte before the trailer. JSON keeps the file readable with standard
// tools (`sed '$d' _metadata | jq .`); the trailer is what tells a torn
// write from a finished one, which JSON alone cannot do reliably.
const (
	trailerPrefix = "crc32c "
	trailerLen    = len(trailerPrefix) + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrChecksum reports metadata whose checksum trailer is missing,
	// malformed or does not match: the file was damaged after it was
	// written. Dir reports it wrapped in ErrCorrupt.
	ErrChecksum = errors.New("checksum missing or wrong")
	// ErrVersion reports intact metadata in a format version this build
	// cannot read — typically one written by a newer Weir.
	ErrVersion = errors.New("unsupported format version")
)

// Metadata is a checkpoint's table of contents: what it is, and which
// state file holds the state of each operator subtask. Writing it
// (Storage.Complete) is what completes a checkpoint.
type Metadata struct {
	// FormatVersion must be FormatVersion. It is a field rather than
	// implied so that a reader meets it first and can refuse a newer file
	// instead of misreading it.
	FormatVersion int `json:"formatVersion"`
	// Kind says whether this is a checkpoint or a savepoint.
	Kind Kind `json:"kind"`
	// ID is positive; together with Kind it names the checkpoint.
	ID int64 `json:"id"`
	// CompletedAt is when the coordinator completed the checkpoint; it
	// orders checkpoints and savepoints for Latest. It is written in UTC.
	CompletedAt time.Time `json:"completedAt"`
	// MaxParallelism is the job's number of key groups. Keyed state can only
	// be restored into a job with the same max parallelism.
	MaxParallelism int `json:"maxParallelism"`
	// Operators lists the operators that have state, each once.
	Operators []Operator `json:"operators"`
	// Job is free-form data the job keeps with the checkpoint, under keys
	// of its choosing: things that belong to the checkpoint as a whole
	// rather than to one subtask, such as a fingerprint of the job graph to
	// check on restore, or the transactions two-phase-commit sinks must
	// commit when this checkpoint is restored. The storage does not look
	// inside. Keep it small; it is read on every List.
	Job map[string][]byte `json:"job,omitempty"`
}

// Operator is the state of one operator in a checkpoint.
type Operator struct {
	// ID is the operator's stable ID, the key by which a restored job finds
	// its state again.
	ID string `json:"id"`
	// Name is the operator's name at the time, for people reading errors
	// and listings; restore does not use it.
	Name string `json:"name"`
	// Parallelism is how many subtasks wrote state.
	Parallelism int `json:"parallelism"`
	// Subtasks holds one state file per subtask, in subtask order, so
	// len(Subtasks) == Parallelism.
	Subtasks []StateFile `json:"subtasks"`
}

// StateFile is one state file of a checkpoint.
type StateFile struct {
	// Name is the file's name inside the checkpoint (see ErrInvalidName).
	Name string `json:"name"`
	// Size is its length in bytes; Complete checks it, so a truncated file
	// is caught before the checkpoint can be used.
	Size int64 `json:"size"`
	// Native, when set, holds the subtask's keyed state in its backend's
	// own format (an incremental checkpoint of the pebble backend): the
	// files of a database, some shared with other checkpoints. The file
	// Name then holds, in the snapshot format, only what the native files
	// leave out (operator lists). Only metadata of FormatVersionShared
	// has it.
	Native *NativeState `json:"native,omitempty"`
}

// NativeState is a subtask's keyed state as the files of its backend's
// own format.
type NativeState struct {
	// Format names the backend format ("pebble"); a restore refuses a
	// format its backend does not read.
	Format string `json:"format"`
	// KeyGroupStart and KeyGroupEnd are the half-open range of key groups
	// the subtask owned, which a restore at another parallelism needs to
	// know which old subtasks hold its key groups.
	KeyGroupStart int `json:"keyGroupStart"`
	KeyGroupEnd   int `json:"keyGroupEnd"`
	// Files are the files of the backend's directory, each once.
	Files []NativeFile `json:"files"`
}

// NativeFile is one file of a NativeState: private to the checkpoint (in
// its directory, named Private) or shared (in the storage's shared area,
// named Shared); exactly one of the two is set.
type NativeFile struct {
	// Name is the file's name in the backend's directory.
	Name string `json:"name"`
	// Size is its length in bytes and CRC its CRC-32C (Castagnoli),
	// which a restore checks as it reads the file.
	Size int64  `json:"size"`
	CRC  uint32 `json:"crc32c"`
	// Private is the name of the file in the checkpoint's directory.
	Private string `json:"private,omitempty"`
	// Shared is the name of the file in the shared area (see
	// SharedStorage), which other checkpoints may refer to as well.
	Shared string `json:"shared,omitempty"`
}

// SharedNames returns the names of the shared files m refers to, each
// once.
func (m *Metadata) SharedNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			if f.Native == nil {
				continue
			}
			for _, nf := range f.Native.Files {
				if nf.Shared != "" && !seen[nf.Shared] {
					seen[nf.Shared] = true
					names = append(names, nf.Shared)
				}
			}
		}
	}
	return names
}

// hasNative reports whether any subtask of m has native files.
func (m *Metadata) hasNative() bool {
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			if f.Native != nil {
				return true
			}
		}
	}
	return false
}

// Ref returns the reference that names the checkpoint m describes.
func (m *Metadata) Ref() Ref { return Ref{Kind: m.Kind, ID: m.ID} }

// StateSize returns the total size of the state files m lists, shared
// files included.
func (m *Metadata) StateSize() int64 {
	var n int64
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			n += f.Size
			if f.Native != nil {
				for _, nf := range f.Native.Files {
					n += nf.Size
				}
			}
		}
	}
	return n
}

// SharedSize returns the total size of the shared files m refers to,
// each counted once.
func (m *Metadata) SharedSize() int64 {
	var n int64
	seen := map[string]bool{}
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			if f.Native == nil {
				continue
			}
			for _, nf := range f.Native.Files {
				if nf.Shared != "" && !seen[nf.Shared] {
					seen[nf.Shared] = true
					n += nf.Size
				}
			}
		}
	}
	return n
}

// Operator returns the operator with the given ID, which is how a
// restoring task finds its state.
func (m *Metadata) Operator(id string) (*Operator, bool) {
	for i := range m.Operators {
		if m.Operators[i].ID == id {
			return &m.Operators[i], true
		}
	}
	return nil, false
}

// FieldError is one problem Validate found, naming the field and, for a
// problem inside an operator, the operator.
type FieldError struct {
	// OperatorID and OperatorName identify the operator; both are empty
	// for a problem with a checkpoint-wide field.
	OperatorID, OperatorName string
	// Field is the field's Go path, relative to the operator when there is
	// one: "MaxParallelism", "Subtasks[3].Name".
	Field string
	// Err says what is wrong.
	Err error
}

// Error names the operator (ID and name) first, since that is what a
// person looks for in a job of many operators.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("checkpoint metadata: ")
	if e.OperatorID != "" || e.OperatorName != "" {
		fmt.Fprintf(&b, "operator %q", e.OperatorID)
		if e.OperatorName != "" {
			fmt.Fprintf(&b, " (%s)", e.OperatorName)
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s: %v", e.Field, e.Err)
	return b.String()
}

// Unwrap returns the underlying problem, such as ErrInvalidName.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every problem with m, each as a *FieldError, joined
// with errors.Join so that a coordinator bug shows all its symptoms at once.
func (m *Metadata) Validate() error {
	var errs []error
	top := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	switch {
	case m.FormatVersion != FormatVersion && m.FormatVersion != FormatVersionShared:
		top("FormatVersion", "%d; this build writes and reads %d and %d: %w", m.FormatVersion, FormatVersion, FormatVersionShared, ErrVersion)
	case m.FormatVersion == FormatVersion && m.hasNative():
		top("FormatVersion", "%d, but a subtask has native files, which need version %d", m.FormatVersion, FormatVersionShared)
	}
	if !m.Kind.valid() {
		top("Kind", "%v; must be checkpoint or savepoint", m.Kind)
	}
	if m.ID <= 0 {
		top("ID", "%d; must be positive", m.ID)
	}
	if m.CompletedAt.IsZero() {
		top("CompletedAt", "not set")
	}
	maxParOK := m.MaxParallelism >= 1 && m.MaxParallelism <= keygroup.UpperBound
	if !maxParOK {
		top("MaxParallelism", "%d; must be in [1,%d]", m.MaxParallelism, keygroup.UpperBound)
	}
	for k := range m.Job {
		if k == "" {
			top("Job", "empty key")
		}
	}
	opIDs := make(map[string]int, len(m.Operators))
	// files maps each state file name to where it is first listed, because
	// two subtasks sharing a file would restore each other's state.
	files := make(map[string]string)
	for i, op := range m.Operators {
		bad := func(field, format string, args ...any) {
			fe := &FieldError{OperatorID: op.ID, OperatorName: op.Name, Field: field, Err: fmt.Errorf(format, args...)}
			if op.ID == "" {
				// Without an ID the index is the only way to find it.
				fe.Field = fmt.Sprintf("Operators[%d].%s", i, field)
			}
			errs = append(errs, fe)
		}
		switch prev, dup := opIDs[op.ID]; {
		case op.ID == "":
			bad("ID", "empty")
		case dup:
			bad("ID", "also used by Operators[%d]; operator IDs must be unique", prev)
		default:
			opIDs[op.ID] = i
		}
		switch {
		case op.Parallelism < 1:
			bad("Parallelism", "%d; must be positive", op.Parallelism)
		case maxParOK && op.Parallelism > m.MaxParallelism:
			bad("Parallelism", "%d is above MaxParallelism %d", op.Parallelism, m.MaxParallelism)
		}
		if len(op.Subtasks) != op.Parallelism {
			bad("Subtasks", "has %d files for parallelism %d; want one per subtask", len(op.Subtasks), op.Parallelism)
		}
		for j, f := range op.Subtasks {
			if err := validateName(f.Name); err != nil {
				bad(fmt.Sprintf("Subtasks[%d].Name", j), "%w", err)
			} else if prev, dup := files[f.Name]; dup {
				bad(fmt.Sprintf("Subtasks[%d].Name", j), "%q is also listed by %s", f.Name, prev)
			} else {
				files[f.Name] = fmt.Sprintf("operator %q subtask %d", op.ID, j)
			}
			if f.Size < 0 {
				bad(fmt.Sprintf("Subtasks[%d].Size", j), "%d; must not be negative", f.Size)
			}
			if f.Native != nil {
				validateNative(f.Native, fmt.Sprintf("Subtasks[%d].Native", j), maxParOK, m.MaxParallelism, files, op.ID, j, bad)
			}
		}
	}
	return errors.Join(errs...)
}

// validateNative checks a subtask's native files; private names share the
// checkpoint's namespace with the state files (files), shared names only
// need to be valid.
func validateNative(n *NativeState, field string, maxParOK bool, maxPar int, files map[string]string, opID string, subtask int, bad func(field, format string, args ...any)) {
	if n.Format == "" {
		bad(field+".Format", "empty")
	}
	if n.KeyGroupStart < 0 || n.KeyGroupStart > n.KeyGroupEnd || maxParOK && n.KeyGroupEnd > maxPar {
		bad(field+".KeyGroupStart", "[%d,%d) is not a key-group range within [0,%d)", n.KeyGroupStart, n.KeyGroupEnd, maxPar)
	}
	names := map[string]bool{}
	for k, nf := range n.Files {
		ff := fmt.Sprintf("%s.Files[%d]", field, k)
		if nf.Name == "" || strings.ContainsAny(nf.Name, `/\`) || nf.Name == "." || nf.Name == ".." {
			bad(ff+".Name", "%q is not a file name", nf.Name)
		} else if names[nf.Name] {
			bad(ff+".Name", "%q is listed twice", nf.Name)
		}
		names[nf.Name] = true
		if nf.Size < 0 {
			bad(ff+".Size", "%d; must not be negative", nf.Size)
		}
		switch {
		case (nf.Private == "") == (nf.Shared == ""):
			bad(ff, "exactly one of Private and Shared must be set")
		case nf.Private != "":
			if err := validateName(nf.Private); err != nil {
				bad(ff+".Private", "%w", err)
			} else if prev, dup := files[nf.Private]; dup {
				bad(ff+".Private", "%q is also listed by %s", nf.Private, prev)
			} else {
				files[nf.Private] = fmt.Sprintf("operator %q subtask %d", opID, subtask)
			}
		default:
			if err := validateName(nf.Shared); err != nil {
				bad(ff+".Shared", "%w", err)
			}
		}
	}
}

// Encode returns m in the metadata file format, after validating it. Equal
// metadata gives equal bytes.
func (m *Metadata) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	c := *m
	c.CompletedAt = m.CompletedAt.UTC()
	if c.Operators == nil {
		// "operators": [] rather than null, for readers in other languages.
		c.Operators = []Operator{}
	}
	body, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("checkpoint metadata: encode: %w", err)
	}
	body = append(body, '\n')
	return fmt.Appendf(body, "%s%08x\n", trailerPrefix, crc32.Checksum(body, castagnoli)), nil
}

// DecodeMetadata decodes and validates a metadata file. It checks the
// checksum before anything else, so a torn file gives an error wrapping
// ErrChecksum, never metadata. Intact metadata of another format version
// gives an error wrapping ErrVersion.
func DecodeMetadata(b []byte) (*Metadata, error) {
	body, err := verifyTrailer(b)
	if err != nil {
		return nil, err
	}
	// Read the version alone first, so a newer file is refused for its
	// version rather than for a field this build does not know.
	var v struct {
		FormatVersion *int `json:"formatVersion"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("checkpoint metadata: %w", err)
	}
	switch {
	case v.FormatVersion == nil:
		return nil, fmt.Errorf("checkpoint metadata: no formatVersion")
	case *v.FormatVersion != FormatVersion && *v.FormatVersion != FormatVersionShared:
		return nil, fmt.Errorf("checkpoint metadata: format version %d, this build reads %d and %d: %w", *v.FormatVersion, FormatVersion, FormatVersionShared, ErrVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	m := new(Metadata)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("checkpoint metadata: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("checkpoint metadata: data after the JSON document")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// verifyTrailer checks the checksum trailer and returns the bytes it
// covers.
func verifyTrailer(b []byte) ([]byte, error) {
	if len(b) < trailerLen+1 {
		return nil, fmt.Errorf("checkpoint metadata: %w: %d bytes is too short to hold a trailer", ErrChecksum, len(b))
	}
	body, trailer := b[:len(b)-trailerLen], b[len(b)-trailerLen:]
	if body[len(body)-1] != '\n' || !bytes.HasPrefix(trailer, []byte(trailerPrefix)) || trailer[trailerLen-1] != '\n' {
		return nil, fmt.Errorf("checkpoint metadata: %w: no trailer line", ErrChecksum)
	}
	digits := trailer[len(trailerPrefix) : trailerLen-1]
	// Only the lowercase form Encode writes is accepted, so that no change
	// to a trailer byte leaves the file valid.
	var sum [4]byte
	if _, err := hex.Decode(sum[:], digits); err != nil || !bytes.Equal(digits, bytes.ToLower(digits)) {
		return nil, fmt.Errorf("checkpoint metadata: %w: malformed trailer %q", ErrChecksum, trailer)
	}
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, fmt.Errorf("checkpoint metadata: %w: trailer says %08x, contents give %08x", ErrChecksum, want, got)
	}
	return body, nil
}
