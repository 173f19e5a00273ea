package file

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrPartition is wrapped by the error of a write whose partition or bucket
// directory is not a safe relative path.
var ErrPartition = errors.New("invalid partition")

const (
	partPrefix       = "part-"
	inProgressSuffix = ".inprogress"
	pendingSuffix    = ".pending"
	attemptLen       = 16 // hex digits
)

// newAttempt returns a random attempt ID: 16 lowercase hex digits.
func newAttempt() string {
	var b [attemptLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// partName is the visible name of part file seq of a subtask in an attempt.
func partName(subtask int, attempt string, seq int64, ext string) string {
	return partPrefix + strconv.Itoa(subtask) + "-" + attempt + "-" + strconv.FormatInt(seq, 10) + ext
}

func inProgressName(name string) string { return "." + name + inProgressSuffix }
func pendingName(name string) string    { return "." + name + pendingSuffix }

// join joins a slash-separated directory relative to the base and a file
// name into a name for os.Root.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return filepath.FromSlash(dir + "/" + name)
}

// hiddenAttempt returns the attempt of a hidden part file name
// (".part-<subtask>-<attempt>-<seq>[ext].inprogress" or "….pending"), and
// false for every other name, so that cleanup never touches a file the
// sink did not make.
func hiddenAttempt(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "."+partPrefix)
	if !ok {
		return "", false
	}
	if r, ok := strings.CutSuffix(rest, inProgressSuffix); ok {
		rest = r
	} else if r, ok := strings.CutSuffix(rest, pendingSuffix); ok {
		rest = r
	} else {
		return "", false
	}
	subtask, rest, ok := strings.Cut(rest, "-")
	if !ok || !allDigits(subtask) {
		return "", false
	}
	attempt, rest, ok := strings.Cut(rest, "-")
	if !ok || len(attempt) != attemptLen || !isHex(attempt) {
		return "", false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", false
	}
	return attempt, true
}

// checkPartName reports whether name is a visible part file name as
// partName makes them (a committable read back must name nothing else).
func checkPartName(name string) error {
	if !strings.HasPrefix(name, partPrefix) || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("%q is not a part file name", name)
	}
	return nil
}

// checkDir reports why dir, a slash-separated directory relative to the
// base directory, is unsafe, or nil. The empty string is the base itself.
// Hidden segments are refused because hidden names belong to the sink's
// in-progress and pending files and readers skip them.
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	if strings.ContainsAny(dir, "\\\x00") {
		return fmt.Errorf("%w: %q contains a backslash or NUL", ErrPartition, dir)
	}
	if dir[0] == '/' {
		return fmt.Errorf("%w: %q is absolute", ErrPartition, dir)
	}
	for seg := range strings.SplitSeq(dir, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment", ErrPartition, dir)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrPartition, dir, seg)
		case seg[0] == '.':
			return fmt.Errorf("%w: %q has a hidden segment %q", ErrPartition, dir, seg)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(dir)) || path.Clean(dir) != dir {
		return fmt.Errorf("%w: %q is not a local path", ErrPartition, dir)
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
