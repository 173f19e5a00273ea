package pipeline

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weirstream/weir"
)

// postgresLookup runs a query with parameters computed from the record
// and takes its first row. pgx prepares the query on each connection the
// first time it runs there and reuses the statement after.
type postgresLookup struct {
	dsn    string
	query  string
	params []*Expr
}

// placeholder matches a query's $1, $2, … (in quoted text too: a query
// with a literal "$1" in a string is rare enough to give a parameter for).
var placeholder = regexp.MustCompile(`\$([0-9]+)`)

func parsePostgresLookup(r *reader, n ast.Node, what string) lookup {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	l := &postgresLookup{dsn: r.secret(o, "dsn"), query: r.str(o, "query")}
	// The DSN is checked when the job first looks up: weir test runs
	// a pipeline without the variables its references name.
	if l.dsn == "" && !o.has("dsn") {
		r.errorf(o.pos, "%s: missing field \"dsn\", the connection string (postgres://user:password@host:port/db, or key=value pairs)", what)
	}
	if !o.has("query") {
		r.errorf(o.pos, "%s: missing field \"query\", the SELECT whose first row enriches the record", what)
	}
	if pn := o.get("params"); pn != nil {
		for i, en := range r.list(pn, what+": params") {
			if e := r.expr(en, fmt.Sprintf("%s: params: $%d", what, i+1)); e != nil {
				l.params = append(l.params, e)
			}
		}
	}
	most := 0
	for _, m := range placeholder.FindAllStringSubmatch(l.query, -1) {
		if k, err := strconv.Atoi(m[1]); err == nil && k > most {
			most = k
		}
	}
	if l.query != "" && most != len(l.params) {
		r.errorf(o.keyPos("params"), "%s: the query uses parameters up to $%d but params gives %d", what, most, len(l.params))
	}
	o.finish()
	return l
}

func (l *postgresLookup) check(c *checker, in *Schema) {
	for _, e := range l.params {
		c.compile(e, in, TypeAny, nil)
	}
}

func (l *postgresLookup) open(e *enrichStep) (lookupClient, error) {
	return &postgresClient{l: l, conns: int32(e.concurrency)}, nil
}

// postgresClient makes its pool at its first lookup; the pool connects as
// lookups need connections, up to conns.
type postgresClient struct {
	l     *postgresLookup
	conns int32
	mu    struct {
		sync.Mutex
		pool   *pgxpool.Pool
		closed bool
	}
}

func (c *postgresClient) pool() (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.pool != nil || c.mu.closed {
		if c.mu.closed {
			return nil, errors.New("postgres: the lookup is closed")
		}
		return c.mu.pool, nil
	}
	// pgx leaves the password out of its errors.
	cfg, err := pgxpool.ParseConfig(c.l.dsn)
	if err != nil {
		return nil, weir.Permanent(fmt.Errorf("postgres: dsn: %w", err))
	}
	cfg.MaxConns = c.conns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, weir.Permanent(fmt.Errorf("postgres: %w", err))
	}
	c.mu.pool = pool
	return pool, nil
}

func (c *postgresClient) request(r Record) (lookupRequest, bool, error) {
	q := lookupRequest{args: make([]any, len(c.l.params))}
	var key strings.Builder
	for i, e := range c.l.params {
		v, err := e.eval(r)
		if err != nil {
			return lookupRequest{}, false, err
		}
		v = normalize(v)
		s, ok := keyText(v)
		if !ok {
			return lookupRequest{}, false, nil
		}
		q.args[i] = v
		// Each value with its type, so that 1 and "1" are two keys.
		fmt.Fprintf(&key, "%T:%d:%s;", v, len(s), s)
		if i > 0 {
			q.what += ", "
		}
		q.what += fmt.Sprintf("$%d = %s", i+1, describeKey(s))
	}
	q.key = key.String()
	q.what = "the query with " + q.what
	if len(c.l.params) == 0 {
		q.what = "the query"
	}
	return q, true, nil
}

func (c *postgresClient) fetch(ctx context.Context, q lookupRequest) (Record, error) {
	pool, err := c.pool()
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, c.l.query, q.args...)
	if err != nil {
		return nil, postgresError(q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, postgresError(q, err)
		}
		return nil, nil
	}
	vals, err := rows.Values()
	if err != nil {
		return nil, postgresError(q, err)
	}
	rec := make(Record, len(vals))
	for i, fd := range rows.FieldDescriptions() {
		rec[fd.Name] = postgresValue(vals[i])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, postgresError(q, err)
	}
	return rec, nil
}

func (c *postgresClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	if c.mu.pool != nil {
		c.mu.pool.Close()
	}
}

// postgresError names the lookup; an error the server gives for the query
// itself (a syntax error, a missing table, a parameter of the wrong type)
// is not retried, one of the connection or the server's load is.
func postgresError(q lookupRequest, err error) error {
	err = fmt.Errorf("postgres: %s: %w", q.what, err)
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		switch pe.Code[:2] {
		case "08", "40", "53", "57", "58":
			return err
		}
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return err
	}
	// What remains fails the same way again: a parameter pgx cannot
	// encode, a column it cannot decode.
	return weir.Permanent(err)
}

// postgresValue turns a column's value, as pgx gives it, into a record's.
func postgresValue(v any) any {
	switch x := v.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64, float64, string, bool, nil:
		return x
	case time.Time:
		return x.UTC()
	case float32:
		return float64(x)
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil || !f.Valid {
			return nil
		}
		return f.Float64
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	case map[string]any, []any:
		return normalize(x)
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	return normalize(v)
}
