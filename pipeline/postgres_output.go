package pipeline

import (
	"fmt"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/postgres"
)

// PostgresOutput writes records to a PostgreSQL table
// (connectors/postgres): each column the record's field of its name.
type PostgresOutput struct {
	DSN     string
	Table   string
	Columns []string
	// Key are the columns of a primary key or unique constraint: rows are
	// upserted by them. Empty: rows are appended.
	Key []string
	// Delivery is "at-least-once" (the default: batches flushed at every
	// checkpoint) or "exactly-once" (each checkpoint's rows committed in
	// one transaction with its ID in weir_sink_commits).
	Delivery string
}

func (r *reader) postgresOutput(o *obj, what string) *PostgresOutput {
	p := &PostgresOutput{DSN: r.secret(o, "dsn"), Table: r.secret(o, "table"), Columns: r.strs(o, "columns", false),
		Key: r.strs(o, "key", false), Delivery: r.str(o, "delivery")}
	if !o.has("dsn") {
		r.errorf(o.pos, "%s: missing field \"dsn\", the connection string", what)
	}
	if p.Table == "" {
		r.errorf(o.pos, "%s: missing field \"table\"", what)
	}
	if len(p.Columns) == 0 {
		r.errorf(o.pos, "%s: missing field \"columns\", the record fields written, each to the column of its name", what)
	}
	switch p.Delivery {
	case "":
		p.Delivery = "at-least-once"
	case "at-least-once", "exactly-once":
	default:
		r.errorf(o.keyPos("delivery"), "%s: delivery: want at-least-once or exactly-once, got %q", what, p.Delivery)
	}
	return p
}

// postgresSink writes a PostgreSQL output's records.
func (b *builder) postgresSink(o *Output, st weir.Stream[Record], id string) {
	p := o.Postgres
	cfg := postgres.SinkConfig[Record]{DSN: p.DSN, Table: p.Table, Columns: p.Columns, Key: p.Key,
		Values: func(r Record) []any {
			vals := make([]any, len(p.Columns))
			for i, c := range p.Columns {
				vals[i] = r[c]
			}
			return vals
		}}
	var sink weir.Sink[Record]
	var err error
	if p.Delivery == "exactly-once" {
		sink, err = postgres.NewExactlyOnceSink(cfg, "pipeline/"+o.Name)
	} else {
		sink, err = postgres.NewSink(cfg)
	}
	if err != nil {
		b.fail(fmt.Errorf("output %q: %w", o.Name, err))
		return
	}
	weir.To(st, sink).Name(o.Name).ID(id)
}
