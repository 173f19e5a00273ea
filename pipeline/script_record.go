package pipeline

import (
	"slices"
	"time"

	"github.com/dop251/goja"
)

// recordObject is the record a script's process receives: a JavaScript
// object over the Go record that converts a field only when the script
// reads it, and keeps what the script sets or deletes beside the record,
// which is never changed. Returned as it is, it becomes the record again
// with the changes applied. Object.keys, for…in, JSON.stringify and
// spreading see its fields in sorted order.
type recordObject struct {
	sb      *sandbox
	rec     Record
	over    map[string]goja.Value // fields set, and nested values read
	deleted map[string]bool
}

var _ goja.DynamicObject = (*recordObject)(nil)

func (o *recordObject) Get(key string) goja.Value {
	if v, ok := o.over[key]; ok {
		return v
	}
	if o.deleted[key] {
		return nil
	}
	v, ok := o.rec[key]
	if !ok {
		return nil
	}
	js := o.sb.toJS(v, 1)
	switch v.(type) {
	case Record, map[string]any, []any, time.Time:
		// An object read twice is the same object, and changes to it
		// stay.
		o.set(key, js)
	}
	return js
}

func (o *recordObject) set(key string, v goja.Value) {
	if o.over == nil {
		o.over = make(map[string]goja.Value, 4)
	}
	o.over[key] = v
}

func (o *recordObject) Set(key string, v goja.Value) bool {
	o.set(key, v)
	delete(o.deleted, key)
	return true
}

func (o *recordObject) Has(key string) bool {
	if _, ok := o.over[key]; ok {
		return true
	}
	_, ok := o.rec[key]
	return ok && !o.deleted[key]
}

func (o *recordObject) Delete(key string) bool {
	delete(o.over, key)
	if _, ok := o.rec[key]; ok {
		if o.deleted == nil {
			o.deleted = map[string]bool{}
		}
		o.deleted[key] = true
	}
	return true
}

func (o *recordObject) Keys() []string {
	keys := make([]string, 0, len(o.rec)+len(o.over))
	for k := range o.rec {
		if _, set := o.over[k]; !set && !o.deleted[k] {
			keys = append(keys, k)
		}
	}
	for k := range o.over {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// record is the object as a record: the Go record's fields, less those
// deleted, with those set exported.
func (o *recordObject) record() map[string]any {
	out := make(map[string]any, len(o.rec)+len(o.over))
	for k, v := range o.rec {
		if !o.deleted[k] {
			out[k] = v
		}
	}
	for k, v := range o.over {
		out[k] = v.Export()
	}
	return out
}
