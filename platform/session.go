package platform

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The dashboard signs in once with the token and then holds a session
// cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
// page sends it), Secure over TLS. A request authenticated by the cookie
// that changes anything must also carry the session's CSRF token in the
// header X-Weir-CSRF, which only a page of the server's own origin can
// read (GET /api/v1/session answers it, and no Access-Control-* header
// lets another origin read an answer). A request with an Origin header, or
// a Sec-Fetch-Site header, saying another site sent it is refused whatever
// its method. The Bearer token works as before, without cookie or CSRF
// token.

// sessionCookie is the name of the session cookie.
const sessionCookie = "weir_session"

// csrfHeader is the header that carries a session's CSRF token.
const csrfHeader = "X-Weir-CSRF"

// maxSessions bounds the sessions the server keeps; signing in beyond it
// ends the oldest.
const maxSessions = 64

// SessionResponse is the answer of POST and GET /api/v1/session: the
// session's CSRF token, to send in the header X-Weir-CSRF with every
// request that changes something, and when the session expires.
type SessionResponse struct {
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// SignInRequest is the body of POST /api/v1/session.
type SignInRequest struct {
	Token string `json:"token"`
}

type session struct {
	csrf    string
	expires time.Time
}

// sessions are the signed-in browsers, by the SHA-256 of their cookie, so
// that a lookup's time tells nothing of the cookies held.
type sessions struct {
	lifetime time.Duration
	now      func() time.Time
	mu       struct {
		sync.Mutex
		byHash map[[32]byte]*session
	}
}

func newSessions(lifetime time.Duration) *sessions {
	s := &sessions{lifetime: lifetime, now: time.Now}
	s.mu.byHash = map[[32]byte]*session{}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// create starts a session and returns its cookie value and session.
func (ss *sessions) create() (string, session) {
	id := randomHex(32)
	se := &session{csrf: randomHex(32), expires: ss.now().Add(ss.lifetime)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	var oldest [32]byte
	var oldestExp time.Time
	for h, x := range ss.mu.byHash {
		if !now.Before(x.expires) {
			delete(ss.mu.byHash, h)
			continue
		}
		if oldestExp.IsZero() || x.expires.Before(oldestExp) {
			oldest, oldestExp = h, x.expires
		}
	}
	if len(ss.mu.byHash) >= maxSessions {
		delete(ss.mu.byHash, oldest)
	}
	ss.mu.byHash[sha256.Sum256([]byte(id))] = se
	return id, *se
}

// lookup returns the live session of the cookie value id.
func (ss *sessions) lookup(id string) (session, bool) {
	h := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se, ok := ss.mu.byHash[h]
	if !ok {
		return session{}, false
	}
	if !ss.now().Before(se.expires) {
		delete(ss.mu.byHash, h)
		return session{}, false
	}
	return *se, true
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.mu.byHash, sha256.Sum256([]byte(id)))
}

// crossSite reports whether the browser says another site sent r: an
// Origin header other than the server's own, or Sec-Fetch-Site
// cross-site. Clients other than browsers send neither.
func crossSite(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return !strings.EqualFold(origin, scheme+r.Host)
}

// safeMethod reports whether a request of method m changes nothing.
func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// sessionAuth authenticates r by its session cookie; it returns false
// when r has none, and otherwise answers a refusal itself or returns true
// with ok when r may pass.
func (s *Server) sessionAuth(w http.ResponseWriter, r *http.Request) (handled, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return false, false
	}
	se, live := s.sessions.lookup(c.Value)
	switch {
	case !live:
		writeError(w, http.StatusUnauthorized, "the session has expired or ended: sign in again")
		return true, false
	case crossSite(r):
		writeError(w, http.StatusForbidden, "a request from another site is refused")
		return true, false
	case !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(se.csrf)) != 1:
		writeError(w, http.StatusForbidden, "missing or wrong CSRF token: a request that changes something with the session cookie needs the header "+csrfHeader)
		return true, false
	}
	return true, true
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// signIn is POST /api/v1/session: the token in the body, once, for a
// session cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		writeError(w, http.StatusForbidden, "a sign-in from another site is refused")
		return
	}
	if r.Header.Get("Content-Type") == "" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		return
	}
	var req SignInRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !tokenEqual(strings.TrimSpace(req.Token), s.token) {
		writeError(w, http.StatusUnauthorized, "invalid token")
		return
	}
	id, se := s.sessions.create()
	s.setSessionCookie(w, r, id, int(s.sessions.lifetime/time.Second))
	writeJSON(w, http.StatusOK, SessionResponse{CSRF: se.csrf, Expires: se.expires.UTC()})
}

// showSession is GET /api/v1/session: the CSRF token of the session the
// cookie names, so that a page loaded again goes on without signing in.
func (s *Server) showSession(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		writeError(w, http.StatusNotFound, "no session: this request was authenticated by the Bearer token")
		return
	}
	se, ok := s.sessions.lookup(c.Value)
	if !ok {
		writeError(w, http.StatusUnauthorized, "the session has expired or ended: sign in again")
		return
	}
	writeJSON(w, http.StatusOK, SessionResponse{CSRF: se.csrf, Expires: se.expires.UTC()})
}

// signOut is DELETE /api/v1/session: it ends the session and clears the
// cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.end(c.Value)
	}
	s.setSessionCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
}
