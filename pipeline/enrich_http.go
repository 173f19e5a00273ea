package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// MaxLookupBody is the largest response body an HTTP lookup reads.
const MaxLookupBody = 1 << 20

// httpLookup GETs a URL made from a template: literal text, in which
// ${env:NAME} and ${file:PATH} are replaced, and {{ EXPR }} placeholders,
// expressions of the record whose values are escaped for the part of the
// URL they are in.
type httpLookup struct {
	parts   []urlPart
	headers [][2]string
	what    string
}

// urlPart is literal text (text for the request, shown for errors, where
// a reference stays as written) or a placeholder (expr).
type urlPart struct {
	text, shown string
	expr        *Expr
	query       bool // after the '?': escaped as a query value
}

func parseHTTPLookup(r *reader, n ast.Node, what string) lookup {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	h := &httpLookup{what: what}
	un := o.require("url")
	if un != nil {
		h.parts = r.urlTemplate(un, what+": url")
	}
	if m := r.str(o, "method"); m != "" && m != http.MethodGet {
		r.errorf(o.keyPos("method"), "%s: method: only GET looks up; got %q", what, m)
	}
	if hn := o.get("headers"); hn != nil {
		if ho := r.object(hn, what+": headers"); ho != nil {
			for _, mv := range ho.keys {
				name := mv.Key.GetToken().Value
				h.headers = append(h.headers, [2]string{name, r.secret(ho, name)})
			}
		}
	}
	o.finish()
	if h.parts == nil {
		return nil
	}
	return h
}

// urlTemplate reads a URL template: the positions of its placeholders are
// exact when the URL is on one line.
func (r *reader) urlTemplate(n ast.Node, what string) []urlPart {
	tmpl := r.expr(n, what) // for its text and position only
	if tmpl == nil {
		return nil
	}
	src := tmpl.Source
	var parts []urlPart
	query := false
	literal := func(s string, at int) {
		if s == "" {
			return
		}
		pos := tmpl.pos
		if tmpl.oneLine {
			pos.Col += at
		}
		parts = append(parts, urlPart{text: r.substitute(s, pos, what), shown: s, query: query})
		if strings.Contains(s, "?") {
			query = true
		}
	}
	i := 0
	for {
		open := strings.Index(src[i:], "{{")
		if open < 0 {
			literal(src[i:], i)
			break
		}
		open += i
		literal(src[i:open], i)
		end := strings.Index(src[open:], "}}")
		at := tmpl.pos
		if tmpl.oneLine {
			at.Col += open
		}
		if end < 0 {
			r.errorf(at, "%s: {{ is not closed by }}", what)
			return nil
		}
		end += open
		inner := src[open+2 : end]
		lead := len(inner) - len(strings.TrimLeft(inner, " "))
		code := strings.TrimSpace(inner)
		// A leading dot, as Go templates write a field, names the field.
		if strings.HasPrefix(code, ".") && len(code) > 1 && code[1] != '.' {
			code = code[1:]
			lead++
		}
		if code == "" {
			r.errorf(at, "%s: {{ }} holds no expression", what)
			return nil
		}
		e := &Expr{Source: code, pos: at, oneLine: tmpl.oneLine, what: what}
		if tmpl.oneLine {
			e.pos.Col += 2 + lead
		}
		parts = append(parts, urlPart{expr: e, query: query})
		i = end + 2
	}
	var u strings.Builder
	for _, p := range parts {
		if p.expr != nil {
			u.WriteString("x")
		} else {
			u.WriteString(p.text)
		}
	}
	if pu, err := url.Parse(u.String()); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		r.errorf(tmpl.pos, "%s: want an http:// or https:// URL with a host, got %q", what, tmpl.Source)
		return nil
	}
	return parts
}

func (h *httpLookup) check(c *checker, in *Schema) {
	for _, p := range h.parts {
		if p.expr != nil {
			c.compile(p.expr, in, TypeAny, nil)
		}
	}
}

func (h *httpLookup) open(e *enrichStep) (lookupClient, error) {
	return &httpClient{h: h, c: &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: e.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}}}, nil
}

type httpClient struct {
	h *httpLookup
	c *http.Client
}

func (c *httpClient) request(r Record) (lookupRequest, bool, error) {
	var u, shown strings.Builder
	for _, p := range c.h.parts {
		if p.expr == nil {
			u.WriteString(p.text)
			shown.WriteString(p.shown)
			continue
		}
		v, err := p.expr.eval(r)
		if err != nil {
			return lookupRequest{}, false, err
		}
		s, ok := keyText(v)
		if !ok {
			return lookupRequest{}, false, nil
		}
		if p.query {
			s = url.QueryEscape(s)
		} else {
			s = url.PathEscape(s)
		}
		u.WriteString(s)
		shown.WriteString(s)
	}
	return lookupRequest{key: u.String(), url: u.String(), what: "GET " + describeKey(shown.String())}, true, nil
}

// HTTPStatusError is the error of a lookup answered with a
// status that is neither a success nor a miss.
type HTTPStatusError struct {
	// Request is the method and URL, without the values of references.
	Request string
	Status  int
	// Body is the start of the answer's body.
	Body string
}

func (e *HTTPStatusError) Error() string {
	s := fmt.Sprintf("%s: %d %s", e.Request, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// transientStatus reports whether a status may go away on a retry.
func transientStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

func (c *httpClient) fetch(ctx context.Context, q lookupRequest) (Record, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.url, nil)
	if err != nil {
		return nil, weir.Permanent(fmt.Errorf("%s: %v", q.what, errors.Unwrap(err)))
	}
	req.Header.Set("Accept", "application/json")
	for _, h := range c.h.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		// url.Error names the URL with the values of its references:
		// name it as written instead.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: %w", q.what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxLookupBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", q.what, err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, nil
	case code < 200 || code > 299:
		err := &HTTPStatusError{Request: q.what, Status: code, Body: snippet(body)}
		if transientStatus(code) {
			return nil, err
		}
		return nil, weir.Permanent(err)
	case len(body) > MaxLookupBody:
		return nil, weir.Permanent(fmt.Errorf("%s: the answer is larger than %d bytes", q.what, MaxLookupBody))
	}
	rec, err := format.JSONRecord().Decode(body)
	if err != nil {
		return nil, weir.Permanent(fmt.Errorf("%s: the answer is not a JSON object: %v (body %q)", q.what, err, snippet(body)))
	}
	return rec, nil
}

func (c *httpClient) close() { c.c.CloseIdleConnections() }

// snippet is the start of a body, for an error.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
