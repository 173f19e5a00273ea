package platform_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weirstream/weir/platform"
)

// sessionRequest sends a request with the given headers and cookie (when
// not nil) and returns the answer, its body read.
func sessionRequest(t *testing.T, c *http.Client, method, url, body string, headers map[string]string, cookie *http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs in with the token and returns the session cookie and CSRF
// token.
func signIn(t *testing.T, c *http.Client, url, token string) (*http.Cookie, string) {
	t.Helper()
	resp, body := sessionRequest(t, c, "POST", url+"/api/v1/session", `{"token":"`+token+`"}`, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %d %s", resp.StatusCode, body)
	}
	var sr platform.SessionResponse
	if err := json.Unmarshal([]byte(body), &sr); err != nil || len(sr.CSRF) != 64 {
		t.Fatalf("sign in answered %s (%v); want a CSRF token", body, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "weir_session" {
			return c, sr.CSRF
		}
	}
	t.Fatalf("sign in set no weir_session cookie: %v", resp.Header["Set-Cookie"])
	return nil, ""
}

// TestSessionCookieAttacks: the dashboard's session cookie is HttpOnly and
// SameSite=Strict; with it, reads pass, but a request that changes
// something needs the session's own CSRF token in X-Weir-CSRF, and a
// request another site sent is refused. The Bearer token works as before.
func TestSessionCookieAttacks(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	c := http.DefaultClient

	// A wrong token gets no session.
	resp, body := sessionRequest(t, c, "POST", ts.URL+"/api/v1/session", `{"token":"`+strings.Repeat("0", 64)+`"}`, nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("sign in with a wrong token: %d %s, cookies %v; want 401 and no cookie", resp.StatusCode, body, resp.Cookies())
	}
	// A sign-in another site's page sends, or one in a form's encoding, is
	// refused (login CSRF).
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"cross-origin", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"form encoding", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
	} {
		resp, body := sessionRequest(t, c, "POST", ts.URL+"/api/v1/session", `{"token":"`+ts.Token+`"}`, tc.headers, nil)
		if resp.StatusCode != tc.want || len(resp.Cookies()) != 0 {
			t.Errorf("sign in (%s): %d %s, cookies %v; want %d and no cookie", tc.name, resp.StatusCode, body, resp.Cookies(), tc.want)
		}
	}

	cookie, csrf := signIn(t, c, ts.URL, ts.Token)
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Secure || cookie.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, a Max-Age, and not Secure over plain HTTP", cookie)
	}
	if strings.Contains(cookie.Value, ts.Token) || cookie.Value == csrf {
		t.Error("the session cookie holds the token or the CSRF token")
	}
	if resp, body := sessionRequest(t, c, "GET", ts.URL+"/api/v1/jobs", "", nil, cookie); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/jobs with the session cookie: %d %s", resp.StatusCode, body)
	}
	resp, body = sessionRequest(t, c, "GET", ts.URL+"/api/v1/session", "", nil, cookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, csrf) {
		t.Errorf("GET /api/v1/session: %d %s; want the session's CSRF token", resp.StatusCode, body)
	}
	_, otherCSRF := signIn(t, c, ts.URL, ts.Token)

	// A submission the guard lets through is refused after it, as a body
	// that is not valid (400): the status tells the guard's answer apart.
	const submit = `{"pipeline": ""}`
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		want    int
	}{
		{"no CSRF token", "POST", "/api/v1/jobs", nil, http.StatusForbidden},
		{"wrong CSRF token", "POST", "/api/v1/jobs", map[string]string{"X-Weir-CSRF": strings.Repeat("0", 64)}, http.StatusForbidden},
		{"another session's CSRF token", "POST", "/api/v1/jobs", map[string]string{"X-Weir-CSRF": otherCSRF}, http.StatusForbidden},
		{"CSRF token as a cookie only", "POST", "/api/v1/jobs", map[string]string{"Cookie": "weir_csrf=" + csrf}, http.StatusForbidden},
		{"cancel without CSRF", "POST", "/api/v1/jobs/j000000000000/cancel", nil, http.StatusForbidden},
		{"savepoint without CSRF", "POST", "/api/v1/jobs/j000000000000/savepoint", nil, http.StatusForbidden},
		{"stop without CSRF", "POST", "/api/v1/jobs/j000000000000/stop", nil, http.StatusForbidden},
		{"sign out without CSRF", "DELETE", "/api/v1/session", nil, http.StatusForbidden},
		{"cross-origin with CSRF", "POST", "/api/v1/jobs", map[string]string{"X-Weir-CSRF": csrf, "Origin": "http://evil.example"}, http.StatusForbidden},
		{"null origin with CSRF", "POST", "/api/v1/jobs", map[string]string{"X-Weir-CSRF": csrf, "Origin": "null"}, http.StatusForbidden},
		{"cross-site read", "GET", "/api/v1/jobs", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"cross-origin read", "GET", "/api/v1/session", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"same origin with CSRF", "POST", "/api/v1/jobs", map[string]string{"X-Weir-CSRF": csrf, "Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}, http.StatusBadRequest},
	} {
		body := ""
		if tc.path == "/api/v1/jobs" {
			body = submit
		}
		resp, got := sessionRequest(t, c, tc.method, ts.URL+tc.path, body, tc.headers, cookie)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with the session cookie (%s): %d %s; want %d", tc.method, tc.path, tc.name, resp.StatusCode, got, tc.want)
		}
	}
	// A forged or stale cookie is no session.
	if resp, _ := sessionRequest(t, c, "GET", ts.URL+"/api/v1/jobs", "", nil, &http.Cookie{Name: "weir_session", Value: strings.Repeat("a", 64)}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/jobs with a forged cookie: %d; want 401", resp.StatusCode)
	}
	// Without a session or the token, the dashboard's routes are closed.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/session"}, {"DELETE", "/api/v1/session"}, {"GET", "/api/v1/stats"},
		{"GET", "/api/v1/jobs/j000000000000/graph"}, {"GET", "/api/v1/jobs/j000000000000/history"},
		{"GET", "/api/v1/jobs/j000000000000/deadletters"},
	} {
		if resp, body := sessionRequest(t, c, r.method, ts.URL+r.path, "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without token or cookie: %d %s; want 401", r.method, r.path, resp.StatusCode, body)
		}
	}
	// A wrong Bearer token is refused even beside a good cookie.
	if resp, _ := sessionRequest(t, c, "GET", ts.URL+"/api/v1/jobs", "", map[string]string{"Authorization": "Bearer " + strings.Repeat("0", 64)}, cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/jobs with a wrong Bearer token and a good cookie: %d; want 401", resp.StatusCode)
	}
	// The Bearer token needs neither cookie nor CSRF token.
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/jobs", strings.NewReader(submit))
	req.Header.Set("Authorization", "Bearer "+ts.Token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /api/v1/jobs with the Bearer token: %v %v; want 400 for the empty pipeline", resp.StatusCode, err)
	}

	// Signing out ends the session and clears the cookie.
	resp, body = sessionRequest(t, c, "DELETE", ts.URL+"/api/v1/session", "", map[string]string{"X-Weir-CSRF": csrf}, cookie)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: %d %s", resp.StatusCode, body)
	}
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].Name != "weir_session" || cs[0].MaxAge >= 0 {
		t.Errorf("sign out set cookies %v; want weir_session cleared", cs)
	}
	if resp, _ := sessionRequest(t, c, "GET", ts.URL+"/api/v1/jobs", "", nil, cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/jobs with the cookie of an ended session: %d; want 401", resp.StatusCode)
	}
}

// TestSessionCookieSecureOverTLS: over HTTPS the session cookie is Secure,
// so a browser never sends it in the clear.
func TestSessionCookieSecureOverTLS(t *testing.T) {
	s, err := platform.Open(platform.Config{Dir: t.TempDir() + "/data", Executable: noProcess})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewTLSServer(s.Handler())
	defer ts.Close()
	token, _ := s.NewToken()
	c := ts.Client()
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	cookie, _ := signIn(t, c, ts.URL, token)
	if !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie over TLS %+v: want Secure, HttpOnly, SameSite=Strict", cookie)
	}
}
