package weir

import "time"

// UnboundedQueues lifts the bound of every exchange queue, so that a test
// can show what the bound prevents.
func UnboundedQueues() Option { return optionFunc(func(c *config) { c.unboundedQueues = true }) }

// DiffLines lists the lines only one of two sorted slices has.
var DiffLines = diffLines

// Backoff is the wait before restart n in a row under s, without jitter.
func Backoff(s RestartStrategy, n int) time.Duration { return s.withDefaults().backoff(n) }
