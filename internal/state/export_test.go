package state

// SkipRangeChecksums makes version 2 reads skip the checksum of each range
// until the returned function is called, so that a fuzz test reaches the
// parsing of what it damaged.
func SkipRangeChecksums() (restore func()) {
	skipRangeChecksums = true
	return func() { skipRangeChecksums = false }
}
