package format

import (
	"encoding/csv"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzSplitCSV checks splitCSV against encoding/csv on rows both can
// judge: one line (or one row whose quoted fields hold line feeds), no
// carriage return (encoding/csv drops it inside quoted fields), no empty
// line first or last (encoding/csv skips them; to splitCSV they are a
// field's line break).
func FuzzSplitCSV(f *testing.F) {
	for _, s := range []string{"a,b,c", `"a,b",c`, `"a""b",`, `a"b`, `"a"b`, `"a`, ",,", "\"a\nb\",c", "a,b\n", " a , b "} {
		f.Add(s, ",")
	}
	f.Add("a;b", ";")
	f.Add("a→\"b→c\"", "→")
	f.Fuzz(func(t *testing.T, row, comma string) {
		c := []rune(comma)
		if len(c) != 1 || c[0] == 0 || c[0] == '"' || c[0] == '\r' || c[0] == '\n' || c[0] == 0xFFFD || string(c) != comma {
			return
		}
		if row == "" || strings.ContainsRune(row, '\r') || strings.HasPrefix(row, "\n") || strings.HasSuffix(row, "\n\n") {
			return
		}
		got, err := splitCSV(nil, row, comma)
		r := csv.NewReader(strings.NewReader(row))
		r.Comma = c[0]
		r.FieldsPerRecord = -1
		want, werr := r.Read()
		if werr == nil {
			// encoding/csv stops at the first line break outside quotes;
			// splitCSV refuses a second row.
			if _, next := r.Read(); next != io.EOF {
				if err == nil {
					t.Fatalf("splitCSV(%q) = %q, want an error: the message holds two rows", row, got)
				}
				return
			}
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("splitCSV(%q, %q) = %q, %v; encoding/csv: %q, %v", row, comma, got, err, want, werr)
		}
		if err == nil && !slices.Equal(got, want) {
			t.Fatalf("splitCSV(%q, %q) = %q; encoding/csv: %q", row, comma, got, want)
		}
	})
}
