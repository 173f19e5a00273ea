package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// DefaultBatch is the default of SinkConfig.Batch.
const DefaultBatch = 512

// DefaultVersionField is the default of SinkConfig.VersionField.
const DefaultVersionField = "_version"

// SinkConfig configures a Sink. The zero value of every field but Conn,
// Key and one of Value and Fields has a default.
type SinkConfig[T any] struct {
	// Conn says how to reach the server. Required.
	Conn Conn
	// Key returns the Redis key a record is written to. Required.
	Key func(T) string
	// Value, when set, writes each record as a string (SET key value);
	// Fields, when set, as fields of a hash (HSET key field value …). One
	// is required.
	Value  format.Encoder[T]
	Fields func(T) map[string]string
	// Version returns a record's version: a write to a key is applied
	// only when its version is at least the version stored with the key,
	// so replayed records, which are older, cannot move a key back. Nil:
	// the record's event time in Unix milliseconds (0 without one).
	Version func(T) int64
	// VersionField is where the version is stored: a field of the hash
	// (Fields), or the key <key>:<VersionField> beside a string (Value);
	// default DefaultVersionField.
	VersionField string
	// TTL, when positive, expires each key written after it (and its
	// version key).
	TTL time.Duration
	// Batch is how many writes a writer pipelines in one round trip;
	// default DefaultBatch.
	Batch int
}

// Sink keeps a materialized view in Redis: every record is an upsert of
// its key, sent in pipelined batches — when Batch writes are buffered and
// at every checkpoint barrier, which makes it at-least-once — through a
// Lua script that applies a write only when its version is at least the
// one stored with the key. Replaying the records since a checkpoint after
// a restore (they are older than what the view holds) therefore leaves
// every key as an uninterrupted run leaves it, and never shows an older
// value in between: the view is exactly-once in effect. Version is the
// record's event time by default; a per-key sequence or the event's own
// version, when the records have one, is better (see docs/redis.md).
type Sink[T any] struct {
	cfg     SinkConfig[T]
	skipped atomic.Int64
}

var _ weir.Sink[int] = (*Sink[int])(nil)

// NewSink checks cfg and returns a sink.
func NewSink[T any](cfg SinkConfig[T]) (*Sink[T], error) {
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Key == nil:
		return nil, errors.New("redis: SinkConfig.Key is required")
	case cfg.Value == nil && cfg.Fields == nil:
		return nil, errors.New("redis: SinkConfig.Value (SET) or SinkConfig.Fields (HSET) is required")
	case cfg.Value != nil && cfg.Fields != nil:
		return nil, errors.New("redis: SinkConfig.Value and SinkConfig.Fields are exclusive")
	case cfg.Batch < 0:
		return nil, fmt.Errorf("redis: SinkConfig.Batch %d must not be negative", cfg.Batch)
	case cfg.TTL < 0:
		return nil, fmt.Errorf("redis: SinkConfig.TTL %v must not be negative", cfg.TTL)
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.VersionField == "" {
		cfg.VersionField = DefaultVersionField
	}
	return &Sink[T]{cfg: cfg}, nil
}

// Skipped returns how many writes the server skipped because the key held
// a higher version, over every job the sink served.
func (s *Sink[T]) Skipped() int64 { return s.skipped.Load() }

// hashScript: KEYS[1] the hash; ARGV version field, version, TTL in ms
// (0 none), then field, value pairs. It returns 1 when it wrote.
var hashScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) > tonumber(ARGV[2]) then return 0 end
local args = {ARGV[1], ARGV[2]}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(args))
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`)

// stringScript: KEYS[1] the key, KEYS[2] its version key; ARGV version,
// TTL in ms (0 none), value.
var stringScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[2])
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[3])
  redis.call('SET', KEYS[2], ARGV[1])
end
return 1`)

// Open implements weir.Sink.
func (s *Sink[T]) Open(ctx context.Context, _ weir.SinkInfo) (weir.SinkWriter[T], error) {
	cl, err := s.cfg.Conn.client(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer[T]{s: s, cl: cl, ttl: strconv.FormatInt(s.cfg.TTL.Milliseconds(), 10)}
	w.script = stringScript
	if s.cfg.Fields != nil {
		w.script = hashScript
	}
	if err := w.script.Load(ctx, cl).Err(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("redis: %s: load the upsert script: %w", s.cfg.Conn.Addr, err)
	}
	return w, nil
}

// op is one buffered upsert.
type op struct {
	keys []string
	args []any
}

type writer[T any] struct {
	s      *Sink[T]
	cl     *goredis.Client
	script *goredis.Script
	ttl    string
	buf    []op
	enc    []byte
}

var (
	_ weir.Flusher              = (*writer[int])(nil)
	_ weir.EventTimeWriter[int] = (*writer[int])(nil)
)

func (w *writer[T]) Write(v T) error { return w.WriteEventTime(v, time.Time{}) }

// WriteEventTime implements weir.EventTimeWriter: the event time is the
// default version.
func (w *writer[T]) WriteEventTime(v T, ts time.Time) error {
	cfg := &w.s.cfg
	key := cfg.Key(v)
	if key == "" {
		return errors.New("redis: the record's key is empty")
	}
	var ver int64
	switch {
	case cfg.Version != nil:
		ver = cfg.Version(v)
	case !ts.IsZero():
		ver = ts.UnixMilli()
	}
	vs := strconv.FormatInt(ver, 10)
	var o op
	if cfg.Fields != nil {
		fs := cfg.Fields(v)
		if len(fs) == 0 {
			return fmt.Errorf("redis: key %q: the record has no fields to write", key)
		}
		o = op{keys: []string{key}, args: make([]any, 0, 3+2*len(fs))}
		o.args = append(o.args, cfg.VersionField, vs, w.ttl)
		for f, x := range fs {
			if f == cfg.VersionField {
				return fmt.Errorf("redis: key %q: field %q is where the version is kept (SinkConfig.VersionField)", key, f)
			}
			o.args = append(o.args, f, x)
		}
	} else {
		b, err := cfg.Value.Encode(w.enc[:0], v)
		if err != nil {
			return fmt.Errorf("redis: key %q: encode: %w", key, err)
		}
		w.enc = b
		o = op{keys: []string{key, key + ":" + cfg.VersionField}, args: []any{vs, w.ttl, string(b)}}
	}
	w.buf = append(w.buf, o)
	if len(w.buf) >= cfg.Batch {
		return w.Flush()
	}
	return nil
}

// Flush implements weir.Flusher: it sends the buffered upserts in one
// pipeline, in order, and reloads the script once when the server lost it
// (a restart): the upserts are idempotent, so sending a batch again is
// safe.
func (w *writer[T]) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	ctx := context.Background()
	err := w.send(ctx)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		if err = w.script.Load(ctx, w.cl).Err(); err == nil {
			err = w.send(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("redis: %s: %w", w.s.cfg.Conn.Addr, err)
	}
	clear(w.buf)
	w.buf = w.buf[:0]
	return nil
}

func (w *writer[T]) send(ctx context.Context) error {
	p := w.cl.Pipeline()
	cmds := make([]*goredis.Cmd, len(w.buf))
	for i, o := range w.buf {
		cmds[i] = w.script.EvalSha(ctx, p, o.keys, o.args...)
	}
	if _, err := p.Exec(ctx); err != nil {
		return err
	}
	for _, c := range cmds {
		if n, _ := c.Int64(); n == 0 {
			w.s.skipped.Add(1)
		}
	}
	return nil
}

func (w *writer[T]) Close() error {
	err := w.Flush()
	w.cl.Close()
	return err
}
