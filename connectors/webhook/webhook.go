// Package webhook delivers a stream's records to an HTTP endpoint: one POST
// per record, its body the record's encoding, with an idempotency key
// header that is the same every time the record is sent, so the receiver
// can drop what it has seen.
//
// Delivery is at-least-once. Post runs the requests through weir.AsyncMap:
// up to Concurrency of them in flight per subtask, each attempt bounded by
// Timeout, retried with doubling backoff when the failure may pass (a
// connection error, a timeout, 408, 429 or a 5xx). The records whose
// requests are in flight at a checkpoint are in the checkpoint and sent
// again after a restore; the records after it are read again. A job that
// stops with a savepoint lets the posts in flight finish, retries
// included, for up to DrainTimeout before it ends, so that a stop does not
// cut them off (they are in the savepoint too). A record
// the endpoint refuses for itself (another 4xx) is not retried: it meets
// the error policy of Post's operator, dead letters with the status and
// the start of the answer's body under weir.DeadLetter.
//
//	posted := webhook.Post(orders, client, encode, key).OnError(weir.DeadLetter)
//	weir.To(posted, webhook.Discard[Order]())
//
// docs/pipelines.md describes the webhook output of pipelines, which is
// built on this package.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/weirstream/weir"
)

// Config configures a Client.
type Config struct {
	// URL is the endpoint records are posted to. Required.
	URL string
	// Name names the endpoint in errors (and so in dead letters); by
	// default the URL without its user information and query, which may
	// hold secrets.
	Name string
	// Header is sent with every request (an Authorization, say).
	Header http.Header
	// ContentType is the body's type (default "application/json").
	ContentType string
	// KeyHeader is the header carrying each record's idempotency key
	// (default "Idempotency-Key").
	KeyHeader string
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Retries is how many times a failure that may pass is retried after
	// the first attempt (0: never); Backoff is the wait before the first
	// retry (default 200ms), doubled before each next one.
	Retries int
	Backoff time.Duration
	// Concurrency is the most requests in flight per subtask (default 8).
	Concurrency int
	// DrainTimeout is how long a job stopping with a savepoint lets the
	// posts in flight finish, with their retries, before it ends (default
	// 30s); they are in the savepoint all the same, and sent again after a
	// restore. A job that is canceled or fails cuts them off at once.
	DrainTimeout time.Duration
	// Client sends the requests; nil means one of this package's.
	Client *http.Client
}

// Validate checks the configuration and names the field that is wrong.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("webhook.Config.URL is required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, errors.New("webhook.Config.URL: want an http:// or https:// URL with a host"))
	}
	if c.Timeout < 0 || c.Backoff < 0 || c.Retries < 0 || c.Concurrency < 0 || c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("webhook.Config: Timeout %v, Backoff %v, Retries %d, Concurrency %d and DrainTimeout %v must not be negative", c.Timeout, c.Backoff, c.Retries, c.Concurrency, c.DrainTimeout))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		if u, err := url.Parse(c.URL); err == nil {
			u.User, u.RawQuery, u.Fragment = nil, "", ""
			c.Name = u.String()
		}
	}
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	if c.KeyHeader == "" {
		c.KeyHeader = "Idempotency-Key"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Backoff == 0 {
		c.Backoff = 200 * time.Millisecond
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: c.Concurrency,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return c
}

// Client posts records to one endpoint; it is safe for concurrent use.
type Client struct {
	cfg Config
}

// New returns a client of the endpoint cfg names.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg.withDefaults()}, nil
}

// StatusError is a request the endpoint answered with a status other than
// a success.
type StatusError struct {
	// Endpoint is the Config's Name.
	Endpoint string
	Status   int
	// Body is the start of the answer's body.
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("POST %s: %d %s", e.Endpoint, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Transient reports whether the status may go away on a retry: 408, 429
// and the 5xx.
func (e *StatusError) Transient() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Send makes one attempt to post body with idempotency key key. A refusal
// that a retry would get again (a 4xx other than 408 and 429) is marked
// weir.Permanent; other errors may pass.
func (c *Client) Send(ctx context.Context, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return weir.Permanent(fmt.Errorf("POST %s: %v", c.cfg.Name, errors.Unwrap(err)))
	}
	for k, vs := range c.cfg.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", c.cfg.ContentType)
	if key != "" {
		req.Header.Set(c.cfg.KeyHeader, key)
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		// url.Error names the whole URL, which may hold a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s: %w", c.cfg.Name, err)
	}
	defer resp.Body.Close()
	start, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	// Read the rest so that the connection is kept.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	se := &StatusError{Endpoint: c.cfg.Name, Status: resp.StatusCode, Body: snippet(start)}
	if se.Transient() {
		return se
	}
	return weir.Permanent(se)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Post delivers every record of s with c, encoded by encode, with the
// idempotency key key returns for it (none when it returns ""), and
// emits each record once it is delivered. Give the key function what
// identifies the record itself — an event ID, or a hash of its contents
// (ContentKey) — so that the key is the same when the record is sent
// again after a restore. A record encode or key fails on, or that the
// endpoint refuses, meets the operator's error policy (set it with
// OnError on the stream Post returns). With checkpoints T needs a codec
// (package codec), as weir.AsyncMap's input does.
func Post[T any](s weir.Stream[T], c *Client, encode func(T) ([]byte, error), key func(T) (string, error)) weir.Stream[T] {
	cfg := c.cfg
	return weir.AsyncMap(s, func(ctx context.Context, v T) (T, error) {
		body, err := encode(v)
		if err != nil {
			return v, weir.Permanent(fmt.Errorf("POST %s: encoding the record: %w", cfg.Name, err))
		}
		k, err := key(v)
		if err != nil {
			return v, weir.Permanent(fmt.Errorf("POST %s: the idempotency key: %w", cfg.Name, err))
		}
		return v, c.Send(ctx, k, body)
	}, weir.AsyncCapacity(cfg.Concurrency), weir.AsyncTimeout(cfg.Timeout), weir.AsyncRetries(cfg.Retries, cfg.Backoff), weir.AsyncDrain(cfg.DrainTimeout), weir.AsyncUnordered())
}

// ContentKey is an idempotency key made of the contents of a record: the
// first 128 bits of the SHA-256 of its parts, in hex. Records with the
// same contents have the same key, so a receiver that drops repeated keys
// drops them too: use it when equal records are the same event.
func ContentKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Discard is a sink that drops what it is given: the end of a stream of
// delivered records.
func Discard[T any]() weir.Sink[T] { return discard[T]{} }

type discard[T any] struct{}

func (discard[T]) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[T], error) {
	return discard[T]{}, nil
}

func (discard[T]) Write(T) error { return nil }
func (discard[T]) Close() error  { return nil }

var _ weir.Sink[int] = discard[int]{}
