package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Inspector is a Storage that can also list what it holds the way a person
// needs it (see Dir.Inspect): broken entries included, not an error.
type Inspector interface {
	Storage
	Inspect(ctx context.Context) ([]Entry, error)
}

// PruneOptions says what Prune deletes. The zero value deletes only what
// crashes left behind; completed checkpoints are pruned when Keep or
// OlderThan is set.
type PruneOptions struct {
	// Keep is how many of the newest completed checkpoints (and, with
	// Savepoints, of the newest completed savepoints, counted apart) are
	// kept whatever their age. With OlderThan alone it is taken as 1.
	Keep int
	// OlderThan, when positive, spares every completed checkpoint or
	// savepoint that completed less than OlderThan before Now.
	OlderThan time.Duration
	// Now is the time OlderThan counts back from; zero means time.Now.
	Now time.Time
	// Savepoints makes savepoints prunable too. Without it they are never
	// touched: they belong to whoever took them.
	Savepoints bool
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
}

// Pruned is one checkpoint or savepoint Prune deleted, or would delete.
type Pruned struct {
	Ref Ref
	// Size is its size in bytes, when it was complete (0 otherwise).
	Size int64
	// Why says why it went: "beyond the newest 3", "incomplete: ...".
	Why string
}

// Prune deletes from s what is no longer needed, and returns it, in the
// order deleted:
//
//   - when Keep or OlderThan is set, the completed checkpoints beyond the
//     newest Keep and older than OlderThan, and with Savepoints the
//     savepoints by the same rule (their own newest Keep are kept);
//   - the incomplete ones a crash or an abandoned attempt left: those whose
//     ID is below the highest ID of a completed one (Retain's rule, so one
//     that may still be being written is kept).
//
// Whatever the options, the newest completed checkpoint or savepoint — the
// one a job restoring "latest" takes — is kept, and a broken one (damaged
// metadata, a state file missing) is left for a person to look at and
// delete by name. While a metadata is damaged, Prune deletes nothing
// complete: it hides a completion time, so nothing can show which one is
// the newest.
//
// On a SharedStorage it then deletes the shared files no complete
// checkpoint or savepoint refers to (RetainShared), unless a metadata is
// damaged. Prune deletes what it
// can and reports every failure.
func Prune(ctx context.Context, s Inspector, o PruneOptions) ([]Pruned, error) {
	entries, err := s.Inspect(ctx)
	if err != nil {
		return nil, err
	}
	keep := max(o.Keep, 1)
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	var hidden bool
	var newestID int64
	for _, e := range entries {
		if e.Status == Broken && e.Info.CompletedAt.IsZero() {
			hidden = true
		}
		if e.Status == Complete {
			newestID = max(newestID, e.Ref.ID)
		}
	}
	var doomed []Pruned
	if (o.Keep > 0 || o.OlderThan > 0) && !hidden {
		kept := map[Kind]int{}
		for i, e := range entries {
			if e.Status != Complete {
				continue
			}
			// entries come newest first: the first is what "latest" takes.
			if i == 0 || e.Ref.Kind == KindSavepoint && !o.Savepoints {
				continue
			}
			if kept[e.Ref.Kind] < keep-boolInt(entries[0].Ref.Kind == e.Ref.Kind) {
				kept[e.Ref.Kind]++
				continue
			}
			age := now.Sub(e.Info.CompletedAt)
			if o.OlderThan > 0 && age < o.OlderThan {
				continue
			}
			why := fmt.Sprintf("beyond the newest %d %ss", keep, e.Ref.Kind)
			if o.OlderThan > 0 {
				why += fmt.Sprintf(", completed %s ago", age.Truncate(time.Second))
			}
			doomed = append(doomed, Pruned{Ref: e.Ref, Size: e.Info.Size, Why: why})
		}
	}
	for _, e := range entries {
		if e.Status == Incomplete && e.Ref.ID < newestID {
			doomed = append(doomed, Pruned{Ref: e.Ref, Why: fmt.Sprintf("incomplete, older than the newest complete one: %v", e.Problem)})
		}
	}
	if o.DryRun {
		return doomed, nil
	}
	var done []Pruned
	var errs []error
	for _, p := range doomed {
		err := s.Delete(ctx, p.Ref)
		switch {
		case err == nil:
			done = append(done, p)
		case errors.Is(err, ErrNotFound):
		default:
			errs = append(errs, err)
			if ctx.Err() != nil {
				return done, errors.Join(errs...)
			}
		}
	}
	// Then the shared files that only the deleted ones used, and those
	// that crashed attempts left; not while a damaged metadata hides what
	// its checkpoint refers to.
	if ss, ok := s.(SharedStorage); ok && !hidden {
		if err := RetainShared(ctx, ss); err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// boolInt is 1 for true: the newest entry, always kept, counts toward the
// Keep of its kind.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
