package format

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// splitCSV splits one CSV row (RFC 4180) into its fields, appending them
// to dst. A trailing "\n" or "\r\n" ends the row; a quoted field may hold
// the separator, quotes (doubled) and line breaks, kept as they are. A
// quote inside an unquoted field, text after a closing quote and a quote
// left open are errors that name the byte offset and the field.
func splitCSV(dst []string, row string, comma string) ([]string, error) {
	if r, ok := strings.CutSuffix(row, "\n"); ok {
		row = strings.TrimSuffix(r, "\r")
	}
	pos := 0
	for field := 1; ; field++ {
		if pos < len(row) && row[pos] == '"' {
			// A quoted field: find its closing quote, unquoting doubled ones.
			start := pos
			pos++
			var b strings.Builder
			seg := pos
			for {
				i := strings.IndexByte(row[pos:], '"')
				if i < 0 {
					return dst, fmt.Errorf("csv: field %d: quote opened at byte %d is not closed", field, start)
				}
				pos += i
				if pos+1 < len(row) && row[pos+1] == '"' {
					b.WriteString(row[seg : pos+1])
					pos += 2
					seg = pos
					continue
				}
				break
			}
			var v string
			if b.Len() == 0 {
				v = row[seg:pos]
			} else {
				b.WriteString(row[seg:pos])
				v = b.String()
			}
			dst = append(dst, v)
			pos++ // the closing quote
			if pos == len(row) {
				return dst, nil
			}
			if !strings.HasPrefix(row[pos:], comma) {
				r, _ := utf8.DecodeRuneInString(row[pos:])
				return dst, fmt.Errorf("csv: field %d: %q after the closing quote at byte %d, want %q or the end of the row", field, r, pos, comma)
			}
			pos += len(comma)
			continue
		}
		end := strings.Index(row[pos:], comma)
		var v string
		if end < 0 {
			v = row[pos:]
		} else {
			v = row[pos : pos+end]
		}
		if q := strings.IndexByte(v, '"'); q >= 0 {
			return dst, fmt.Errorf("csv: field %d: quote at byte %d in an unquoted field", field, pos+q)
		}
		if j := strings.IndexAny(v, "\r\n"); j >= 0 {
			return dst, fmt.Errorf("csv: field %d: line break at byte %d in an unquoted field (one message holds one row)", field, pos+j)
		}
		dst = append(dst, v)
		if end < 0 {
			return dst, nil
		}
		pos += end + len(comma)
	}
}

// appendCSVField appends v to dst, quoted when a reader could otherwise
// misread it: when it holds the separator, a quote or a line break, or
// starts with a space or a tab (which some readers trim). only says v is
// the row's only field: an empty one is then quoted, so that the row is not
// an empty line that readers skip.
func appendCSVField(dst []byte, v string, comma string, only bool) []byte {
	if !csvNeedsQuotes(v, comma) && !(only && v == "") {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(v, '"')
		if i < 0 {
			break
		}
		dst = append(dst, v[:i+1]...)
		dst = append(dst, '"')
		v = v[i+1:]
	}
	dst = append(dst, v...)
	return append(dst, '"')
}

func csvNeedsQuotes(v, comma string) bool {
	if v == "" {
		return false
	}
	if v[0] == ' ' || v[0] == '\t' {
		return true
	}
	return strings.Contains(v, comma) || strings.ContainsAny(v, "\"\r\n")
}
