package platform_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weirstream/weir/platform"
)

// FuzzSubmitBody posts any body as a submission: the server answers every
// one with a status it documents and, when it refuses, a JSON error — it
// neither panics nor answers 500.
func FuzzSubmitBody(f *testing.F) {
	for _, seed := range []string{
		`{"pipeline": "version: 1\ninputs:\n  g: {type: generator, count: 1, fields: {a: seq}}\noutputs:\n  o: {type: stdout, from: g}\n"}`,
		`{"pipeline": "version: 1\ninputs:\n  a: {type: file, path: ../x}\noutputs:\n  o: {type: file, from: a, path: /tmp}\n"}`,
		`{"pipeline": "x: &a [*a]", "name": "n", "parallelism": 2, "checkpoint_interval": "1s"}`,
		`{"pipeline": "` + strings.Repeat("[", 100) + `"}`,
		`{"name": [[[[[]]]]]}`,
		`{"pipeline": 1}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(seed))
	}
	s, err := platform.Open(platform.Config{Dir: f.TempDir(), Executable: noProcess, Restart: quickRestarts, MaxJobs: 5})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	tok, _ := s.NewToken()
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/jobs", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated:
			var j platform.Job
			if err := json.Unmarshal(w.Body.Bytes(), &j); err != nil || j.ID == "" {
				t.Fatalf("201 without a job: %q", w.Body.String())
			}
		case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusConflict:
			var e platform.APIError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d without a JSON error: %q", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body.String())
		}
	})
}
