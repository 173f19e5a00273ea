package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Lookup reads keys for enrichment: a hash's fields or a string's value.
// It is safe for concurrent use; a job's AsyncMap or a pipeline's enrich
// step calls it from many goroutines, and caches what it returns.
type Lookup struct {
	addr string
	cl   *goredis.Client
}

// NewLookup connects to the server and pings it.
func NewLookup(ctx context.Context, c Conn) (*Lookup, error) {
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	return &Lookup{addr: c.Addr, cl: cl}, nil
}

// Hash returns the fields of the hash at key; nil when there is no such
// key.
func (l *Lookup) Hash(ctx context.Context, key string) (map[string]string, error) {
	m, err := l.cl.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %s: HGETALL %q: %w", l.addr, key, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// String returns the string at key; ok is false when there is no such key.
func (l *Lookup) String(ctx context.Context, key string) (v string, ok bool, err error) {
	v, err = l.cl.Get(ctx, key).Result()
	if errors.Is(err, goredis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis: %s: GET %q: %w", l.addr, key, err)
	}
	return v, true, nil
}

// Close closes the lookup's connections.
func (l *Lookup) Close() error { return l.cl.Close() }
