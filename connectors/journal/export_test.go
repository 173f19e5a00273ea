package journal

// OpenReaders returns how many readers are open on j.
func OpenReaders(j *Journal) int {
	n := 0
	for _, p := range j.parts {
		p.mu.Lock()
		n += len(p.mu.readers)
		p.mu.Unlock()
	}
	return n
}
