package platform

import (
	"testing"
	"time"
)

// A session ends at its lifetime, and the oldest gives way when too many
// are open.
func TestSessionsExpireAndAreBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions(time.Hour)
	ss.now = func() time.Time { return now }
	id, se := ss.create()
	if got, ok := ss.lookup(id); !ok || got.csrf != se.csrf {
		t.Fatal("a new session is not found")
	}
	now = now.Add(time.Hour - time.Second)
	if _, ok := ss.lookup(id); !ok {
		t.Fatal("a session ended before its lifetime")
	}
	now = now.Add(time.Second)
	if _, ok := ss.lookup(id); ok {
		t.Fatal("a session outlived its lifetime")
	}
	first, _ := ss.create()
	for range maxSessions {
		now = now.Add(time.Second)
		ss.create()
	}
	if _, ok := ss.lookup(first); ok {
		t.Fatalf("the oldest of %d sessions is still open; at most %d are kept", maxSessions+1, maxSessions)
	}
	if n := len(ss.mu.byHash); n != maxSessions {
		t.Fatalf("%d sessions kept; want %d", n, maxSessions)
	}
}
