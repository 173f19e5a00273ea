package pipeline

import (
	"fmt"
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/nats"
)

// NATSInput reads a JetStream stream (connectors/nats): each subject
// filter is a split; its stream sequences are kept in checkpoints.
type NATSInput struct {
	Conn     nats.Conn
	Stream   string
	Subjects []string
}

// NATSOutput publishes each record as JSON to a JetStream subject.
type NATSOutput struct {
	Conn    nats.Conn
	Subject string
	// MsgID, when set, computes each message's deduplication ID
	// (Nats-Msg-Id): the stream drops the records a restored job writes
	// again, within its duplicate window. Without it the output is
	// at-least-once.
	MsgID *Expr
}

// natsConn reads a NATS connection: servers, user, password, token.
func (r *reader) natsConn(o *obj, what string) nats.Conn {
	c := nats.Conn{User: r.secret(o, "user"), Password: r.secret(o, "password"), Token: r.secret(o, "token")}
	// A list, or one string of comma-separated URLs (as an environment
	// variable holds them).
	for _, u := range r.strs(o, "servers", true) {
		for _, s := range strings.Split(u, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.URLs = append(c.URLs, s)
			}
		}
	}
	if len(c.URLs) == 0 {
		r.errorf(o.pos, "%s: missing field \"servers\" (nats://host:port, a list)", what)
	} else if err := c.Validate(); err != nil {
		r.errorf(o.keyPos("servers"), "%s: servers: %v", what, strings.TrimPrefix(err.Error(), "nats: "))
	}
	return c
}

func (r *reader) natsInput(o *obj, what string) *NATSInput {
	n := &NATSInput{Conn: r.natsConn(o, what), Stream: r.secret(o, "stream"), Subjects: r.strs(o, "subject", true)}
	if n.Stream == "" {
		r.errorf(o.pos, "%s: missing field \"stream\", the JetStream stream to read", what)
	}
	return n
}

func (r *reader) natsOutput(o *obj, what string) *NATSOutput {
	n := &NATSOutput{Conn: r.natsConn(o, what), Subject: r.secret(o, "subject")}
	if n.Subject == "" {
		r.errorf(o.pos, "%s: missing field \"subject\", the subject records are published to", what)
	}
	if kn := o.get("msg_id"); kn != nil {
		n.MsgID = r.expr(kn, what+": msg_id")
	}
	return n
}

// natsSource reads a NATS input's records.
func (b *builder) natsSource(in *Input, id string) weir.Stream[Record] {
	n := in.NATS
	src, err := nats.NewSource(nats.SourceConfig[Record]{Conn: n.Conn, Stream: n.Stream, Subjects: n.Subjects, Decoder: decoder{in.Schema}})
	if err != nil {
		b.fail(fmt.Errorf("input %q: %w", in.Name, err))
		return weir.From(b.env, weir.Slice[Record]()).Name(in.Name).ID(id)
	}
	recs := weir.From(b.env, src, timeOptions(in.EventTime)...).Name(in.Name).ID(id)
	return weir.Map(recs, func(r nats.Record[Record]) Record { return r.Value }).Name(in.Name + " (value)").ID(id + "/value")
}

// natsSink publishes a NATS output's records.
func (b *builder) natsSink(o *Output, st weir.Stream[Record], id string) {
	n := o.NATS
	cfg := nats.SinkConfig[Record]{Conn: n.Conn, Subject: n.Subject, Encoder: format.JSONRecord()}
	if n.MsgID != nil {
		e := n.MsgID
		// A record whose ID is null or fails to compute gets none: it is
		// published, at least once.
		cfg.MsgID = func(r Record) string {
			v, err := e.eval(r)
			if err != nil {
				return ""
			}
			s, _ := keyText(v)
			return s
		}
	}
	sink, err := nats.NewSink(cfg)
	if err != nil {
		b.fail(fmt.Errorf("output %q: %w", o.Name, err))
		return
	}
	weir.To(st, sink).Name(o.Name).ID(id)
}
