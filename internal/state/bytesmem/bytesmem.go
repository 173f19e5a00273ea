// Package bytesmem is a state.Store kept on the heap as sorted bytes: the
// smallest real implementation of the byte-level seam a disk backend
// plugs into. Every table of a job on it goes through the typed adapters
// and the codecs, as it would on disk, so it shows that state round-trips
// through its encoding and that the engine needs nothing of the memory
// backend's typed tables. It is slower than state.Memory and not meant to
// hold large state.
//
// The entries are a persistent treap: a write copies the path from the
// root to the entry it changes and shares the rest, so a snapshot is the
// root at the time it is taken, never changes, and may be read on another
// goroutine while the store goes on being written.
package bytesmem

import (
	"bytes"
	"errors"
	"hash/maphash"

	"github.com/weirstream/weir/internal/state"
)

// Store is an in-memory state.Store. Its zero value is not usable; call
// New.
type Store struct {
	root   *node
	seed   maphash.Seed
	closed bool
}

// node is a treap node; nodes are never changed once another node or a
// view refers to them.
type node struct {
	key, value  []byte
	prio        uint64
	left, right *node
}

// New returns an empty store.
func New() *Store { return &Store{seed: maphash.MakeSeed()} }

// NewBackend returns a state.StoreBackend over a new Store, the shape a
// backend factory takes.
func NewBackend(cfg state.Config) (state.Backend, error) {
	return state.NewStoreBackend(cfg, New())
}

var errClosed = errors.New("bytesmem: store closed")

// Get implements state.Store.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if s.closed {
		return nil, false, errClosed
	}
	for n := s.root; n != nil; {
		switch c := bytes.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.value, true, nil
		}
	}
	return nil, false, nil
}

// Set implements state.Store.
func (s *Store) Set(key, value []byte) error {
	if s.closed {
		return errClosed
	}
	k := bytes.Clone(key)
	n := &node{key: k, value: bytes.Clone(value), prio: maphash.Bytes(s.seed, k)}
	l, _, r := split(s.root, k)
	s.root = merge(merge(l, n), r)
	return nil
}

// Delete implements state.Store.
func (s *Store) Delete(key []byte) error {
	if s.closed {
		return errClosed
	}
	if _, ok, _ := s.Get(key); !ok {
		return nil // nothing to copy
	}
	l, _, r := split(s.root, key)
	s.root = merge(l, r)
	return nil
}

// Scan implements state.Store.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	if s.closed {
		return errClosed
	}
	scan(s.root, prefix, fn)
	return nil
}

// First implements state.Store.
func (s *Store) First(lower, upper []byte) ([]byte, []byte, bool, error) {
	if s.closed {
		return nil, nil, false, errClosed
	}
	var first *node
	for n := s.root; n != nil; {
		if bytes.Compare(n.key, lower) >= 0 {
			first, n = n, n.left
		} else {
			n = n.right
		}
	}
	if first == nil || upper != nil && bytes.Compare(first.key, upper) >= 0 {
		return nil, nil, false, nil
	}
	return first.key, first.value, true, nil
}

// Snapshot implements state.Store: the current root, which no write
// changes.
func (s *Store) Snapshot() (state.StoreView, error) {
	if s.closed {
		return nil, errClosed
	}
	return &view{root: s.root}, nil
}

// Close implements state.Store.
func (s *Store) Close() error {
	s.closed, s.root = true, nil
	return nil
}

// Len returns the number of entries, for tests.
func (s *Store) Len() int { return count(s.root) }

type view struct{ root *node }

func (v *view) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	if v.root == nil {
		return nil
	}
	scan(v.root, prefix, fn)
	return nil
}

func (v *view) Release() {}

// split returns the nodes with keys below key, the node with key (or nil)
// and the nodes above, copying the nodes on the path.
func split(n *node, key []byte) (l, eq, r *node) {
	if n == nil {
		return nil, nil, nil
	}
	switch c := bytes.Compare(key, n.key); {
	case c < 0:
		ll, e, lr := split(n.left, key)
		m := *n
		m.left = lr
		return ll, e, &m
	case c > 0:
		rl, e, rr := split(n.right, key)
		m := *n
		m.right = rl
		return &m, e, rr
	default:
		return n.left, n, n.right
	}
}

// merge joins two treaps whose keys are all below (l) and above (r) each
// other, copying the nodes it changes.
func merge(l, r *node) *node {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		m := *l
		m.right = merge(l.right, r)
		return &m
	default:
		m := *r
		m.left = merge(l, r.left)
		return &m
	}
}

// scan visits the keys starting with prefix in order; it reports false
// once fn has asked to stop.
func scan(n *node, prefix []byte, fn func(key, value []byte) bool) bool {
	for n != nil {
		if bytes.Compare(n.key, prefix) < 0 {
			// Everything that starts with prefix is to the right.
			n = n.right
			continue
		}
		if !scan(n.left, prefix, fn) {
			return false
		}
		if !bytes.HasPrefix(n.key, prefix) {
			// n and everything right of it sort after the prefix's keys.
			return false
		}
		if !fn(n.key, n.value) {
			return false
		}
		n = n.right
	}
	return true
}

func count(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + count(n.left) + count(n.right)
}
