package platform

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/webhook"
)

// webhookSink posts each alert's opening and closing as JSON, with the
// idempotency key "<id>-<state>", retrying what may pass with doubling
// backoff.
type webhookSink struct {
	c       *webhook.Client
	retries int
	backoff time.Duration
	url     string
}

func newWebhookSink(cfg Alerting) (*webhookSink, error) {
	h := http.Header{}
	for k, v := range cfg.Webhook.Headers {
		h.Set(k, v)
	}
	c, err := webhook.New(webhook.Config{URL: cfg.Webhook.URL, Header: h, Timeout: cfg.webhookTimeout, Concurrency: 1})
	if err != nil {
		return nil, fmt.Errorf("alerts webhook: %w", err)
	}
	return &webhookSink{c: c, retries: cfg.webhookRetries, backoff: cfg.webhookBackoff, url: cfg.Webhook.URL}, nil
}

func (w *webhookSink) name() string { return "webhook" }
func (w *webhookSink) close()       {}

func (w *webhookSink) deliver(ctx context.Context, a Alert) error {
	body := alertJSON(a)
	backoff := w.backoff
	for attempt := 0; ; attempt++ {
		err := w.c.Send(ctx, a.ID+"-"+a.State, body)
		if err == nil || weir.IsPermanent(err) || attempt >= w.retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// kafkaSink produces each alert's opening and closing to a topic, keyed
// by the alert's ID, so both land in one partition in order.
type kafkaSink struct {
	cl    *kgo.Client
	topic string
}

func newKafkaSink(cfg AlertKafkaConfig) (*kafkaSink, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordDeliveryTimeout(time.Minute), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return nil, fmt.Errorf("alerts kafka: %w", err)
	}
	return &kafkaSink{cl: cl, topic: cfg.Topic}, nil
}

func (k *kafkaSink) name() string { return "kafka" }
func (k *kafkaSink) close()       { k.cl.Close() }

func (k *kafkaSink) deliver(ctx context.Context, a Alert) error {
	rec := &kgo.Record{Topic: k.topic, Key: []byte(a.ID), Value: alertJSON(a),
		Headers: []kgo.RecordHeader{{Key: "state", Value: []byte(a.State)}}}
	return k.cl.ProduceSync(ctx, rec).FirstErr()
}
