package pipeline

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/connectors/format"
)

// lookupCache keeps the results of lookups by key for a TTL, the least
// recently used dropped first beyond max entries. Misses are kept too (a
// lookup that found nothing finds nothing again within the TTL); errors
// are not. Concurrent lookups of one key share one fetch.
type lookupCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu struct {
		sync.Mutex
		entries map[string]*cacheEntry
		lru     list.List // of *cacheEntry, most recently used first
	}
	hits, fetches atomic.Int64
}

// cacheEntry is a key's result, or its fetch in flight until ready is
// closed.
type cacheEntry struct {
	key     string
	val     Record
	err     error
	expires time.Time
	ready   chan struct{}
	elem    *list.Element
}

func newLookupCache(ttl time.Duration, max int) *lookupCache {
	c := &lookupCache{ttl: ttl, max: max, now: time.Now}
	c.mu.entries = map[string]*cacheEntry{}
	return c
}

// get returns key's cached result, or fetches it.
func (c *lookupCache) get(ctx context.Context, key string, fetch func(context.Context) (Record, error)) (Record, error) {
	c.mu.Lock()
	if e, ok := c.mu.entries[key]; ok {
		select {
		case <-e.ready:
			if c.now().Before(e.expires) {
				c.mu.lru.MoveToFront(e.elem)
				c.mu.Unlock()
				c.hits.Add(1)
				return e.val, nil
			}
			c.removeLocked(e)
		default:
			// Another lookup of the key is in flight: wait for it.
			c.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if e.err != nil {
				return nil, e.err
			}
			c.hits.Add(1)
			return e.val, nil
		}
	}
	e := &cacheEntry{key: key, ready: make(chan struct{})}
	e.elem = c.mu.lru.PushFront(e)
	c.mu.entries[key] = e
	for c.mu.lru.Len() > c.max {
		c.removeLocked(c.mu.lru.Back().Value.(*cacheEntry))
	}
	c.mu.Unlock()

	c.fetches.Add(1)
	e.val, e.err = fetch(ctx)
	c.mu.Lock()
	e.expires = c.now().Add(c.ttl)
	if e.err != nil && c.mu.entries[key] == e {
		c.removeLocked(e)
	}
	c.mu.Unlock()
	close(e.ready)
	return e.val, e.err
}

func (c *lookupCache) removeLocked(e *cacheEntry) {
	if c.mu.entries[e.key] == e {
		delete(c.mu.entries, e.key)
		c.mu.lru.Remove(e.elem)
	}
}

// limiter spaces requests evenly at a rate per second, across the
// goroutines that wait on it.
type limiter struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

func newLimiter(perSecond float64) *limiter {
	return &limiter{interval: time.Duration(float64(time.Second) / perSecond)}
}

// wait returns when the caller may send its request, or ctx's error.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heldRecord is a record whose lookup is in flight, in the form the
// checkpoint keeps it (weir's codecs do not encode interfaces): each
// field with its type, nested values as JSON. rec is the record itself,
// which the codec leaves out; a record restored from a checkpoint has
// none and is rebuilt from Fields.
type heldRecord struct {
	Fields []heldField
	rec    Record
}

// heldField is one field of a held record. Kind says which of S, I, F
// and T holds its value: a bool is I (0 or 1), nested values are JSON
// in S.
type heldField struct {
	Name string
	Kind uint8
	S    string
	I    int64
	F    float64
	T    time.Time
}

const (
	heldNull = iota
	heldString
	heldInt
	heldFloat
	heldBool
	heldTime
	heldJSON
)

func holdRecord(r Record) heldRecord {
	h := heldRecord{Fields: make([]heldField, 0, len(r)), rec: r}
	for k, v := range r {
		f := heldField{Name: k}
		switch x := v.(type) {
		case nil:
		case string:
			f.Kind, f.S = heldString, x
		case int64:
			f.Kind, f.I = heldInt, x
		case float64:
			f.Kind, f.F = heldFloat, x
		case bool:
			f.Kind = heldBool
			if x {
				f.I = 1
			}
		case time.Time:
			f.Kind, f.T = heldTime, x
		default:
			b, err := json.Marshal(x)
			if err != nil {
				b, _ = json.Marshal(fmt.Sprint(x))
			}
			f.Kind, f.S = heldJSON, string(b)
		}
		h.Fields = append(h.Fields, f)
	}
	return h
}

// record returns the held record: itself, or rebuilt after a restore
// (nested values converted to the schema's types, if any).
func (h heldRecord) record(schema *Schema) (Record, error) {
	if h.rec != nil {
		return h.rec, nil
	}
	r := make(Record, len(h.Fields))
	for _, f := range h.Fields {
		switch f.Kind {
		case heldNull:
			r[f.Name] = nil
		case heldString:
			r[f.Name] = f.S
		case heldInt:
			r[f.Name] = f.I
		case heldFloat:
			r[f.Name] = f.F
		case heldBool:
			r[f.Name] = f.I == 1
		case heldTime:
			r[f.Name] = f.T
		case heldJSON:
			w, err := format.JSONRecord().Decode([]byte(`{"v":` + f.S + `}`))
			if err != nil {
				return nil, fmt.Errorf("field %q of a record restored from a checkpoint: %w", f.Name, err)
			}
			r[f.Name] = w["v"]
		default:
			return nil, fmt.Errorf("field %q of a record restored from a checkpoint: unknown kind %d", f.Name, f.Kind)
		}
	}
	if schema != nil {
		if err := schema.coerce(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// MarshalJSON writes the record itself, as a dead letter shows it.
func (h heldRecord) MarshalJSON() ([]byte, error) {
	r, err := h.record(nil)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}
