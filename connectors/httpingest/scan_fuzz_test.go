package httpingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"
)

// The scanner agrees with encoding/json on valid JSON: the elements of an
// array, and the value of an object's field (the first, when a key
// repeats, where encoding/json takes the last, so such inputs are left
// out).
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`[{"view":"a"},{"view":"b\"c"},1,"x",[2,{"view":3}],null]`,
		`{"view":"v\u0031","n":{"view":"inner"}}`,
		`{"a":[1,{"b":"}"}],"view":-1.5e3}`,
		` [ "a,b" , "]" ] `,
		`{"vi\u0065w":true}`,
		`{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		// encoding/json replaces bytes that are not UTF-8; the scanner
		// keeps them.
		if !json.Valid(b) || !utf8.Valid(b) {
			return
		}
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil {
			var got []string
			arrayElements(b, func(start, end int) bool {
				got = append(got, string(b[start:end]))
				return true
			})
			if len(got) != len(arr) {
				t.Fatalf("%s: %d elements, encoding/json finds %d", s, len(got), len(arr))
			}
			for i := range arr {
				if got[i] != string(arr[i]) {
					t.Fatalf("%s: element %d is %s, encoding/json says %s", s, i, got[i], arr[i])
				}
			}
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil || obj == nil {
			return
		}
		var keys []string
		var dec map[string]any
		json.Unmarshal(b, &dec)
		for k := range obj {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if countKey(b, k) > 1 {
				return
			}
		}
		for k, raw := range obj {
			key, err := fieldKey(b, k, nil)
			var want string
			var isStr bool
			switch v := dec[k].(type) {
			case string:
				want, isStr = v, true
			case float64, bool:
				want = string(raw)
			default:
				if err == nil {
					t.Fatalf("%s: field %q (%s) gave key %q, want an error", s, k, raw, key)
				}
				continue
			}
			if err != nil || string(key) != want {
				t.Fatalf("%s: field %q: key %q, %v; want %q (string %v)", s, k, key, err, want, isStr)
			}
		}
		if _, err := fieldKey(b, "\x00absent", nil); err == nil {
			t.Fatalf("%s: an absent field was found", s)
		}
	})
}

// countKey counts the top-level fields named k in the object b.
func countKey(b []byte, k string) int {
	n := 0
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.Token() // {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0
		}
		if fmt.Sprint(tok) == k {
			n++
		}
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	return n
}
