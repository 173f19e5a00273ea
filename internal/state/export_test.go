package state

// SkipRangeChecksums makes version 2 reads skip the checksum of each range
// until the returned function is called, so that a fuzz test reaches the
// parsing of what it damaged.
func SkipRangeChecksums() (restore func()) {
	skipRangeChecksums = true
	return func() { skipRangeChecksums = false }
}

// CachedEntries returns how many entries the cache of a value table over a
// Store holds and how many it may hold, or ok false if it has no cache.
func CachedEntries[K, N comparable, V any](t Value[K, N, V]) (n, capacity int, ok bool) {
	c, ok := t.(*cachedValue[K, N, V])
	if !ok {
		return 0, 0, false
	}
	return len(c.m), c.capacity(), true
}
