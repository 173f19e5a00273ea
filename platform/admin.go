package platform

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/weirstream/weir/pipeline"
)

// adminTokenFile is the admin token's file in the data directory. The
// admin token does all the API token does, and besides may submit
// pipelines with script steps and enrich lookups beyond the allow-list.
const adminTokenFile = "admin-token"

// NewAdminToken returns the admin token when Open made it, for the one
// time it is shown; ok is false when it already existed.
func (s *Server) NewAdminToken() (token string, ok bool) {
	if !s.newAdmin {
		return "", false
	}
	return s.admin, true
}

// isAdmin reports whether r carries the admin token (guard has checked it
// carries a valid one).
func (s *Server) isAdmin(r *http.Request) bool {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return tokenEqual(strings.TrimSpace(tok), s.admin)
}

// checkPrivileges refuses, unless r carries the admin token, a pipeline
// with a script step, or with an enrich step that looks up anything but a
// URL of the allow-list (Config.EnrichAllow): what a pipeline runs and
// where it connects are then the server's choice, not every client's.
func (s *Server) checkPrivileges(r *http.Request, p *pipeline.Pipeline) (int, *APIError) {
	if s.isAdmin(r) {
		return 0, nil
	}
	e := &APIError{Error: "the pipeline needs the admin token"}
	for _, st := range p.Steps {
		if st.Kind == "script" {
			e.Details = append(e.Details, PipelineError{Line: st.Pos.Line, Col: st.Pos.Col,
				Message: fmt.Sprintf("step %s: a script step needs the admin token (DIR/%s)", st.Name, adminTokenFile)})
			continue
		}
		switch kind, prefix := st.Lookup(); kind {
		case "":
		case "http":
			if !s.enrichAllowed(prefix) {
				e.Details = append(e.Details, PipelineError{Line: st.Pos.Line, Col: st.Pos.Col,
					Message: fmt.Sprintf("step %s: the URL %q is not in the server's enrich allow-list (weir serve --enrich-allow); the admin token lifts it", st.Name, prefix)})
			}
		default:
			// A database lookup connects where the pipeline says.
			name := lookupName[kind]
			if name == "" {
				name = kind
			}
			e.Details = append(e.Details, PipelineError{Line: st.Pos.Line, Col: st.Pos.Col,
				Message: fmt.Sprintf("step %s: a %s lookup needs the admin token (DIR/%s)", st.Name, name, adminTokenFile)})
		}
	}
	if len(e.Details) > 0 {
		return http.StatusForbidden, e
	}
	return 0, nil
}

// lookupName names the lookups of Step.Lookup in errors.
var lookupName = map[string]string{"postgres": "PostgreSQL", "redis": "Redis"}

// enrichAllowed reports whether a URL starting with prefix (the literal
// start of an enrich step's URL template) is allowed: its scheme and host
// must be literal and equal to an entry's, and its path start with the
// entry's path on a segment boundary.
func (s *Server) enrichAllowed(prefix string) bool {
	u, err := url.Parse(prefix)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	// The host must be whole: a template that continues it ("http://a{{x}}")
	// has no path yet, and is refused.
	if !strings.Contains(strings.TrimPrefix(prefix, u.Scheme+"://"), "/") {
		return false
	}
	// Dot segments, encoded or not, and encoded slashes are refused rather
	// than resolved: the server at the other end may read them otherwise.
	lower := strings.ToLower(prefix)
	if strings.Contains(lower, "%2e") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(prefix, `\`) ||
		slices.Contains(strings.Split(u.Path, "/"), "..") || slices.Contains(strings.Split(u.Path, "/"), ".") {
		return false
	}
	for _, a := range s.cfg.EnrichAllow {
		au, err := url.Parse(a)
		if err != nil {
			continue
		}
		if !strings.EqualFold(au.Scheme, u.Scheme) || !strings.EqualFold(au.Host, u.Host) {
			continue
		}
		base := strings.TrimSuffix(au.Path, "/")
		if u.Path == base || strings.HasPrefix(u.Path, base+"/") {
			return true
		}
	}
	return false
}

// ParseEnrichAllow checks the entries of weir serve --enrich-allow.
func ParseEnrichAllow(entries []string) ([]string, error) {
	for _, a := range entries {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("invalid --enrich-allow %q: want http(s)://host[:port][/path]", a)
		}
	}
	return entries, nil
}
