package checkpointtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weirstream/weir/internal/checkpoint"
)

// The credentials a FakeS3 accepts.
const (
	FakeS3AccessKey = "weir-test-key"
	FakeS3SecretKey = "weir-test-secret"
	// FakeS3ReadOnlyKey may read and list but not write or delete (any
	// secret).
	FakeS3ReadOnlyKey = "weir-test-read-only"
)

// FakeS3 is an S3 server in the test's process (gofakes3, in memory) on a
// free loopback port, with what tests of failures need on top: it refuses
// any access key but FakeS3AccessKey (and FakeS3ReadOnlyKey for reading),
// as S3 does, and a bucket can be made to disappear and come back.
type FakeS3 struct {
	// URL is the endpoint, http://127.0.0.1:<port>.
	URL string

	srv     *httptest.Server
	backend *s3mem.Backend
	mu      struct {
		sync.Mutex
		gone map[string]bool
	}
}

// StartFakeS3 starts a FakeS3 holding the given (empty) buckets; it stops
// when the test ends.
func StartFakeS3(t testing.TB, buckets ...string) *FakeS3 {
	t.Helper()
	f := &FakeS3{backend: s3mem.New()}
	f.mu.gone = map[string]bool{}
	faker := gofakes3.New(f.backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	for _, b := range buckets {
		if err := f.backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	f.srv = httptest.NewUnstartedServer(f.guard(faker.Server()))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Listener = l
	// A client that dies mid-request (a crash test's kill) makes gofakes3
	// write a second header, which net/http would log.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.Start()
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// guard answers as S3 does a request signed with another access key, or
// one for a bucket that is gone.
func (f *FakeS3) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		_, cred, _ := strings.Cut(auth, "Credential=")
		switch key, _, _ := strings.Cut(cred, "/"); {
		case key == FakeS3ReadOnlyKey && r.Method != http.MethodGet && r.Method != http.MethodHead:
			s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		case key != FakeS3AccessKey && key != FakeS3ReadOnlyKey:
			s3Error(w, r, http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
			return
		}
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		f.mu.Lock()
		gone := f.mu.gone[bucket]
		f.mu.Unlock()
		if gone {
			s3Error(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource></Error>`,
			code, msg, r.URL.Path)
	}
}

// SetGone makes bucket disappear (every request for it is answered
// NoSuchBucket) or come back with what it held.
func (f *FakeS3) SetGone(bucket string, gone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.gone[bucket] = gone
}

// Config returns the configuration of a storage on the fake at
// s3://bucket/prefix.
func (f *FakeS3) Config(bucket, prefix string) checkpoint.S3Config {
	return checkpoint.S3Config{
		Bucket: bucket, Prefix: prefix, Endpoint: f.URL, Region: "us-east-1",
		AccessKeyID: FakeS3AccessKey, SecretAccessKey: FakeS3SecretKey,
		MaxRetries: 1,
	}
}

// SetEnv points S3ConfigFromEnv at the fake, for the rest of the test.
func (f *FakeS3) SetEnv(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", f.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", FakeS3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", FakeS3SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
}

// Env returns the environment variables SetEnv sets, for a child process.
func (f *FakeS3) Env() []string {
	return []string{"AWS_ENDPOINT_URL_S3=" + f.URL, "AWS_ACCESS_KEY_ID=" + FakeS3AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + FakeS3SecretKey, "AWS_REGION=us-east-1"}
}

// Client returns a client of the fake, for tests that look at or damage
// objects directly.
func (f *FakeS3) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(f.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(FakeS3AccessKey, FakeS3SecretKey, ""), Region: "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// PutObject writes an object directly, bypassing the storage.
func (f *FakeS3) PutObject(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	_, err := f.Client(t).PutObject(context.Background(), bucket, key, strings.NewReader(string(data)), int64(len(data)),
		minio.PutObjectOptions{DisableContentSha256: true})
	if err != nil {
		t.Fatal(err)
	}
}
