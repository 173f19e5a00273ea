package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/webhook"
)

// Send sends the body, the key and the headers; a 2xx is delivered, 408,
// 429 and 5xx may pass, another 4xx is Permanent; errors name the
// endpoint without its query.
func TestSend(t *testing.T) {
	var gotKey, gotAuth, gotBody string
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey, gotAuth = r.Header.Get("X-Key"), r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.WriteHeader(status)
		w.Write([]byte("why"))
	}))
	defer srv.Close()
	c, err := webhook.New(webhook.Config{URL: srv.URL + "/hook?token=s3cret", KeyHeader: "X-Key",
		Header: http.Header{"Authorization": {"Bearer t"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), "k1", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if gotKey != "k1" || gotAuth != "Bearer t" || gotBody != `{"a":1}` {
		t.Errorf("key %q, authorization %q, body %q", gotKey, gotAuth, gotBody)
	}
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{400, true}, {404, true}, {422, true}, {408, false}, {429, false}, {500, false}, {503, false}} {
		status = tc.status
		err := c.Send(context.Background(), "k", nil)
		var se *webhook.StatusError
		if !errors.As(err, &se) || se.Status != tc.status || weir.IsPermanent(err) != tc.permanent {
			t.Errorf("status %d: error %v (permanent %v), want permanent %v", tc.status, err, weir.IsPermanent(err), tc.permanent)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), srv.URL+"/hook: ")) {
			t.Errorf("status %d: error %q, want the endpoint without its query", tc.status, err)
		}
	}
}

// A content key is stable, and tells apart parts that only concatenate
// alike.
func TestContentKey(t *testing.T) {
	a := webhook.ContentKey([]byte("out"), []byte(`{"a":1}`))
	if a != webhook.ContentKey([]byte("out"), []byte(`{"a":1}`)) || len(a) != 32 {
		t.Fatalf("key %q is not stable or not 32 hex digits", a)
	}
	if webhook.ContentKey([]byte("ab"), []byte("c")) == webhook.ContentKey([]byte("a"), []byte("bc")) {
		t.Error("parts that concatenate alike have the same key")
	}
}
