package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
)

// enrichStep looks each record up — in an HTTP service, a PostgreSQL
// table or Redis — and adds what it finds: under one field (into), as fields
// computed from it (fields), or merged at the top level. The lookups run
// through weir.AsyncMap, so many are in flight at once and the records
// whose lookups are in flight at a checkpoint are in the checkpoint and
// looked up again after a restore (at-least-once lookups, exactly-once
// records).
type enrichStep struct {
	lookup lookup
	into   string
	fields []Assignment
	onMiss string // "keep", "drop" or "dead-letter"

	timeout     time.Duration
	retries     int
	backoff     time.Duration
	concurrency int
	rate        float64
	cacheTTL    time.Duration
	cacheMax    int

	onMissPos Pos
	in        *Schema // of the input, to read restored in-flight records
}

// lookup is where an enrich step looks records up.
type lookup interface {
	// check compiles the lookup's expressions against the input's schema.
	check(c *checker, in *Schema)
	// open makes the lookup's client for one built job.
	open(e *enrichStep) (lookupClient, error)
}

// lookupClient looks records up for one built job; its methods are safe
// for concurrent use.
type lookupClient interface {
	// request computes r's request; ok is false when a key is null, which
	// is a miss without a request.
	request(r Record) (q lookupRequest, ok bool, err error)
	// fetch performs q: the value found, or nil for none (a miss).
	fetch(ctx context.Context, q lookupRequest) (Record, error)
	close()
}

// lookupRequest is one lookup: key identifies it in the cache, what names
// it in errors (never with a secret), and args are its parameters.
type lookupRequest struct {
	key  string
	what string
	url  string
	args []any
}

// The defaults of an enrich step.
const (
	defaultLookupTimeout     = 5 * time.Second
	defaultLookupRetries     = 2
	defaultLookupBackoff     = 100 * time.Millisecond
	defaultLookupConcurrency = 16
	defaultCacheEntries      = 10_000
)

func parseEnrich(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	e := &enrichStep{
		into:        r.str(o, "into"),
		onMiss:      r.str(o, "on_miss"),
		onMissPos:   o.keyPos("on_miss"),
		timeout:     r.duration(o, "timeout"),
		retries:     int(r.integer(o, "retries", defaultLookupRetries)),
		backoff:     r.duration(o, "backoff"),
		concurrency: int(r.integer(o, "concurrency", defaultLookupConcurrency)),
		rate:        r.number(o, "rate"),
	}
	if o.has("timeout") && e.timeout == 0 {
		r.errorf(o.keyPos("timeout"), "%s: timeout must be positive", what)
	}
	if e.timeout == 0 {
		e.timeout = defaultLookupTimeout
	}
	if !o.has("backoff") {
		e.backoff = defaultLookupBackoff
	}
	if e.retries < 0 || e.retries > 100 {
		r.errorf(o.keyPos("retries"), "%s: retries: want 0 to 100, got %d", what, e.retries)
	}
	if e.concurrency < 1 || e.concurrency > 10_000 {
		r.errorf(o.keyPos("concurrency"), "%s: concurrency: want 1 to 10000 lookups in flight per subtask, got %d", what, e.concurrency)
	}
	if e.rate < 0 {
		r.errorf(o.keyPos("rate"), "%s: rate: lookups per second must not be negative", what)
	}
	switch e.onMiss {
	case "":
		e.onMiss = "keep"
	case "keep", "drop", "dead-letter":
	default:
		r.errorf(o.keyPos("on_miss"), "%s: on_miss: want keep, drop or dead-letter, got %q", what, e.onMiss)
	}
	if cn := o.get("cache"); cn != nil {
		co := r.object(cn, what+": cache")
		if co != nil {
			e.cacheTTL = r.duration(co, "ttl")
			e.cacheMax = int(r.integer(co, "max_entries", defaultCacheEntries))
			if e.cacheTTL <= 0 {
				r.errorf(co.keyPos("ttl"), "%s: cache: ttl: want how long a lookup's result is kept, such as 1m", what)
			}
			if e.cacheMax < 1 {
				r.errorf(co.keyPos("max_entries"), "%s: cache: max_entries must be at least 1, got %d", what, e.cacheMax)
			}
			co.finish()
		}
	}
	if fn := o.get("fields"); fn != nil {
		e.fields = r.assignments(fn, what+": fields")
	}
	if e.into != "" && o.has("fields") {
		r.errorf(o.keyPos("fields"), "%s: give into (the whole result under one field) or fields (fields computed from the result), not both", what)
	}
	hn, pn, rn := o.get("http"), o.get("postgres"), o.get("redis")
	switch {
	case (hn != nil && pn != nil) || (hn != nil && rn != nil) || (pn != nil && rn != nil):
		r.errorf(o.pos, "%s: give one of http, postgres and redis; a step does one lookup", what)
	case hn != nil:
		e.lookup = parseHTTPLookup(r, hn, what+": http")
	case pn != nil:
		e.lookup = parsePostgresLookup(r, pn, what+": postgres")
	case rn != nil:
		e.lookup = parseRedisLookup(r, rn, what+": redis")
	default:
		r.errorf(o.pos, "%s: missing the lookup: http (a URL template), postgres (a query) or redis (a key)", what)
	}
	o.finish()
	if e.lookup == nil {
		return nil
	}
	return e
}

func (e *enrichStep) check(c *checker, s *Step, in *Schema) *Schema {
	e.in = in
	e.lookup.check(c, in)
	for _, a := range e.fields {
		// The fields are expressions of the result, whose shape is not
		// known before it comes.
		c.compile(a.Expr, nil, TypeAny, nil)
	}
	if e.onMiss == "dead-letter" {
		switch {
		case c.p.DeadLetter == nil:
			c.r.errorf(e.onMissPos, "step %q: on_miss dead-letter needs the pipeline's dead_letter output", s.Name)
		case s.OnError != nil && *s.OnError != weir.DeadLetter:
			c.r.errorf(e.onMissPos, "step %q: on_miss dead-letter sends misses through the step's error policy, which is %s; set on_error: dead-letter or another on_miss", s.Name, *s.OnError)
		}
	}
	if in == nil {
		return nil
	}
	out := &Schema{}
	switch {
	case e.into != "":
		out.Fields = append(out.Fields, in.Fields...)
		out.set(Field{Name: e.into, Type: TypeAny})
	case e.fields != nil:
		out.Fields = append(out.Fields, in.Fields...)
		for _, a := range e.fields {
			out.set(Field{Name: a.Field, Type: TypeAny})
		}
	default:
		// Merged at the top level: the result's fields are not known
		// before it comes.
		return nil
	}
	return out
}

// set adds f, or replaces the field of its name.
func (s *Schema) set(f Field) {
	for i, g := range s.Fields {
		if g.Name == f.Name {
			s.Fields[i] = f
			return
		}
	}
	s.Fields = append(s.Fields, f)
}

func (e *enrichStep) build(b *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	client, err := e.lookup.open(e)
	if err != nil {
		b.fail(fmt.Errorf("step %q: %w", s.Name, err))
		return in
	}
	b.job.closers = append(b.job.closers, func() error { client.close(); return nil })
	var cache *lookupCache
	if e.cacheTTL > 0 {
		cache = newLookupCache(e.cacheTTL, e.cacheMax)
	}
	var limit *limiter
	if e.rate > 0 {
		limit = newLimiter(e.rate)
	}
	fetch := func(ctx context.Context, q lookupRequest) (Record, error) {
		if limit != nil {
			if err := limit.wait(ctx); err != nil {
				return nil, err
			}
		}
		return client.fetch(ctx, q)
	}
	schema := e.in
	held := weir.Map(in, func(r Record) heldRecord { return holdRecord(r) }).Name(s.Name + " (hold)").ID(opID(s, "hold"))
	looked := weir.AsyncMap(held, func(ctx context.Context, h heldRecord) (Record, error) {
		r, err := h.record(schema)
		if err != nil {
			return nil, weir.Permanent(err)
		}
		q, ok, err := client.request(r)
		if err != nil {
			return nil, weir.Permanent(err)
		}
		var found Record
		if ok {
			if cache != nil {
				found, err = cache.get(ctx, q.key, func(ctx context.Context) (Record, error) { return fetch(ctx, q) })
			} else {
				found, err = fetch(ctx, q)
			}
			if err != nil {
				return nil, err
			}
		}
		return e.merge(r, found, q)
	}, weir.AsyncCapacity(e.concurrency), weir.AsyncTimeout(e.timeout), weir.AsyncRetries(e.retries, e.backoff)).Name(s.Name).ID(opID(s, ""))
	looked = enrichPolicy(b, s, looked)
	return looked.Filter(func(r Record) bool { return r != nil }).Name(s.Name + " (drop)").ID(opID(s, "drop"))
}

// enrichPolicy is the error policy of a lookup that fails: the step's
// own, else dead-letter when the pipeline has a dead-letter output, else
// the pipeline's.
func enrichPolicy[T any](b *builder, s *Step, st weir.Stream[T]) weir.Stream[T] {
	if s.OnError == nil && b.p.DeadLetter != nil {
		return st.OnError(weir.DeadLetter)
	}
	return policy(s, st)
}

// merge adds what a lookup found to a copy of r; found is nil on a miss.
// A record to drop is nil.
func (e *enrichStep) merge(r Record, found Record, q lookupRequest) (Record, error) {
	if found == nil {
		switch e.onMiss {
		case "drop":
			return nil, nil
		case "dead-letter":
			if q.what == "" {
				return nil, weir.Permanent(fmt.Errorf("enrich: no lookup: a key is null"))
			}
			return nil, weir.Permanent(fmt.Errorf("enrich: nothing found for %s", q.what))
		}
	}
	out := make(Record, len(r)+max(1, len(e.fields)))
	for k, v := range r {
		out[k] = v
	}
	switch {
	case e.into != "":
		if found == nil {
			out[e.into] = nil
		} else {
			out[e.into] = found
		}
	case e.fields != nil:
		for _, a := range e.fields {
			if found == nil {
				out[a.Field] = nil
				continue
			}
			v, err := a.Expr.eval(found)
			if err != nil {
				return nil, weir.Permanent(err)
			}
			out[a.Field] = normalize(v)
		}
	default:
		for k, v := range found {
			out[k] = v
		}
	}
	return out, nil
}

// keyText is a lookup key's value as text: in a URL or a cache key.
func keyText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x)), true
		}
	}
	return fmt.Sprint(v), true
}

// describeKey shortens a key for an error message.
func describeKey(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Lookup tells where an enrich step looks records up, for a server that
// restricts it: kind is "http" with the literal start of the step's URL —
// up to its first {{ }} placeholder, its ${env:…} and ${file:…} references
// resolved — "postgres" or "redis"; kind is "" for a step that is not an
// enrich step.
func (s *Step) Lookup() (kind, urlPrefix string) {
	e, ok := s.spec.(*enrichStep)
	if !ok {
		return "", ""
	}
	switch l := e.lookup.(type) {
	case *httpLookup:
		var b strings.Builder
		for _, p := range l.parts {
			if p.expr != nil {
				break
			}
			b.WriteString(p.text)
		}
		return "http", b.String()
	case *postgresLookup:
		return "postgres", ""
	case *redisLookup:
		return "redis", ""
	}
	return "", ""
}
