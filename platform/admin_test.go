package platform_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/platform"
)

const scripted = `version: 1
inputs:
  g: {type: generator, count: 1, fields: {a: seq}}
steps:
  - name: js
    from: [g]
    script:
      source: "function process(r) { return r; }"
outputs:
  o: {type: stdout, from: js}
`

const enriched = `version: 1
inputs:
  g: {type: generator, count: 1, fields: {a: seq}}
steps:
  - name: look
    from: [g]
    enrich:
      http:
        url: "%s"
      into: x
outputs:
  o: {type: stdout, from: look}
`

// TestScriptAndEnrichNeedPrivilege: a script step needs the admin token,
// made and kept like the API token; an HTTP enrich step may only look up
// URLs of the allow-list, unless the admin token is used; each refusal
// names the step's line.
func TestScriptAndEnrichNeedPrivilege(t *testing.T) {
	ts := newTestServer(t, platform.Config{EnrichAllow: []string{"http://127.0.0.1:9/customers"}})
	admin, ok := ts.NewAdminToken()
	fi, err := os.Stat(filepath.Join(ts.Dir(), "admin-token"))
	if !ok || len(admin) != 64 || admin == ts.Token || err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token %q, %v; file %v, %v; want a second token, mode 0600", admin, ok, fi, err)
	}
	submit := func(token, yaml string) (int, platform.APIError) {
		t.Helper()
		c := &platform.Client{Server: ts.URL, Token: token}
		_, err := c.Submit(t.Context(), platform.SubmitRequest{Pipeline: yaml})
		if err == nil {
			return http.StatusCreated, platform.APIError{}
		}
		ce, ok := err.(*platform.ClientError)
		if !ok {
			t.Fatal(err)
		}
		return ce.Status, ce.APIError
	}
	code, e := submit(ts.Token, scripted)
	if code != http.StatusForbidden || len(e.Details) != 1 || e.Details[0].Line != 5 || !strings.Contains(e.Details[0].Message, "admin token") {
		b, _ := json.Marshal(e)
		t.Errorf("a script with the API token: %d %s; want 403 naming line 5", code, b)
	}
	if code, e := submit(admin, scripted); code != http.StatusCreated {
		t.Errorf("a script with the admin token: %d %+v", code, e)
	}
	for url, allowed := range map[string]bool{
		"http://127.0.0.1:9/customers/{{ a }}":      true,
		"http://127.0.0.1:9/customers?id={{ a }}":   true,
		"http://127.0.0.1:9/customersX/{{ a }}":     false,
		"http://127.0.0.1:9/other/{{ a }}":          false,
		"http://127.0.0.1:99/customers/{{ a }}":     false,
		"https://127.0.0.1:9/customers/{{ a }}":     false,
		"http://127.0.0.1{{ a }}/customers":         false,
		"http://{{ a }}/customers":                  false,
		"http://u@127.0.0.1:9/customers/{{ a }}":    false,
		"http://169.254.169.254/latest/meta-data/":  false,
		"http://127.0.0.1:9/customers/../x/{{ a }}": false,
	} {
		code, e := submit(ts.Token, strings.Replace(enriched, "%s", url, 1))
		if allowed && code != http.StatusCreated || !allowed && (code != http.StatusForbidden || e.Details[0].Line != 5) {
			b, _ := json.Marshal(e)
			t.Errorf("enrich %s: %d %s; allowed %v", url, code, b, allowed)
		}
		if !allowed {
			if code, _ := submit(admin, strings.Replace(enriched, "%s", url, 1)); code != http.StatusCreated && !strings.Contains(url, "{{ a }}/") && !strings.Contains(url, "{{ a }}.") {
				t.Errorf("enrich %s with the admin token: %d", url, code)
			}
		}
	}
	// A database lookup connects where the pipeline says: admin only.
	redisLookup := `version: 1
inputs:
  g: {type: generator, count: 1, fields: {a: seq}}
steps:
  - name: look
    from: [g]
    enrich:
      redis: {addr: "127.0.0.1:6379", key: '"c:" + string(a)'}
      fields: {region: region}
outputs:
  o: {type: stdout, from: look}
`
	if code, e := submit(ts.Token, redisLookup); code != http.StatusForbidden || len(e.Details) != 1 || e.Details[0].Line != 5 || !strings.Contains(e.Details[0].Message, "Redis lookup needs the admin token") {
		b, _ := json.Marshal(e)
		t.Errorf("a Redis lookup with the API token: %d %s; want 403 naming line 5", code, b)
	}
	// The admin token is the server's own file: no pipeline reads it.
	code, _ = submit(admin, strings.Replace(scripted, "count: 1", "count: ${file:admin-token}", 1))
	if code != http.StatusUnprocessableEntity {
		t.Errorf("a pipeline reading the admin token: %d; want 422", code)
	}
}
