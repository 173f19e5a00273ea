package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client calls a server's API (Handler) for `weir jobs`.
type Client struct {
	// Server is the server's base URL, such as http://127.0.0.1:7070.
	Server string
	// Token is the API token, sent as "Authorization: Bearer TOKEN".
	Token string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
}

// ClientError is an error the server answered.
type ClientError struct {
	Status int
	APIError
}

func (e *ClientError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", e.APIError.Error, e.Status)
	for _, d := range e.Details {
		b.WriteString("\n  ")
		if d.Line > 0 {
			fmt.Fprintf(&b, "%s:%d:%d: ", pipelineFile, d.Line, d.Col)
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	h := c.HTTP
	if h == nil {
		h = http.DefaultClient
	}
	resp, err := h.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &ClientError{Status: resp.StatusCode}
		if json.Unmarshal(data, &e.APIError) != nil || e.APIError.Error == "" {
			e.APIError.Error = strings.TrimSpace(string(data))
		}
		return e
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the server's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func jobPath(id, action string) string {
	p := "/api/v1/jobs/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// Submit submits a pipeline.
func (c *Client) Submit(ctx context.Context, r SubmitRequest) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs", r, &j)
	return j, err
}

// List lists the jobs.
func (c *Client) List(ctx context.Context) ([]Job, error) {
	var l JobList
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs", nil, &l)
	return l.Jobs, err
}

// Show returns a job, with its checkpoints.
func (c *Client) Show(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodGet, jobPath(id, ""), nil, &j)
	return j, err
}

// Cancel cancels a job and returns it once it has ended.
func (c *Client) Cancel(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, jobPath(id, "cancel"), nil, &j)
	return j, err
}

// Stop stops a job with a savepoint and returns it, its savepoint in
// Savepoint, once it has stopped.
func (c *Client) Stop(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, jobPath(id, "stop"), nil, &j)
	return j, err
}

// Savepoint takes a savepoint of a running job and returns its path.
func (c *Client) Savepoint(ctx context.Context, id string) (string, error) {
	var r SavepointResponse
	err := c.do(ctx, http.MethodPost, jobPath(id, "savepoint"), nil, &r)
	return r.Path, err
}

// Log returns the tail of a job's log.
func (c *Client) Log(ctx context.Context, id string) (string, error) {
	var s string
	err := c.do(ctx, http.MethodGet, jobPath(id, "log"), nil, &s)
	return s, err
}

// OlderLog returns the job's older log file k, job.log.k (1 is the newest
// of them): what the log held before it was last rotated.
func (c *Client) OlderLog(ctx context.Context, id string, k int) (string, error) {
	var s string
	err := c.do(ctx, http.MethodGet, jobPath(id, "log")+"?older="+strconv.Itoa(k), nil, &s)
	return s, err
}

// Restore starts a new run of an ended job from one of its checkpoints or
// savepoints.
func (c *Client) Restore(ctx context.Context, id string, r RestoreRequest) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, jobPath(id, "restore"), r, &j)
	return j, err
}

// Rescale stops a job with a savepoint and starts it again from it at
// parallelism p.
func (c *Client) Rescale(ctx context.Context, id string, p int) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, jobPath(id, "rescale"), RescaleRequest{Parallelism: p}, &j)
	return j, err
}

// Delete removes an ended job and its directory.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, jobPath(id, ""), nil, nil)
}

// Rewind rewinds a job (or, with DryRun, says what a rewind would do).
func (c *Client) Rewind(ctx context.Context, id string, r RewindRequest) (RewindPlan, error) {
	var p RewindPlan
	err := c.do(ctx, http.MethodPost, jobPath(id, "rewind"), r, &p)
	return p, err
}

// Templates lists the server's built-in job templates.
func (c *Client) Templates(ctx context.Context) ([]Template, error) {
	var l TemplateList
	err := c.do(ctx, http.MethodGet, "/api/v1/templates", nil, &l)
	return l.Templates, err
}
