package weir

import "reflect"

// cloneFunc returns a shallow copy of f when f is a pointer to a struct, so
// that every parallel subtask has its own function value (and its own state
// handles). Other values are returned as they are. It runs once per subtask
// when a job starts, never per record.
func cloneFunc[F any](f F) F {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return f
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(F)
}
