package pipeline

import (
	"fmt"
	"net/http"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/webhook"
)

// WebhookOutput posts each record as JSON to an HTTP endpoint
// (connectors/webhook), at-least-once, with an idempotency key.
type WebhookOutput struct {
	// URL is the endpoint, its references resolved.
	URL string
	// Headers are sent with every request.
	Headers http.Header
	// KeyHeader carries the idempotency key (default Idempotency-Key).
	KeyHeader string
	// Key, when set, computes each record's idempotency key; by default it
	// is a hash of the output's name and the record's JSON.
	Key *Expr
	// Timeout bounds an attempt; Retries and Backoff say how a failure
	// that may pass is retried; Concurrency bounds the requests in flight
	// per subtask.
	Timeout     time.Duration
	Retries     int
	Backoff     time.Duration
	Concurrency int
	// DrainTimeout is how long a job stopping with a savepoint lets the
	// posts in flight finish (see webhook.Config).
	DrainTimeout time.Duration
	// OnError is the policy of a record the endpoint refuses or that
	// fails after its retries; by default dead-letter when the pipeline
	// has a dead_letter output, else the pipeline's policy.
	OnError *weir.ErrorPolicy

	shown string // the URL as written, references unresolved
}

// The defaults of a webhook output.
const (
	defaultWebhookTimeout     = 10 * time.Second
	defaultWebhookRetries     = 5
	defaultWebhookBackoff     = 200 * time.Millisecond
	defaultWebhookConcurrency = 8
)

func (r *reader) webhookOutput(o *obj, what string) *WebhookOutput {
	w := &WebhookOutput{URL: r.secret(o, "url"), shown: r.str(o, "url"), KeyHeader: r.str(o, "key_header"),
		Timeout: r.duration(o, "timeout"), Retries: int(r.integer(o, "retries", defaultWebhookRetries)),
		Backoff: r.duration(o, "backoff"), Concurrency: int(r.integer(o, "concurrency", defaultWebhookConcurrency))}
	if w.URL == "" {
		r.errorf(o.pos, "%s: missing field \"url\", the endpoint records are posted to", what)
	} else if err := (webhook.Config{URL: w.URL}).Validate(); err != nil {
		r.errorf(o.keyPos("url"), "%s: url: want an http:// or https:// URL with a host, got %q", what, w.shown)
	}
	if o.has("timeout") && w.Timeout == 0 {
		r.errorf(o.keyPos("timeout"), "%s: timeout must be positive", what)
	}
	if w.Timeout == 0 {
		w.Timeout = defaultWebhookTimeout
	}
	w.DrainTimeout = r.duration(o, "drain_timeout") // 0: the default
	if !o.has("backoff") {
		w.Backoff = defaultWebhookBackoff
	}
	if w.Retries < 0 || w.Retries > 100 {
		r.errorf(o.keyPos("retries"), "%s: retries: want 0 to 100, got %d", what, w.Retries)
	}
	if w.Concurrency < 1 || w.Concurrency > 10_000 {
		r.errorf(o.keyPos("concurrency"), "%s: concurrency: want 1 to 10000 requests in flight per subtask, got %d", what, w.Concurrency)
	}
	if hn := o.get("headers"); hn != nil {
		if ho := r.object(hn, what+": headers"); ho != nil {
			w.Headers = http.Header{}
			for _, mv := range ho.keys {
				name := mv.Key.GetToken().Value
				w.Headers.Set(name, r.secret(ho, name))
			}
		}
	}
	if kn := o.get("idempotency_key"); kn != nil {
		w.Key = r.expr(kn, what+": idempotency_key")
	}
	if pn := o.get("on_error"); pn != nil {
		if pol, ok := r.policy(pn, what+": on_error"); ok {
			w.OnError = &pol
		}
	}
	return w
}

// webhook posts st's records; the delivery's operator holds the records
// in flight (output/NAME/post) and a sink that drops what is delivered
// ends the stream (output/NAME, whose count is what was delivered).
func (b *builder) webhook(o *Output, st weir.Stream[Record], id string) {
	w := o.Webhook
	c, err := webhook.New(webhook.Config{URL: w.URL, Name: w.shown, Header: w.Headers, KeyHeader: w.KeyHeader,
		Timeout: w.Timeout, Retries: w.Retries, Backoff: w.Backoff, Concurrency: w.Concurrency, DrainTimeout: w.DrainTimeout})
	if err != nil {
		b.fail(fmt.Errorf("output %q: %w", o.Name, err))
		return
	}
	schema := o.schema
	body := func(h heldRecord) ([]byte, error) {
		r, err := h.record(schema)
		if err != nil {
			return nil, err
		}
		return encodeJSON(r)
	}
	key := func(h heldRecord) (string, error) {
		if w.Key == nil {
			b, err := body(h)
			if err != nil {
				return "", err
			}
			return webhook.ContentKey([]byte(o.Name), b), nil
		}
		r, err := h.record(schema)
		if err != nil {
			return "", err
		}
		v, err := w.Key.eval(r)
		if err != nil {
			return "", err
		}
		s, ok := keyText(v)
		if !ok {
			return "", fmt.Errorf("%s: %s is null", w.Key.what, w.Key.Source)
		}
		return s, nil
	}
	held := weir.Map(st, holdRecord).Name(o.Name + " (hold)").ID(id + "/hold")
	posted := webhook.Post(held, c, body, key).Name(o.Name + " (post)").ID(id + "/post")
	switch {
	case w.OnError != nil:
		posted = posted.OnError(*w.OnError)
	case b.p.DeadLetter != nil:
		posted = posted.OnError(weir.DeadLetter)
	}
	weir.To(posted, webhook.Discard[heldRecord]()).Name(o.Name).ID(id)
}

// checkWebhook compiles a webhook output's key and checks its policy.
func (c *checker) checkWebhook(o *Output) {
	w := o.Webhook
	if w == nil {
		return
	}
	if w.Key != nil {
		c.compile(w.Key, o.schema, TypeAny, nil)
	}
	if w.OnError != nil && *w.OnError == weir.DeadLetter && c.p.DeadLetter == nil {
		c.r.errorf(o.Pos, "output %q: on_error dead-letter needs the pipeline's dead_letter output", o.Name)
	}
}
