package weir

// UnboundedQueues lifts the bound of every exchange queue, so that a test
// can show what the bound prevents.
func UnboundedQueues() Option { return optionFunc(func(c *config) { c.unboundedQueues = true }) }

// DiffLines lists the lines only one of two sorted slices has.
var DiffLines = diffLines
