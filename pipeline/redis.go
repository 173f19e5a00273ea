package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/redis"
)

// redisConn reads a Redis connection: addr, username, password, db.
func (r *reader) redisConn(o *obj, what string) redis.Conn {
	c := redis.Conn{Addr: r.secret(o, "addr"), Username: r.secret(o, "username"), Password: r.secret(o, "password"),
		DB: int(r.integer(o, "db", 0))}
	if !o.has("addr") {
		r.errorf(o.pos, "%s: missing field \"addr\", the server's host:port", what)
	}
	return c
}

// redisValue reads how a Redis value is kept: "hash" (the default) or
// "json".
func (r *reader) redisValue(o *obj, what string) string {
	switch v := r.str(o, "value"); v {
	case "", "hash":
		return "hash"
	case "json":
		return "json"
	default:
		r.errorf(o.keyPos("value"), "%s: value: want hash (fields of a hash) or json (a string holding a JSON object), got %q", what, v)
		return ""
	}
}

// redisLookup reads the key an expression of the record gives: a hash's
// fields, or a string holding a JSON object.
type redisLookup struct {
	conn  redis.Conn
	key   *Expr
	value string
}

func parseRedisLookup(r *reader, n ast.Node, what string) lookup {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	l := &redisLookup{conn: r.redisConn(o, what), value: r.redisValue(o, what)}
	if kn := o.require("key"); kn != nil {
		l.key = r.expr(kn, what+": key")
	}
	o.finish()
	return l
}

func (l *redisLookup) check(c *checker, in *Schema) {
	if l.key != nil {
		c.compile(l.key, in, TypeAny, nil)
	}
}

func (l *redisLookup) open(*enrichStep) (lookupClient, error) { return &redisClient{l: l}, nil }

// redisClient connects at its first lookup: weir test runs a pipeline
// without the variables its references name.
type redisClient struct {
	l  *redisLookup
	mu struct {
		sync.Mutex
		lookup *redis.Lookup
		closed bool
	}
}

func (c *redisClient) client(ctx context.Context) (*redis.Lookup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, errors.New("redis: the lookup is closed")
	}
	if c.mu.lookup == nil {
		if err := c.l.conn.Validate(); err != nil {
			return nil, weir.Permanent(err)
		}
		l, err := redis.NewLookup(ctx, c.l.conn)
		if err != nil {
			return nil, err
		}
		c.mu.lookup = l
	}
	return c.mu.lookup, nil
}

func (c *redisClient) request(r Record) (lookupRequest, bool, error) {
	v, err := c.l.key.eval(r)
	if err != nil {
		return lookupRequest{}, false, err
	}
	s, ok := keyText(normalize(v))
	if !ok {
		return lookupRequest{}, false, nil
	}
	return lookupRequest{key: s, what: "key " + describeKey(s)}, true, nil
}

func (c *redisClient) fetch(ctx context.Context, q lookupRequest) (Record, error) {
	l, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	if c.l.value == "json" {
		s, ok, err := l.String(ctx, q.key)
		if err != nil || !ok {
			return nil, err
		}
		rec, err := format.JSONRecord().Decode([]byte(s))
		if err != nil {
			return nil, weir.Permanent(fmt.Errorf("redis: %s: %w", q.what, err))
		}
		return rec, nil
	}
	m, err := l.Hash(ctx, q.key)
	if err != nil || m == nil {
		return nil, err
	}
	rec := make(Record, len(m))
	for k, v := range m {
		rec[k] = v
	}
	return rec, nil
}

func (c *redisClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	if c.mu.lookup != nil {
		c.mu.lookup.Close()
	}
}

// RedisOutput keeps a materialized view in Redis (connectors/redis): each
// record upserts its key, the write of the highest version winning.
type RedisOutput struct {
	Conn redis.Conn
	// Key computes each record's key; Version its version (default: its
	// event time in Unix milliseconds).
	Key     *Expr
	Version *Expr
	// Value is "hash" (each top-level field a field of the hash, as text)
	// or "json" (SET of the record's JSON).
	Value string
	TTL   time.Duration
}

func (r *reader) redisOutput(o *obj, what string) *RedisOutput {
	out := &RedisOutput{Conn: r.redisConn(o, what), Value: r.redisValue(o, what), TTL: r.duration(o, "ttl")}
	if kn := o.require("key"); kn != nil {
		out.Key = r.expr(kn, what+": key")
	}
	if vn := o.get("version"); vn != nil {
		out.Version = r.expr(vn, what+": version")
	}
	return out
}

// checkRedis compiles a Redis output's expressions.
func (c *checker) checkRedis(o *Output) {
	if ro := o.Redis; ro != nil {
		if ro.Key != nil {
			c.compile(ro.Key, o.schema, TypeAny, nil)
		}
		if ro.Version != nil {
			c.compile(ro.Version, o.schema, TypeAny, nil)
		}
	}
}

// redisSink writes a Redis output's records.
func (b *builder) redisSink(o *Output, st weir.Stream[Record], id string) {
	ro := o.Redis
	text := func(e *Expr, r Record) string {
		v, err := e.eval(r)
		if err != nil {
			return ""
		}
		s, _ := keyText(normalize(v))
		return s
	}
	cfg := redis.SinkConfig[Record]{Conn: ro.Conn, TTL: ro.TTL, Key: func(r Record) string { return text(ro.Key, r) }}
	if ro.Version != nil {
		cfg.Version = func(r Record) int64 {
			v, err := ro.Version.eval(r)
			if err != nil {
				return 0
			}
			switch x := normalize(v).(type) {
			case int64:
				return x
			case float64:
				return int64(x)
			case time.Time:
				return x.UnixMilli()
			}
			return 0
		}
	}
	if ro.Value == "json" {
		cfg.Value = format.JSONRecord()
	} else {
		cfg.Fields = func(r Record) map[string]string {
			m := make(map[string]string, len(r))
			for k, v := range r {
				if s, ok := v.(string); ok {
					m[k] = s
					continue
				}
				b, err := format.JSONRecord().Encode(nil, Record{"v": v})
				if err != nil {
					continue
				}
				// {"v":…}: the value's JSON.
				m[k] = string(b[5 : len(b)-1])
			}
			return m
		}
	}
	sink, err := redis.NewSink(cfg)
	if err != nil {
		b.fail(fmt.Errorf("output %q: %w", o.Name, err))
		return
	}
	weir.To(st, sink).Name(o.Name).ID(id)
}
