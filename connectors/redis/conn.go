package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Conn says how to reach a Redis server. The zero value of every field but
// Addr has a default.
type Conn struct {
	// Addr is the server's host:port. Required.
	Addr string
	// Username and Password authenticate the connection (AUTH); DB
	// selects the database.
	Username, Password string
	DB                 int
	// TLS, when set, encrypts the connection.
	TLS *tls.Config
	// DialTimeout bounds connecting and the first PING when a sink or
	// lookup opens, so that a wrong address fails the job at its start;
	// default 5 s.
	DialTimeout time.Duration
	// PoolSize is the most connections kept; default go-redis's (10 per
	// CPU).
	PoolSize int
}

const defaultDialTimeout = 5 * time.Second

// Validate reports the first problem with the settings, naming the field.
func (c Conn) Validate() error {
	if c.Addr == "" {
		return errors.New("redis: Conn.Addr is required (host:port)")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("redis: Conn.Addr %q: want host:port", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("redis: Conn.Addr %q: port %q is not a number in 1–65535", c.Addr, port)
	}
	switch {
	case c.DB < 0:
		return fmt.Errorf("redis: Conn.DB %d must not be negative", c.DB)
	case c.DialTimeout < 0:
		return fmt.Errorf("redis: Conn.DialTimeout %v must not be negative", c.DialTimeout)
	case c.PoolSize < 0:
		return fmt.Errorf("redis: Conn.PoolSize %d must not be negative", c.PoolSize)
	}
	return nil
}

// client opens a client and pings the server.
func (c Conn) client(ctx context.Context) (*goredis.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	dial := c.DialTimeout
	if dial == 0 {
		dial = defaultDialTimeout
	}
	opts := &goredis.Options{Addr: c.Addr, Username: c.Username, Password: c.Password, DB: c.DB,
		DialTimeout: dial, PoolSize: c.PoolSize}
	if c.TLS != nil {
		opts.TLSConfig = c.TLS.Clone()
	}
	cl := goredis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, dial)
	defer cancel()
	if err := cl.Ping(pctx).Err(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("redis: %s: %w", c.Addr, err)
	}
	return cl, nil
}
