package nats

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Conn says how to reach and authenticate to NATS servers. Sources and
// sinks take one each; the zero value of every field but URLs has a
// default.
type Conn struct {
	// URLs are the servers, "nats://host:port" each (or tls://). Required.
	URLs []string
	// User and Password, when User is set, authenticate the connection;
	// Token, when set, authenticates it with a token instead.
	User, Password string
	Token          string
	// TLS, when set, encrypts the connection with this configuration.
	TLS *tls.Config
	// Name names the connection to the server (its monitoring); default
	// "weir".
	Name string
	// ConnectTimeout bounds connecting when a source or sink opens, so
	// that a wrong address or credentials fail the job at its start;
	// default 10 s.
	ConnectTimeout time.Duration
}

const (
	defaultName           = "weir"
	defaultConnectTimeout = 10 * time.Second
	publishTimeout        = 30 * time.Second
)

// Validate reports the first problem with the connection settings, naming
// the field.
func (c Conn) Validate() error {
	if len(c.URLs) == 0 {
		return errors.New("nats: Conn.URLs is required (nats://host:port of at least one server)")
	}
	for i, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("nats: Conn.URLs[%d] %q: want nats://host:port", i, s)
		}
		switch u.Scheme {
		case "nats", "tls":
		default:
			return fmt.Errorf("nats: Conn.URLs[%d] %q: scheme %q, want nats or tls", i, s, u.Scheme)
		}
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("nats: Conn.ConnectTimeout %v must not be negative", c.ConnectTimeout)
	}
	if c.User != "" && c.Token != "" {
		return errors.New("nats: Conn.User and Conn.Token are exclusive")
	}
	return nil
}

// connect opens a connection and its JetStream context. The connection
// reconnects by itself after it is established; connecting the first
// time is bounded by ConnectTimeout and fails with the server's error.
func (c Conn) connect(ctx context.Context) (*natsio.Conn, jetstream.JetStream, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	name := c.Name
	if name == "" {
		name = defaultName
	}
	wait := c.ConnectTimeout
	if wait == 0 {
		wait = defaultConnectTimeout
	}
	opts := []natsio.Option{natsio.Name(name), natsio.Timeout(wait), natsio.MaxReconnects(-1)}
	if c.User != "" {
		opts = append(opts, natsio.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, natsio.Token(c.Token))
	}
	if c.TLS != nil {
		opts = append(opts, natsio.Secure(c.TLS.Clone()))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	nc, err := natsio.Connect(strings.Join(c.URLs, ","), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("nats: servers %v: %w", c.URLs, err)
	}
	// A publish the server never acknowledges (a connection lost) fails
	// after the timeout instead of holding a checkpoint forever.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishTimeout))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("nats: servers %v: %w", c.URLs, err)
	}
	return nc, js, nil
}
