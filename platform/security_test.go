package platform_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
	"github.com/weirstream/weir/platform/command"
)

// noProcess is an executable that does not exist: servers of the tests
// that only look at the API start no job process.
const noProcess = "/nonexistent/weir"

// TestTokenRequired: every route but /healthz and /metrics needs the
// token, in the Authorization header and nowhere else.
func TestTokenRequired(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/jobs"},
		{"POST", "/api/v1/jobs"},
		{"GET", "/api/v1/jobs/j000000000000"},
		{"POST", "/api/v1/jobs/j000000000000/cancel"},
		{"POST", "/api/v1/jobs/j000000000000/savepoint"},
		{"POST", "/api/v1/jobs/j000000000000/stop"},
		{"GET", "/api/v1/jobs/j000000000000/log"},
		{"GET", "/api/v1/alerts"},
		{"GET", "/nothing-here"},
		{"DELETE", "/api/v1/jobs"},
	}
	for _, r := range routes {
		for _, tc := range []struct {
			name, header, query string
			want                int
		}{
			{"no token", "", "", http.StatusUnauthorized},
			{"wrong token", "Bearer " + strings.Repeat("0", 64), "", http.StatusUnauthorized},
			{"token prefix", "Bearer " + ts.Token[:63], "", http.StatusUnauthorized},
			{"basic scheme", "Basic " + ts.Token, "", http.StatusUnauthorized},
			{"token in query", "", "?token=" + ts.Token, http.StatusBadRequest},
			{"access_token in query", "", "?access_token=" + ts.Token, http.StatusBadRequest},
			{"header and query", "Bearer " + ts.Token, "?token=" + ts.Token, http.StatusBadRequest},
		} {
			req, _ := http.NewRequest(r.method, ts.URL+r.path+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e platform.APIError
			err = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != tc.want || err != nil || e.Error == "" {
				t.Errorf("%s %s (%s): %d, error %q (%v); want %d with a JSON error", r.method, r.path, tc.name, resp.StatusCode, e.Error, err, tc.want)
			}
		}
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		if code, _ := ts.request(t, "GET", path, "", false); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d; want 200", path, code)
		}
	}
	if code, body := ts.request(t, "GET", "/api/v1/jobs", "", true); code != http.StatusOK {
		t.Errorf("GET /api/v1/jobs with the token: %d %s", code, body)
	}
}

// rawRequest sends the request line and headers as written, so that no
// client cleans the path first, and returns the status and body.
func rawRequest(t *testing.T, url, method, target, token string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, target, token)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPathTraversalInRoutes: a job ID that is a path — with "..", encoded
// or not, or absolute — names no job, and no answer holds a file of the
// data directory.
func TestPathTraversalInRoutes(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	secret := "SECRET-" + strings.Repeat("x", 20)
	// The secret is where a job's log would be if a route took ".." or a
	// name for a job's directory.
	for _, p := range []string{filepath.Join(ts.Dir(), "jobs", "secret"), filepath.Join(ts.Dir(), "job.log"), filepath.Join(ts.Dir(), "jobs", "job.log")} {
		if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{
		"..", "../token", "..%2ftoken", "..%2Ftoken", "%2e%2e", "%2e%2e%2ftoken", "%2e%2e/%2e%2e/token",
		"..%5ctoken", "secret", "./secret", "%2fetc%2fpasswd", "/etc/passwd", "//etc/passwd",
		"j000000000000%00", "j000000000000/../secret", "%252e%252e%252ftoken", "j000000000000;x",
	}
	for _, id := range ids {
		for _, suffix := range []string{"", "/log", "/cancel", "/stop", "/savepoint"} {
			method := "GET"
			if suffix != "" && suffix != "/log" {
				method = "POST"
			}
			code, body := rawRequest(t, ts.URL, method, "/api/v1/jobs/"+id+suffix, ts.Token)
			if code == http.StatusOK || strings.Contains(body, secret) || strings.Contains(body, ts.Token) || strings.Contains(body, "root:") {
				t.Errorf("%s /api/v1/jobs/%s%s: %d %q; want a refusal that shows nothing of the directory", method, id, suffix, code, body)
			}
		}
	}
	for _, target := range []string{"/../token", "/%2e%2e/token", "/api/v1/../../token", "/token", "/jobs/secret", "http://x/../token"} {
		code, body := rawRequest(t, ts.URL, "GET", target, ts.Token)
		if code == http.StatusOK || strings.Contains(body, secret) || strings.Contains(body, ts.Token) {
			t.Errorf("GET %s: %d %q", target, code, body)
		}
	}
}

// TestPipelinePathsConfined: a pipeline may use files under the data
// directory only — not outside it by an absolute path, "..", a symbolic
// link or ${file:…}, and not the server's own files in it.
func TestPipelinePathsConfined(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.json"), []byte(`{"a":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(ts.Dir(), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "ok.json"), []byte(`{"a":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(data, "out-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.json"), filepath.Join(data, "file-link.json")); err != nil {
		t.Fatal(err)
	}
	mkdir := filepath.Join(ts.Dir(), "mixed")
	if err := os.MkdirAll(mkdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.json"), filepath.Join(mkdir, "evil.json")); err != nil {
		t.Fatal(err)
	}
	pipe := func(in, out, extra string) string {
		return fmt.Sprintf("version: 1\n%sinputs:\n  in: {type: file, path: %q}\noutputs:\n  o: {type: file, from: in, path: %q}\n", extra, in, out)
	}
	bad := map[string]string{
		"absolute input":           pipe(filepath.Join(outside, "secret.json"), "out/a", ""),
		"etc passwd":               pipe("/etc/passwd", "out/a", ""),
		"dot-dot input":            pipe("../../../../../../etc/passwd", "out/a", ""),
		"dot-dot inside and out":   pipe("data/../../x", "out/a", ""),
		"symlinked directory":      pipe("data/out-link/secret.json", "out/a", ""),
		"symlinked file":           pipe("data/file-link.json", "out/a", ""),
		"glob through a link":      pipe("data/*/secret.json", "out/a", ""),
		"glob matching a link":     pipe("data/*.json", "out/a", ""),
		"directory holding a link": pipe("mixed", "out/a", ""),
		"the token":                pipe("token", "out/a", ""),
		"the token absolute":       pipe(filepath.Join(ts.Dir(), "token"), "out/a", ""),
		"the whole directory":      pipe(".", "out/a", ""),
		"a glob of the directory":  pipe("*", "out/a", ""),
		"another job's files":      pipe("jobs/*/pipeline.yaml", "out/a", ""),
		"output outside":           pipe("data/ok.json", outside, ""),
		"output dot-dot":           pipe("data/ok.json", "../elsewhere", ""),
		"output into jobs":         pipe("data/ok.json", "jobs/x", ""),
		"output over server lock":  pipe("data/ok.json", "server.lock", ""),
		"dead letters outside":     pipe("data/ok.json", "out/a", fmt.Sprintf("dead_letter: {path: %q}\n", outside)),
		"file reference outside":   pipe("${file:"+filepath.Join(outside, "secret.json")+"}", "out/a", ""),
		"file reference to token":  pipe("${file:token}", "out/a", ""),
		"environment":              pipe("data/ok.json", "out${env:HOME}", ""),
	}
	for name, yaml := range bad {
		status, body := submitRaw(t, ts, yaml)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s; want 422", name, status, body)
			continue
		}
		if strings.Contains(body, ts.Token) || strings.Contains(body, `{"a":1}`) {
			t.Errorf("%s: the refusal shows a file's contents: %s", name, body)
		}
	}
	if status, body := submitRaw(t, ts, pipe("data/ok.json", "out/a", "")); status != http.StatusCreated {
		t.Errorf("a pipeline inside the directory: %d %s; want 201", status, body)
	}
	if status, body := submitRaw(t, ts, pipe(filepath.Join(ts.Dir(), "data", "ok.json"), filepath.Join(ts.Dir(), "out", "b"), "")); status != http.StatusCreated {
		t.Errorf("absolute paths inside the directory: %d %s; want 201", status, body)
	}
}

func submitRaw(t *testing.T, ts *testServer, yaml string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(platform.SubmitRequest{Pipeline: yaml})
	return ts.request(t, "POST", "/api/v1/jobs", string(b), true)
}

// TestSubmitBodies: what a submission's body may not be, and the
// pipeline's mistakes with their lines and columns.
func TestSubmitBodies(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	bomb := "version: 1\nx0: &a0 [1,1,1,1,1,1,1,1,1,1]\n"
	for i := 1; i < 12; i++ {
		bomb += fmt.Sprintf("x%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, tc := range []struct {
		name, body string
		want       int
		errHas     string
	}{
		{"empty", "", http.StatusBadRequest, "empty"},
		{"not JSON", "pipeline: x", http.StatusBadRequest, "invalid JSON"},
		{"huge", `{"pipeline": "` + strings.Repeat("a", 3<<20) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
		{"deeply nested", `{"name": ` + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + `}`, http.StatusBadRequest, "invalid JSON"},
		{"unknown field", `{"pipeline": "x", "code": "rm -rf /"}`, http.StatusBadRequest, "unknown field"},
		{"two objects", `{"pipeline": "x"} {}`, http.StatusBadRequest, "more than one"},
		{"trailing", `{"pipeline": "x"} ]`, http.StatusBadRequest, ""},
		{"bad name", js(map[string]any{"pipeline": generator, "name": "../x"}), http.StatusBadRequest, "invalid name"},
		{"bad parallelism", js(map[string]any{"pipeline": generator, "parallelism": 100000}), http.StatusBadRequest, "parallelism"},
		{"bad interval", js(map[string]any{"pipeline": generator, "checkpoint_interval": "1ns"}), http.StatusBadRequest, "checkpoint_interval"},
		{"no pipeline", `{}`, http.StatusBadRequest, "missing pipeline"},
		{"alias bomb", js(map[string]any{"pipeline": bomb}), http.StatusUnprocessableEntity, "not valid"},
		{"flow nesting", js(map[string]any{"pipeline": "version: 1\nx: " + strings.Repeat("[", 100000)}), http.StatusUnprocessableEntity, "not valid"},
		{"invalid pipeline", js(map[string]any{"pipeline": "version: 1\ninputs:\n  a: {type: nope}\n"}), http.StatusUnprocessableEntity, "not valid"},
	} {
		status, body := ts.request(t, "POST", "/api/v1/jobs", tc.body, true)
		var e platform.APIError
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.want || e.Error == "" || !strings.Contains(e.Error, tc.errHas) {
			if len(body) > 300 {
				body = body[:300] + "…"
			}
			t.Errorf("%s: %d %s; want %d with an error holding %q", tc.name, status, body, tc.want, tc.errHas)
		}
	}
	// A pipeline's mistakes come with their positions.
	_, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: "version: 1\ninputs:\n  a: {type: nope}\noutputs:\n  o: {type: stdout, from: a}\n"})
	ce, ok := err.(*platform.ClientError)
	if !ok || len(ce.Details) == 0 || ce.Details[0].Line != 3 || ce.Details[0].Col == 0 || !strings.Contains(ce.Details[0].Message, `unknown type "nope"`) {
		t.Errorf("an invalid pipeline: %v; want its mistake at line 3 with a column", err)
	}
	if !strings.Contains(fmt.Sprint(err), "pipeline.yaml:3:") {
		t.Errorf("the client's error %q does not name pipeline.yaml:3", err)
	}
}

// TestNoCORS: a preflight from another origin gets no permission, and no
// answer carries an Access-Control header.
func TestNoCORS(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	for _, tc := range []struct{ method, path string }{{"OPTIONS", "/api/v1/jobs"}, {"GET", "/api/v1/jobs"}, {"GET", "/metrics"}, {"OPTIONS", "/api/v1/jobs/j000000000000/stop"}} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		if tc.method == "GET" {
			req.Header.Set("Authorization", "Bearer "+ts.Token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s %s from another origin: header %s: %s", tc.method, tc.path, k, resp.Header.Get(k))
			}
		}
		if tc.method == "OPTIONS" && resp.StatusCode/100 == 2 {
			t.Errorf("preflight %s: %d; want a refusal", tc.path, resp.StatusCode)
		}
	}
}

// TestSlowClient: a client that sends its headers slower than the
// server's ReadHeaderTimeout is disconnected rather than holding a
// connection; the server keeps answering others.
func TestSlowClient(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	srv := command.NewHTTPServer(ts.Handler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("weir serve's HTTP server lacks a bound: %+v", srv)
	}
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	hs := httptest.NewUnstartedServer(srv.Handler)
	hs.Config = srv
	hs.Start()
	defer hs.Close()
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// The server ends the connection; a minute is a bound for a stuck test.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the server kept the slow connection open: %v (read %q)", err, b)
	}
	if strings.Contains(string(b), "200 OK") {
		t.Errorf("the slow request was answered: %q", b)
	}
	resp, err := http.Get(hs.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a slow client: %v %v", resp, err)
	}
	resp.Body.Close()
}
