package weir

import (
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strings"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/state"
)

// StateOption configures a keyed state declared with Value, List or Map.
type StateOption interface{ applyState(*stateConfig) }

type stateConfig struct {
	ttl   time.Duration
	codec any // codec.Codec of the value type
}

type stateOptionFunc func(*stateConfig)

func (f stateOptionFunc) applyState(c *stateConfig) { f(c) }

// TTL makes each entry of the state expire d after it was last written
// (Set, Add, Update or Put; reads do not refresh it). An expired entry is
// never returned, is left out of snapshots and is removed in the background;
// the clock is processing time.
func TTL(d time.Duration) StateOption {
	return stateOptionFunc(func(c *stateConfig) { c.ttl = d })
}

// StateCodec sets how the state's values are encoded in snapshots, for
// types codec.For does not support or would not keep whole. Tag the
// handle's field `weir:"statecodec"` so that Validate leaves the type to
// the codec. Weir cannot know the layout of such a codec: a restore reads
// its bytes as they are, without the checks and migration of changed
// types.
func StateCodec[V any](c codec.Codec[V]) StateOption {
	return stateOptionFunc(func(s *stateConfig) { s.codec = c })
}

type unit = struct{}

func declare[V any](name string, opts []StateOption) (stateConfig, codec.Codec[V], error) {
	var cfg stateConfig
	for _, o := range opts {
		o.applyState(&cfg)
	}
	if name == "" || strings.HasPrefix(name, "_") {
		return cfg, nil, fmt.Errorf("state name %q: must be non-empty and not start with '_'", name)
	}
	if cfg.ttl < 0 {
		return cfg, nil, fmt.Errorf("state %q: TTL %v must not be negative", name, cfg.ttl)
	}
	if cfg.codec != nil {
		c, ok := cfg.codec.(codec.Codec[V])
		if !ok {
			return cfg, nil, fmt.Errorf("state %q: codec %T does not encode %T", name, cfg.codec, *new(V))
		}
		return cfg, c, nil
	}
	c, err := codec.For[V]()
	if err == nil {
		err = codec.Lossless[V]()
	}
	if err != nil {
		return cfg, nil, fmt.Errorf("state %q: %w (or set a StateCodec)", name, err)
	}
	return cfg, c, nil
}

// ErrUndeclaredState reports a state handle used before it was declared:
// a zero ValueState, ListState or MapState, because Open never ran (the
// function was passed by value while Open has a pointer receiver) or did
// not declare it.
var ErrUndeclaredState = errors.New("weir: state handle used before it was declared in Open")

func undeclared[H any]() error {
	return fmt.Errorf("%w: %s is the zero handle", ErrUndeclaredState, reflect.TypeFor[H]())
}

// stateHandle is implemented by the keyed state handles, so that the
// job's validation can check the types of the handles a function holds
// before Open declares them.
type stateHandle interface{ checkTypes() error }

func (ValueState[K, V]) checkTypes() error { return stateTypeErr[V]("value") }
func (ListState[K, V]) checkTypes() error  { return stateTypeErr[V]("element") }
func (MapState[K, UK, UV]) checkTypes() error {
	return errors.Join(stateTypeErr[UK]("user key"), stateTypeErr[UV]("value"))
}

// stateTypeErr reports why codec.For cannot keep every V whole.
func stateTypeErr[V any](what string) error {
	if _, err := codec.For[V](); err != nil {
		return fmt.Errorf("%s type: %w", what, err)
	}
	if err := codec.Lossless[V](); err != nil {
		return fmt.Errorf("%s type: %w", what, err)
	}
	return nil
}

func scopeOf[K comparable](c KeyedContext[K]) (*keyedCtx[K], error) {
	if c == nil {
		return nil, ErrNotKeyed
	}
	s := c.scope()
	if s == nil {
		return nil, ErrNotKeyed
	}
	return s, nil
}

// ValueState holds one value per key. The zero ValueState is a handle
// never declared: its methods return ErrUndeclaredState.
//
// Values are kept as they are given and returned as they are kept, not
// copied: a value holding a pointer, slice or map must not be changed in
// place after Set or Get, since a checkpoint may be writing it meanwhile;
// set a new value instead. The same holds for ListState and MapState.
type ValueState[K comparable, V any] struct {
	t state.Value[K, unit, V]
}

// Value declares a keyed value state named name. Call it from Open.
//
// V must be a type codec.For encodes whole (see codec.Lossless): every
// struct field, at any depth, exported or tagged `codec:"-"`; otherwise
// the job fails to validate (or, for a handle that is not a field of the
// function, to open), naming the type and the field. Snapshots keep V's
// layout, so that a restore after V changed migrates added and removed
// struct fields and refuses a field whose type changed (docs/state.md).
//
// The type arguments are the value's type, then the key's, and the key's
// is inferred from c: write Value[int](c, "n"). Written key first, as in
// Flink's descriptors, the compiler reports the key types that differ:
// "wrong type for method KeyType: have KeyType() weir.KeyType[string],
// want KeyType() weir.KeyType[int]" (docs/errors.md).
func Value[V any, K comparable](c KeyedOpenContext[K], name string, opts ...StateOption) ValueState[K, V] {
	oc := c.open()
	cfg, vc, err := declare[V](name, opts)
	if err != nil {
		oc.fail(err)
		return ValueState[K, V]{}
	}
	t, err := state.NewValue(oc.backend, state.TableDesc[K, unit, V]{
		Name: name, Key: oc.keys.codec, Namespace: codec.Unit(), Value: vc, TTL: cfg.ttl,
	})
	if err != nil {
		oc.fail(fmt.Errorf("value state %q: %w", name, err))
	}
	return ValueState[K, V]{t: t}
}

// Get returns the current key's value and whether it has one.
func (s ValueState[K, V]) Get(c KeyedContext[K]) (V, bool, error) {
	if s.t == nil {
		var zero V
		return zero, false, undeclared[ValueState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		var zero V
		return zero, false, err
	}
	return s.t.Get(k.kg, k.key, unit{})
}

// Set sets the current key's value.
func (s ValueState[K, V]) Set(c KeyedContext[K], v V) error {
	if s.t == nil {
		return undeclared[ValueState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	return s.t.Put(k.kg, k.key, unit{}, v)
}

// Clear removes the current key's value.
func (s ValueState[K, V]) Clear(c KeyedContext[K]) error {
	if s.t == nil {
		return undeclared[ValueState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	return s.t.Delete(k.kg, k.key, unit{})
}

// ListState holds a list of values per key. The zero ListState is a
// handle never declared: its methods return ErrUndeclaredState.
type ListState[K comparable, V any] struct {
	t state.List[K, unit, V]
}

// List declares a keyed list state named name. Call it from Open. V is
// checked and evolves as Value's. Its type arguments are the element's
// type, then the key's, inferred from c: List[Event](c, "buffer").
func List[V any, K comparable](c KeyedOpenContext[K], name string, opts ...StateOption) ListState[K, V] {
	oc := c.open()
	cfg, vc, err := declare[V](name, opts)
	if err != nil {
		oc.fail(err)
		return ListState[K, V]{}
	}
	t, err := state.NewList(oc.backend, state.TableDesc[K, unit, V]{
		Name: name, Key: oc.keys.codec, Namespace: codec.Unit(), Value: vc, TTL: cfg.ttl,
	})
	if err != nil {
		oc.fail(fmt.Errorf("list state %q: %w", name, err))
	}
	return ListState[K, V]{t: t}
}

// Get returns the current key's list. The caller must not modify it.
func (s ListState[K, V]) Get(c KeyedContext[K]) ([]V, error) {
	if s.t == nil {
		return nil, undeclared[ListState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return nil, err
	}
	return s.t.Get(k.kg, k.key, unit{})
}

// Add appends v to the current key's list.
func (s ListState[K, V]) Add(c KeyedContext[K], v V) error {
	if s.t == nil {
		return undeclared[ListState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	return s.t.Add(k.kg, k.key, unit{}, v)
}

// Update replaces the current key's list.
func (s ListState[K, V]) Update(c KeyedContext[K], vs []V) error {
	if s.t == nil {
		return undeclared[ListState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	return s.t.Update(k.kg, k.key, unit{}, vs)
}

// Clear removes the current key's list.
func (s ListState[K, V]) Clear(c KeyedContext[K]) error {
	if s.t == nil {
		return undeclared[ListState[K, V]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	return s.t.Delete(k.kg, k.key, unit{})
}

// MapState holds a map of user keys to values per key. The zero MapState
// is a handle never declared: its methods return ErrUndeclaredState, and
// All yields nothing. User keys follow
// the rule of KeyBy's keys: -0 is +0, times are their instant, NaN is
// refused (an error) and types whose == cannot agree with their encoding
// are rejected when the state is declared.
type MapState[K, UK comparable, UV any] struct {
	t state.Map[K, unit, UK, UV]
	// canon makes user keys canonical; nil when every one is.
	canon  func(UK) UK
	floats bool
}

// userKey returns the canonical form of uk, or an error if it holds NaN.
func (s MapState[K, UK, UV]) userKey(uk UK) (UK, error) {
	if s.canon == nil {
		return uk, nil
	}
	uk = s.canon(uk)
	if s.floats && uk != uk {
		return uk, fmt.Errorf("map state: user %w", errNaNKey{key: uk})
	}
	return uk, nil
}

// MapOf declares a keyed map state named name. Call it from Open. (Map is
// the name of the transformation.) UK and UV are checked as Value's V;
// UV may evolve as V, while a change of UK fails the restore. Its type
// arguments are the user key's and value's types, then the stream key's,
// inferred from c: MapOf[string, int64](c, "last-seen").
func MapOf[UK comparable, UV any, K comparable](c KeyedOpenContext[K], name string, opts ...StateOption) MapState[K, UK, UV] {
	oc := c.open()
	cfg, vc, err := declare[UV](name, opts)
	if err != nil {
		oc.fail(err)
		return MapState[K, UK, UV]{}
	}
	rule, err := keyRuleOf(reflect.TypeFor[UK](), false)
	if err != nil {
		oc.fail(fmt.Errorf("map state %q: user %w", name, err))
		return MapState[K, UK, UV]{}
	}
	ukc, err := codec.For[UK]()
	if err != nil {
		oc.fail(fmt.Errorf("map state %q: user key: %w", name, err))
		return MapState[K, UK, UV]{}
	}
	t, err := state.NewMap(oc.backend, state.MapDesc[K, unit, UK, UV]{
		Name: name, Key: oc.keys.codec, Namespace: codec.Unit(), UserKey: ukc, Value: vc, TTL: cfg.ttl,
	})
	if err != nil {
		oc.fail(fmt.Errorf("map state %q: %w", name, err))
	}
	return MapState[K, UK, UV]{t: t, canon: canonicalizer[UK](rule), floats: rule.floats}
}

// Get returns the value of uk for the current key.
func (s MapState[K, UK, UV]) Get(c KeyedContext[K], uk UK) (UV, bool, error) {
	if s.t == nil {
		var zero UV
		return zero, false, undeclared[MapState[K, UK, UV]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		var zero UV
		return zero, false, err
	}
	if uk, err = s.userKey(uk); err != nil {
		var zero UV
		return zero, false, err
	}
	return s.t.Get(k.kg, k.key, unit{}, uk)
}

// Put sets the value of uk for the current key.
func (s MapState[K, UK, UV]) Put(c KeyedContext[K], uk UK, v UV) error {
	if s.t == nil {
		return undeclared[MapState[K, UK, UV]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	if uk, err = s.userKey(uk); err != nil {
		return err
	}
	return s.t.Put(k.kg, k.key, unit{}, uk, v)
}

// Delete removes uk for the current key.
func (s MapState[K, UK, UV]) Delete(c KeyedContext[K], uk UK) error {
	if s.t == nil {
		return undeclared[MapState[K, UK, UV]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	if uk, err = s.userKey(uk); err != nil {
		return err
	}
	return s.t.Delete(k.kg, k.key, unit{}, uk)
}

// Clear removes every entry of the current key.
func (s MapState[K, UK, UV]) Clear(c KeyedContext[K]) error {
	if s.t == nil {
		return undeclared[MapState[K, UK, UV]]()
	}
	k, err := scopeOf(c)
	if err != nil {
		return err
	}
	return s.t.Clear(k.kg, k.key, unit{})
}

// All yields the current key's entries in no particular order. The state
// must not be written during the iteration. It yields nothing outside a
// keyed function and on a handle never declared, where the other methods
// return an error.
func (s MapState[K, UK, UV]) All(c KeyedContext[K]) iter.Seq2[UK, UV] {
	k, err := scopeOf(c)
	if err != nil || s.t == nil {
		return func(func(UK, UV) bool) {}
	}
	return s.t.All(k.kg, k.key, unit{})
}
