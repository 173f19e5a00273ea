package pipeline

import (
	"fmt"
	"strings"
)

// Pos is a place in a pipeline file: 1-based line and column.
type Pos struct {
	Line, Col int
}

// Error is one mistake in a pipeline file, at a position, with the line it
// is on and a caret under the column.
type Error struct {
	File string
	Pos  Pos
	Msg  string
	// excerpt is the source line and the caret line, without the final
	// newline; empty when the position is unknown.
	excerpt string
}

// Error returns "file:line:col: msg" followed by the excerpt.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.excerpt != "" {
		b.WriteByte('\n')
		b.WriteString(e.excerpt)
	}
	return b.String()
}

// Errors are every mistake found in a pipeline file, in the order of their
// positions. Parse and Validate return all of them at once.
type Errors []*Error

// Error joins the errors, one blank line between two.
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	s := strings.Join(parts, "\n\n")
	if len(es) > 1 {
		s += fmt.Sprintf("\n\n%d errors", len(es))
	}
	return s
}

// excerpt returns the line at pos with a caret under its column: the
// source as written, so a ${env:…} reference shows as a reference and
// never as the secret it stands for.
func excerpt(lines []string, pos Pos) string {
	if pos.Line < 1 || pos.Line > len(lines) {
		return ""
	}
	line := strings.TrimRight(lines[pos.Line-1], "\r")
	const maxWidth = 160
	start := 0
	col := max(pos.Col, 1)
	if col > maxWidth {
		start = col - maxWidth/2
	}
	if start > len(line) {
		start = len(line)
	}
	shown := line[start:]
	if len(shown) > maxWidth {
		shown = shown[:maxWidth] + " …"
	}
	num := fmt.Sprintf("%5d | ", pos.Line)
	pad := strings.Repeat(" ", len(num)-2) + "| "
	// Tabs stay tabs under the caret so that it lines up in a terminal.
	var caret strings.Builder
	for i := start; i < col-1 && i < len(line); i++ {
		if line[i] == '\t' {
			caret.WriteByte('\t')
		} else {
			caret.WriteByte(' ')
		}
	}
	for i := len(line); i < col-1; i++ {
		caret.WriteByte(' ')
	}
	return num + shown + "\n" + pad + caret.String() + "^"
}
