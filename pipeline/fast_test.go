package pipeline

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// The closures give every expression they cover the value and the error
// the expression VM gives, on records with every type of value, nulls
// and missing fields included.
func TestFastMatchesVM(t *testing.T) {
	exprs := []string{
		`a > 1`, `a >= 1.5`, `a < b`, `a <= b`, `a == b`, `a != b`, `a == 2`, `f == 2`,
		`s == "x"`, `s != "x"`, `s < "m"`, `s + "!"`, `a + b`, `a - b`, `a * b`, `a / b`, `a % 3`,
		`a + f`, `f * 2`, `-a`, `-f`, `!t`, `not t`, `t && a > 1`, `t || a > 1`, `t and t`, `t or false`,
		`a ?? 0`, `n ?? 7`, `n ?? s`, `s in ["x", "y"]`, `a in [1, 2, 3]`, `n == nil`, `n != nil`,
		`$env["a"] > 0`, `a > 1 && s == "x" || f < 0`, `ts > ts`, `ts == ts`, `nan == nan`, `nan < 1`,
		`n > 1`, `s > 1`, `t + 1`, `-s`, `!a`, `n && t`, `t && n`, `s in ["x"] && a in [1]`,
		`big * big`, `a / 0`, `a % 0`, `missing == nil`, `missing > 1`, `(a + 1) * (b - 2)`, `1 + 2 * 3`,
		`o.x`, `o.x + 1`, `o.in.y == "deep"`, `o.missing`, `o.missing == nil`, `a.x`, `s.x`, `n.x`, `missing.x`,
		`ts.x`, `o.in.y.z`, `l.x`, `o["x"]`,
		`let p = split(u, "/"); len(p) > 3 ? p[3] : nil`, `split(u, "/")[1]`, `split(u, "/")[-1]`, `split(u, "/")[9]`,
		`len(s)`, `len(l)`, `len(n)`, `len(u) > 5`, `lower(s)`, `upper(u)`, `trim(s)`, `split(a, "/")`, `a > 1 ? "big" : "small"`,
		`let x = a; let y = x + 1; y * x`, `let a = 2; a + b`, `l[0]`, `l[5]`, `l[-1]`, `hasPrefix(u, "https")`, `replace(u, "/", "|")`,
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []Record{
		{"a": int64(2), "b": int64(3), "f": 2.0, "s": "x", "t": true, "n": nil, "ts": ts, "nan": math.NaN(), "big": int64(1 << 40),
			"o": map[string]any{"x": int64(5), "in": map[string]any{"y": "deep"}}, "l": []any{int64(1)}, "u": "https://www.x.com/a/b/c"},
		{"o": Record{"x": 2.5, "in": Record{"y": int64(1)}}, "l": map[string]any{"x": true}},
		{"a": int64(-7), "b": int64(-7), "f": -0.5, "s": " zz ", "t": false, "n": nil, "ts": ts, "nan": 1.0, "big": int64(3), "u": "nopath", "l": []any{}},
		{"a": 1.5, "b": "q", "f": int64(4), "s": int64(1), "t": nil, "n": "v", "ts": nil, "nan": nil, "big": nil, "u": int64(3)},
		{},
	}
	c := &checker{r: &reader{file: "t"}}
	covered := 0
	for _, src := range exprs {
		e := &Expr{Source: src, what: "e"}
		if !c.compile(e, nil, TypeAny, nil) {
			t.Fatalf("%s: %v", src, c.r.errs)
		}
		if e.fast == nil {
			t.Logf("not covered: %s", src)
			continue
		}
		covered++
		for i, r := range recs {
			fv, ferr := e.eval(r)
			sv, serr := e.slow(r)
			if (ferr != nil) != (serr != nil) {
				t.Errorf("%s on record %d: closures give %v, %v; the VM %v, %v", src, i, fv, ferr, sv, serr)
				continue
			}
			if ferr == nil && !sameValue(normalize(fv), normalize(sv)) {
				t.Errorf("%s on record %d: closures give %#v, the VM %#v", src, i, fv, sv)
			}
		}
	}
	if covered < len(exprs)-3 {
		t.Errorf("the closures cover %d of %d expressions", covered, len(exprs))
	}
}

func sameValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		if fb, ok := b.(float64); ok && math.IsNaN(fa) && math.IsNaN(fb) {
			return true
		}
	}
	return reflect.DeepEqual(a, b) || fmt.Sprint(a) == fmt.Sprint(b) && reflect.TypeOf(a) == reflect.TypeOf(b)
}
