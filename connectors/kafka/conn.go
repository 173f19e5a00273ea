package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Conn says how to reach and authenticate to a Kafka cluster. Sources and
// sinks take one each; the zero value of every field but Brokers has a
// default.
type Conn struct {
	// Brokers are the seed brokers, "host:port" each. Required.
	Brokers []string
	// TLS, when set, encrypts every connection with this configuration;
	// nil means plaintext. TLSFiles builds one from PEM files.
	TLS *tls.Config
	// SASL, when set, authenticates every connection.
	SASL *SASL
	// ClientID names the client to the brokers (their logs and quotas);
	// default "weir".
	ClientID string
	// DialTimeout bounds each connection attempt; default 10 s.
	DialTimeout time.Duration
	// StartTimeout bounds how long opening a source or sink waits for the
	// cluster to answer its first request, so that a wrong address or
	// credentials fail the job at its start with the broker's error
	// instead of retrying forever; default 30 s.
	StartTimeout time.Duration
}

// SASL mechanisms Conn supports.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// SASL is a user's credentials and the mechanism that presents them.
type SASL struct {
	// Mechanism is Plain, ScramSHA256 or ScramSHA512.
	Mechanism string
	User      string
	Password  string
}

const (
	defaultClientID     = "weir"
	defaultDialTimeout  = 10 * time.Second
	defaultStartTimeout = 30 * time.Second
)

// Validate reports the first problem with the connection settings, naming
// the field.
func (c Conn) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka: Conn.Brokers is required (host:port of at least one broker)")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return fmt.Errorf("kafka: Conn.Brokers[%d] %q: want host:port", i, b)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("kafka: Conn.Brokers[%d] %q: port %q is not a number in 1–65535", i, b, port)
		}
	}
	switch {
	case c.DialTimeout < 0:
		return fmt.Errorf("kafka: Conn.DialTimeout %v must not be negative", c.DialTimeout)
	case c.StartTimeout < 0:
		return fmt.Errorf("kafka: Conn.StartTimeout %v must not be negative", c.StartTimeout)
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case Plain, ScramSHA256, ScramSHA512:
		default:
			return fmt.Errorf("kafka: Conn.SASL.Mechanism %q: want %s, %s or %s", s.Mechanism, Plain, ScramSHA256, ScramSHA512)
		}
		if s.User == "" {
			return errors.New("kafka: Conn.SASL.User is required with SASL")
		}
	}
	return nil
}

// options returns the client options that connect as c says.
func (c Conn) options() []kgo.Opt {
	id := c.ClientID
	if id == "" {
		id = defaultClientID
	}
	dial := c.DialTimeout
	if dial == 0 {
		dial = defaultDialTimeout
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(id), kgo.DialTimeout(dial)}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	if s := c.SASL; s != nil {
		opts = append(opts, kgo.SASL(s.mechanism()))
	}
	return opts
}

func (s SASL) mechanism() sasl.Mechanism {
	switch s.Mechanism {
	case Plain:
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()
	case ScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()
	default:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()
	}
}

// newClient opens a client with c's connection settings and opts, and
// waits until a broker has answered (authentication included), so that a
// mistake in the settings is an error now, naming the brokers, rather than
// retries without end later.
func (c Conn) newClient(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(c.options(), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	wait := c.StartTimeout
	if wait == 0 {
		wait = defaultStartTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if pctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no broker answered within %v (Conn.StartTimeout): %w", wait, err)
		}
		return nil, fmt.Errorf("kafka: brokers %v: %w", c.Brokers, err)
	}
	return cl, nil
}

// TLSFiles returns a TLS configuration that trusts the certificate
// authorities in the PEM file caFile ("" for the system's) and, when
// certFile and keyFile are set, presents that client certificate.
func TLSFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS CA file %s holds no PEM certificate", caFile)
		}
		c.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, errors.New("kafka: a TLS client certificate needs both its certificate and its key file")
	}
	return c, nil
}

// startTimeout is StartTimeout or its default.
func (c Conn) startTimeout() time.Duration {
	if c.StartTimeout == 0 {
		return defaultStartTimeout
	}
	return c.StartTimeout
}
