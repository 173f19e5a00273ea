package weir

// OffsetNamer is implemented by sources whose record offsets have a better
// name than "offset": a source of lines returns "line", so that errors say
// "line 41" and dead letters carry "line": 41 instead of "offset": 41.
type OffsetNamer interface {
	OffsetName() string
}

// lineUnit is the offset name of line-based sources.
const lineUnit = "line"

// OffsetName implements OffsetNamer: a record's offset is its line number.
func (l *LinesSource) OffsetName() string { return lineUnit }

// offsetName returns the name the source gives its offsets, or "" for
// plain offsets.
func (s sourceSpec[T]) offsetName() string {
	if n, ok := s.src.(OffsetNamer); ok {
		return n.OffsetName()
	}
	return ""
}
