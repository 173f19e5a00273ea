package weir

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/weirstream/weir/codec"
)

// Key identity. A record's key group is a hash of its key's encoding, but
// the key's state and timers are found with Go's ==; the two must agree,
// before and after a restore, which builds the state from encodings. The
// rule, fixed when the graph is built from the key type alone:
//
//   - Floats are canonical: -0 is +0. A key holding NaN equals nothing, not
//     even itself, so it can have no state: such a record is an error of
//     the keyed operator, under its error policy.
//   - Times are their instant as the encoding keeps it (codec.CanonicalTime):
//     UTC, no monotonic reading, clamped to the encodable range.
//   - Pointers, channels, interfaces and unsafe pointers, at any depth of
//     structs and arrays, are rejected: their == compares addresses (or a
//     dynamic type and value), which no encoding carries from one process
//     to the next. unique.Handle, interned so that == compares values, is
//     the exception.
//   - With the default codec, struct fields it leaves out (unexported, or
//     tagged codec:"-") are rejected: keys differing only in them would share
//     a key group but not state. A KeyCodec is trusted to encode every field
//     that == compares.
//
// Keys of strings, integers and bools, and structs and arrays of them, need
// nothing per record; only keys holding floats or times are rewritten, by a
// function made once from the key type's layout.

// canonKind is what a canonOp rewrites.
type canonKind uint8

const (
	canonFloat32 canonKind = iota
	canonFloat64
	canonTime
	canonArray
)

// canonOp rewrites the value at offset off of a key to its canonical form.
type canonOp struct {
	kind canonKind
	off  uintptr
	// n, size and elem describe an array: its length, its element size and
	// the ops of one element.
	n    int
	size uintptr
	elem []canonOp
}

// keyRule is what a key type needs so that == agrees with its encoding.
type keyRule struct {
	ops []canonOp
	// floats tells that the type holds floats, so a key may hold NaN.
	floats bool
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	canonNaN64 = math.Float64frombits(0x7ff8000000000001)
	canonNaN32 = math.Float32frombits(0x7fc00001)
)

// keyRuleOf returns the rule for keys of type t, or why t cannot be a key.
// custom tells that the keys are encoded by a KeyCodec rather than codec.For.
func keyRuleOf(t reflect.Type, custom bool) (keyRule, error) {
	var r keyRule
	ops, err := r.walk(t, 0, "", custom)
	if err != nil {
		if err.path == "" {
			return keyRule{}, fmt.Errorf("key type %s %s", t, err.why)
		}
		return keyRule{}, fmt.Errorf("key type %s: field %s of type %s %s", t, err.path, err.typ, err.why)
	}
	r.ops = ops
	return r, nil
}

// fieldError says which part of a key type is at fault (path "" for the
// whole type) and why.
type fieldError struct {
	path string
	typ  reflect.Type
	why  string
}

func badField(path string, t reflect.Type, why string) *fieldError {
	return &fieldError{path: path, typ: t, why: why}
}

func (r *keyRule) walk(t reflect.Type, off uintptr, path string, custom bool) ([]canonOp, *fieldError) {
	if t == timeType || t.Kind() == reflect.Struct && t.ConvertibleTo(timeType) {
		return []canonOp{{kind: canonTime, off: off}}, nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Uintptr,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil, nil
	case reflect.Float32:
		r.floats = true
		return []canonOp{{kind: canonFloat32, off: off}}, nil
	case reflect.Float64:
		r.floats = true
		return []canonOp{{kind: canonFloat64, off: off}}, nil
	case reflect.Complex64:
		r.floats = true
		return []canonOp{{kind: canonFloat32, off: off}, {kind: canonFloat32, off: off + 4}}, nil
	case reflect.Complex128:
		r.floats = true
		return []canonOp{{kind: canonFloat64, off: off}, {kind: canonFloat64, off: off + 8}}, nil
	case reflect.Pointer, reflect.UnsafePointer:
		return nil, badField(path, t, "is a pointer: == compares addresses, which no encoding carries from one process to another, so equal keys would not share state; key by the value it points to")
	case reflect.Chan:
		return nil, badField(path, t, "is a channel: == compares channels by identity, which no encoding carries from one process to another")
	case reflect.Interface:
		return nil, badField(path, t, "is an interface: == compares its dynamic type and value (a pointer by address), which no encoding can follow; key by a concrete type")
	case reflect.Array:
		elem, err := r.walk(t.Elem(), 0, path+"[]", custom)
		if err != nil || len(elem) == 0 || t.Len() == 0 {
			return nil, err
		}
		return []canonOp{{kind: canonArray, off: off, n: t.Len(), size: t.Elem().Size(), elem: elem}}, nil
	case reflect.Struct:
		if t.PkgPath() == "unique" && strings.HasPrefix(t.Name(), "Handle[") {
			return nil, nil // interned: == compares the values
		}
		var ops []canonOp
		for i := range t.NumField() {
			f := t.Field(i)
			fp := f.Name
			if path != "" {
				fp = path + "." + f.Name
			}
			// The default codec's rule (codec.Struct) for the fields it
			// leaves out.
			if !custom {
				if f.Tag.Get("codec") == "-" {
					return nil, badField(fp, f.Type, "is tagged codec:\"-\": the key's encoding leaves it out, so keys that differ only in it would share a key group but not state; remove the tag or set a KeyCodec")
				}
				if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
					return nil, badField(fp, f.Type, "is unexported: the key's encoding leaves it out, so keys that differ only in it would share a key group but not state; export it or set a KeyCodec that encodes it")
				}
			}
			fo, err := r.walk(f.Type, off+f.Offset, fp, custom)
			if err != nil {
				return nil, err
			}
			ops = append(ops, fo...)
		}
		return ops, nil
	}
	return nil, badField(path, t, "is not comparable")
}

// canonicalizer returns the function that makes a key canonical, or nil
// when every key is.
func canonicalizer[K comparable](r keyRule) func(K) K {
	ops := r.ops
	if len(ops) == 0 {
		return nil
	}
	if len(ops) == 1 && ops[0].off == 0 {
		// A float64 or a time, alone in the key: no loop.
		switch size := unsafe.Sizeof(*new(K)); {
		case ops[0].kind == canonFloat64 && size == 8:
			return func(k K) K {
				p := (*float64)(unsafe.Pointer(&k))
				*p = canonFloat64Of(*p)
				return k
			}
		case ops[0].kind == canonTime && size == unsafe.Sizeof(time.Time{}):
			return func(k K) K {
				p := (*time.Time)(unsafe.Pointer(&k))
				*p = codec.CanonicalTime(*p)
				return k
			}
		}
	}
	return func(k K) K {
		canonAt(unsafe.Pointer(&k), ops)
		return k
	}
}

func canonFloat64Of(f float64) float64 {
	if f == 0 {
		return 0
	}
	if f != f {
		return canonNaN64
	}
	return f
}

func canonFloat32Of(f float32) float32 {
	if f == 0 {
		return 0
	}
	if f != f {
		return canonNaN32
	}
	return f
}

// canonAt makes the key at p canonical.
func canonAt(p unsafe.Pointer, ops []canonOp) {
	for i := range ops {
		o := &ops[i]
		q := unsafe.Add(p, o.off)
		switch o.kind {
		case canonFloat32:
			f := (*float32)(q)
			*f = canonFloat32Of(*f)
		case canonFloat64:
			f := (*float64)(q)
			*f = canonFloat64Of(*f)
		case canonTime:
			t := (*time.Time)(q)
			*t = codec.CanonicalTime(*t)
		case canonArray:
			for j := range o.n {
				canonAt(unsafe.Add(q, uintptr(j)*o.size), o.elem)
			}
		}
	}
}

// canonCodec is a KeyCodec whose decoded keys are made canonical, so that
// keys restored from a snapshot equal those computed from records.
type canonCodec[K comparable] struct {
	codec.Codec[K]
	canon func(K) K
}

func (c canonCodec[K]) Decode(src []byte) (K, int, error) {
	k, n, err := c.Codec.Decode(src)
	return c.canon(k), n, err
}

// errNaNKey is the error of a record whose key holds NaN.
type errNaNKey struct{ key any }

func (e errNaNKey) Error() string {
	return fmt.Sprintf("key %v holds NaN, which equals no key, not even itself, so it can have no keyed state", e.key)
}
