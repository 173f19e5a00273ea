package weir

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// checkKeyedFunc reports the mistakes in a keyed function fn that would
// otherwise only show while the job runs, or never:
//
//   - a method named Open, OnTimer or Close whose signature is not the
//     capability's: it compiles, and the runtime would never call it;
//   - fn passed by value while its Open, OnTimer or Close has a pointer
//     receiver: the runtime finds optional capabilities by type assertion
//     on the value it was given, so the method would never be called, and
//     state handles Open would have declared stay zero;
//   - a state handle field (ValueState, ListState, MapState) whose types
//     codec.For cannot keep whole, such as a struct with an unexported
//     field, which would restore as its zero value.
//
// It runs once, when the job is validated.
func checkKeyedFunc[K comparable, R any](fn any) error {
	t := reflect.TypeOf(fn)
	if t == nil {
		return errors.New("the function is nil")
	}
	var errs []error
	pt := t
	if t.Kind() != reflect.Pointer {
		pt = reflect.PointerTo(t)
	}
	for _, c := range []struct {
		name, method string
		t            reflect.Type
	}{
		{"KeyedOpener", "Open", reflect.TypeFor[KeyedOpener[K]]()},
		{"KeyedTimerHandler", "OnTimer", reflect.TypeFor[KeyedTimerHandler[K, R]]()},
		{"Closer", "Close", reflect.TypeFor[Closer]()},
		{"BarrierHandler", "OnBarrier", reflect.TypeFor[BarrierHandler]()},
	} {
		m, has := pt.MethodByName(c.method)
		switch {
		case has && !pt.Implements(c.t):
			// A method of the capability's name whose signature does not
			// fit it compiles, and would never be called.
			want, _ := c.t.MethodByName(c.method)
			errs = append(errs, fmt.Errorf("%s has a method %s%s, which is not %s's %s%s, so Weir would never call it",
				t, c.method, signature(m.Type, 1), c.name, c.method, signature(want.Type, 0)))
		case t != pt && pt.Implements(c.t) && !t.Implements(c.t):
			errs = append(errs, fmt.Errorf("*%s implements %s but %s was passed, so %s would never be called: pass a pointer (&%s{...})",
				t, c.name, t, c.method, t))
		}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() != ownPkg {
		// Weir's own functions (windows, joins) check their state types
		// where they are built, in their own words.
		errs = append(errs, checkStateFields(t, t.String(), 0)...)
	}
	return errors.Join(errs...)
}

var ownPkg = reflect.TypeFor[Env]().PkgPath()

// signature formats the function type f as a method's signature, leaving
// out its first skip parameters (the receiver of a method value's type).
func signature(f reflect.Type, skip int) string {
	var in, out []string
	for i := skip; i < f.NumIn(); i++ {
		in = append(in, f.In(i).String())
	}
	for i := range f.NumOut() {
		out = append(out, f.Out(i).String())
	}
	sig := "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		sig += " " + out[0]
	default:
		sig += " (" + strings.Join(out, ", ") + ")"
	}
	return sig
}

// stateCodecTag on a state handle field leaves the check of its types to
// the StateCodec it is declared with.
const stateCodecTag = "statecodec"

// checkStateFields checks the state handles among the fields of the
// struct type t (and of its struct fields, to a small depth), naming each
// by its path from the function's type.
func checkStateFields(t reflect.Type, path string, depth int) []error {
	if t.Kind() != reflect.Struct || depth > 4 {
		return nil
	}
	handle := reflect.TypeFor[stateHandle]()
	var errs []error
	for i := range t.NumField() {
		f := t.Field(i)
		fp := path + "." + f.Name
		if f.Type.Implements(handle) {
			if f.Tag.Get("weir") == stateCodecTag {
				continue
			}
			h := reflect.Zero(f.Type).Interface().(stateHandle)
			if err := h.checkTypes(); err != nil {
				errs = append(errs, fmt.Errorf("state field %s: %w (tag the field `weir:%q` if it is declared with a StateCodec that keeps it)", fp, err, stateCodecTag))
			}
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			errs = append(errs, checkStateFields(f.Type, fp, depth+1)...)
		}
	}
	return errs
}
