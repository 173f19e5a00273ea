package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// The server talks to a job's process over the Unix socket the process
// opens in the job's directory (`weir run --control-socket`), in the
// protocol of package jobcontrol. The directory is mode 0700.

// maxControlBody bounds what the server reads from a job's process.
const maxControlBody = 16 << 20

func controlClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
}

func controlDo(ctx context.Context, socket, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://job"+path, nil)
	if err != nil {
		return err
	}
	resp, err := controlClient(socket).Do(req)
	if err != nil {
		return fmt.Errorf("the job's process does not answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxControlBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("the job's process answered %s", resp.Status)
	}
	return json.Unmarshal(body, v)
}

// controlSavepoint asks the job's process for a savepoint and returns its
// path once it has completed.
func controlSavepoint(ctx context.Context, socket string) (string, error) {
	var r SavepointResponse
	if err := controlDo(ctx, socket, http.MethodPost, "/savepoint", &r); err != nil {
		return "", err
	}
	return r.Path, nil
}

func controlMetrics(ctx context.Context, socket string) (jobcontrol.Metrics, error) {
	var m jobcontrol.Metrics
	err := controlDo(ctx, socket, http.MethodGet, "/metrics", &m)
	return m, err
}

func controlGraph(ctx context.Context, socket string) (jobcontrol.Graph, error) {
	var g jobcontrol.Graph
	err := controlDo(ctx, socket, http.MethodGet, "/graph", &g)
	return g, err
}
