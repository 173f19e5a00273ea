package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

const bucket = "weir-test"

// newS3 opens a storage under a prefix of its own on fake.
func newS3(t *testing.T, fake *checkpointtest.FakeS3, prefix string) *checkpoint.S3 {
	t.Helper()
	s, err := checkpoint.OpenS3(fake.Config(bucket, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestS3 runs the conformance suite on S3 against an in-process fake: each
// test on a prefix of its own, and a few on the bucket's root.
func TestS3(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	var n atomic.Int64
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Storage {
		return newS3(t, fake, fmt.Sprintf("jobs/run-%d", n.Add(1)))
	})
	t.Run("BucketRoot", func(t *testing.T) {
		checkpointtest.Run(t, func(t *testing.T) checkpoint.Storage {
			// A server for each test, as they share the root.
			return newS3(t, checkpointtest.StartFakeS3(t, bucket), "")
		})
	})
}

// Storages on neighbouring prefixes do not see each other's checkpoints,
// even when one prefix starts with the other.
func TestS3PrefixesApart(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	a, b := newS3(t, fake, "job"), newS3(t, fake, "job-2")
	ha := &checkpointtest.H{T: t, S: a, Ctx: t.Context()}
	hb := &checkpointtest.H{T: t, S: b, Ctx: t.Context()}
	ha.Complete(chk(1), checkpointtest.T0, 1)
	hb.Complete(chk(2), checkpointtest.T0, 2)
	if got := checkpointtest.Refs(ha.List()); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
		t.Fatalf("job lists %v", got)
	}
	if got := checkpointtest.Refs(hb.List()); !slices.Equal(got, []checkpoint.Ref{chk(2)}) {
		t.Fatalf("job-2 lists %v", got)
	}
	if got, want := ha.List()[0].Location, "s3://"+bucket+"/job/"+chk(1).String(); got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
}

// A state file of several parts comes back byte for byte, written in
// pieces of every size; it is uploaded a part at a time.
func TestS3LargeStateFile(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	cfg := fake.Config(bucket, "big")
	cfg.PartSize = 5 << 20
	s, err := checkpoint.OpenS3(cfg)
	must(t, err)
	w, err := s.Create(t.Context(), chk(1), "big")
	must(t, err)
	var want bytes.Buffer
	rng := rand.New(rand.NewPCG(3, 4))
	for want.Len() < 3*cfg.PartSize+12345 {
		p := make([]byte, rng.IntN(1<<20))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		want.Write(p)
	}
	must(t, w.Close())
	r, err := s.Open(t.Context(), chk(1), "big")
	must(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	must(t, err)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes back, wrote %d; equal: false", len(got), want.Len())
	}
}

// An aborted upload of several parts leaves no object and no upload in
// progress; neither does a write canceled through its context.
func TestS3AbortLeavesNothing(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	cfg := fake.Config(bucket, "abort")
	cfg.PartSize = 5 << 20
	s, err := checkpoint.OpenS3(cfg)
	must(t, err)
	part := bytes.Repeat([]byte("x"), cfg.PartSize)

	w, err := s.Create(t.Context(), chk(1), "a")
	must(t, err)
	for range 2 {
		_, err := w.Write(part)
		must(t, err)
	}
	must(t, checkpoint.Abort(w))

	ctx, cancel := context.WithCancel(t.Context())
	w, err = s.Create(ctx, chk(1), "b")
	must(t, err)
	_, err = w.Write(part)
	must(t, err)
	cancel()
	if _, err := w.Write(part); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel: %v, want context.Canceled", err)
	}
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after cancel: %v, want context.Canceled", err)
	}

	c := fake.Client(t)
	for o := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: "abort/", Recursive: true}) {
		t.Errorf("object %q (%v) left by an aborted write", o.Key, o.Err)
	}
	for u := range c.ListIncompleteUploads(t.Context(), bucket, "abort/", true) {
		t.Errorf("upload of %q (%v) left in progress by an aborted write", u.Key, u.Err)
	}
}

// A damaged _metadata object is neither used nor hidden: ReadMetadata,
// List and Resolve fail naming it with ErrCorrupt; Retain deletes nothing;
// Inspect shows it broken.
func TestS3DamagedMetadata(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	s := newS3(t, fake, "damaged")
	h := &checkpointtest.H{T: t, S: s, Ctx: t.Context()}
	h.Complete(chk(1), checkpointtest.T0, 1)
	m := h.Complete(chk(2), checkpointtest.T0.Add(1), 2)
	data, err := m.Encode()
	must(t, err)
	data[len(data)/2] ^= 0x20
	key := "damaged/" + chk(2).String() + "/_metadata"
	fake.PutObject(t, bucket, key, data)

	_, err = s.ReadMetadata(t.Context(), chk(2))
	if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "s3://"+bucket+"/"+key) {
		t.Fatalf("ReadMetadata: %v; want ErrCorrupt naming s3://%s/%s", err, bucket, key)
	}
	if _, err := s.List(t.Context()); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("List: %v; want ErrCorrupt", err)
	}
	if _, err := s.Resolve(t.Context(), s.Location()); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Resolve latest: %v; want ErrCorrupt", err)
	}
	if err := checkpoint.Retain(t.Context(), s, 1); err == nil {
		t.Fatal("Retain succeeded with a damaged checkpoint")
	}
	entries, err := s.Inspect(t.Context())
	must(t, err)
	if len(entries) != 2 || entries[0].Ref != chk(1) || entries[1].Status != checkpoint.Broken {
		t.Fatalf("Inspect = %+v; want chk 1 complete, chk 2 broken", entries)
	}
	// The older one is still whole and can be named.
	info, err := s.Resolve(t.Context(), "s3://"+bucket+"/damaged/chk-1")
	if err != nil || info.Ref != chk(1) {
		t.Fatalf("Resolve chk-1 = %+v, %v", info, err)
	}
}

// A state file deleted after the checkpoint completed fails Verify and
// makes Inspect call the checkpoint broken, naming the file.
func TestS3MissingStateFile(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	s := newS3(t, fake, "missing")
	h := &checkpointtest.H{T: t, S: s, Ctx: t.Context()}
	m := h.Complete(chk(1), checkpointtest.T0, 2)
	name := m.Operators[0].Subtasks[1].Name
	key := "missing/" + chk(1).String() + "/" + name
	must(t, fake.Client(t).RemoveObject(t.Context(), bucket, key, minio.RemoveObjectOptions{}))

	err := s.Verify(t.Context(), chk(1))
	if !errors.Is(err, checkpoint.ErrMissingFile) || !strings.Contains(err.Error(), key) {
		t.Fatalf("Verify: %v; want ErrMissingFile naming %s", err, key)
	}
	entries, err := s.Inspect(t.Context())
	must(t, err)
	if len(entries) != 1 || entries[0].Status != checkpoint.Broken || !errors.Is(entries[0].Problem, checkpoint.ErrMissingFile) {
		t.Fatalf("Inspect = %+v; want chk 1 broken for its missing file", entries)
	}
	// A truncated one too.
	fake.PutObject(t, bucket, key, []byte("short"))
	if err := s.Verify(t.Context(), chk(1)); !errors.Is(err, checkpoint.ErrMissingFile) || !strings.Contains(err.Error(), "has 5 bytes") {
		t.Fatalf("Verify of a truncated file: %v", err)
	}
}

// Wrong credentials and a missing bucket fail CheckWritable at once, with
// an error naming the bucket and the endpoint.
func TestS3CheckWritable(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	must(t, newS3(t, fake, "ok").CheckWritable(t.Context()))

	wrong := fake.Config(bucket, "p")
	wrong.AccessKeyID = "nobody"
	s, err := checkpoint.OpenS3(wrong)
	must(t, err)
	err = s.CheckWritable(t.Context())
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), fake.URL) ||
		!strings.Contains(err.Error(), bucket) {
		t.Fatalf("CheckWritable with a wrong key: %v; want the credentials refused, naming %s and %q", err, fake.URL, bucket)
	}

	missing, err := checkpoint.OpenS3(fake.Config("no-such-bucket", "p"))
	must(t, err)
	err = missing.CheckWritable(t.Context())
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist at `+fake.URL) {
		t.Fatalf("CheckWritable of a missing bucket: %v", err)
	}
}

// When the bucket disappears, a checkpoint fails with an error naming the
// bucket, and once it is back the earlier checkpoints are intact.
func TestS3BucketGone(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	s := newS3(t, fake, "gone")
	h := &checkpointtest.H{T: t, S: s, Ctx: t.Context()}
	h.Complete(chk(1), checkpointtest.T0, 2)

	fake.SetGone(bucket, true)
	// A HEAD has no body to say which is missing, so the write fails at
	// the latest when the object is sent.
	err := func() error {
		w, err := s.Create(t.Context(), chk(2), "a")
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte("state")); err != nil {
			checkpoint.Abort(w)
			return err
		}
		return w.Close()
	}()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("bucket %q does not exist", bucket)) {
		t.Fatalf("writing a state file with the bucket gone: %v", err)
	}
	err = s.Complete(t.Context(), checkpointtest.Meta(chk(2), checkpointtest.T0.Add(1)))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("bucket %q does not exist", bucket)) {
		t.Fatalf("Complete with the bucket gone: %v", err)
	}
	fake.SetGone(bucket, false)
	if got := checkpointtest.Refs(h.List()); !slices.Equal(got, []checkpoint.Ref{chk(1)}) {
		t.Fatalf("List = %v after the bucket came back", got)
	}
	must(t, s.Verify(t.Context(), chk(1)))
}

func TestOpenLocationS3(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	fake.SetEnv(t)
	s := newS3(t, fake, "a/b")
	h := &checkpointtest.H{T: t, S: s, Ctx: t.Context()}
	h.Complete(chk(7), checkpointtest.T0, 1)
	h.Complete(sp(8), checkpointtest.T0.Add(1), 1)
	for _, tc := range []struct {
		loc  string
		want checkpoint.Ref
	}{
		{"s3://" + bucket + "/a/b", sp(8)},
		{"s3://" + bucket + "/a/b/", sp(8)},
		{"s3://" + bucket + "/a/b/chk-7", chk(7)},
		{"s3://" + bucket + "/a/b/" + chk(7).String(), chk(7)},
		{"s3://" + bucket + "/a/b/sp-8/", sp(8)},
	} {
		st, info, err := checkpoint.OpenLocation(t.Context(), tc.loc)
		if err != nil || info.Ref != tc.want {
			t.Errorf("OpenLocation(%q) = %v, %v; want %v", tc.loc, info.Ref, err, tc.want)
			continue
		}
		if got := st.Location(); got != "s3://"+bucket+"/a/b" {
			t.Errorf("OpenLocation(%q) opened %s", tc.loc, got)
		}
		st.Close()
	}
	for _, loc := range []string{"s3://" + bucket + "/a/b/chk-9", "s3://" + bucket + "/a", "s3://" + bucket + "/a/b/chk-x", "s3:///a", "s3://" + bucket + "/a//b"} {
		if _, _, err := checkpoint.OpenLocation(t.Context(), loc); err == nil {
			t.Errorf("OpenLocation(%q) succeeded", loc)
		}
	}
}

func TestS3ConfigFromEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_SESSION_TOKEN", "tok")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-3")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv(checkpoint.EnvS3PathStyle, "true")
	cfg, err := checkpoint.S3ConfigFromEnv("s3://b/x/y/")
	must(t, err)
	if cfg.Bucket != "b" || cfg.Prefix != "x/y" || cfg.AccessKeyID != "k" || cfg.SecretAccessKey != "s" || cfg.SessionToken != "tok" ||
		cfg.Region != "eu-west-3" || cfg.Endpoint != "http://127.0.0.1:9000" || cfg.PathStyle == nil || !*cfg.PathStyle {
		t.Fatalf("S3ConfigFromEnv = %+v", cfg)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://s3.example.com")
	cfg, err = checkpoint.S3ConfigFromEnv("s3://b")
	must(t, err)
	if _, err := checkpoint.OpenS3(cfg); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("OpenS3 with plain http to another host: %v; want it refused", err)
	}
	t.Setenv(checkpoint.EnvS3AllowHTTP, "true")
	cfg, err = checkpoint.S3ConfigFromEnv("s3://b")
	must(t, err)
	if _, err := checkpoint.OpenS3(cfg); err != nil {
		t.Fatalf("OpenS3 with plain http allowed: %v", err)
	}
	t.Setenv(checkpoint.EnvS3PathStyle, "sideways")
	if _, err := checkpoint.S3ConfigFromEnv("s3://b"); err == nil || !strings.Contains(err.Error(), checkpoint.EnvS3PathStyle) {
		t.Fatalf("a bad %s: %v", checkpoint.EnvS3PathStyle, err)
	}
}

// Delete aborts the multipart upload a writer that never finished (its
// process killed mid-file) left under the checkpoint.
func TestS3DeleteAbortsLeftUploads(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, bucket)
	cfg := fake.Config(bucket, "left")
	cfg.PartSize = 5 << 20
	s, err := checkpoint.OpenS3(cfg)
	must(t, err)
	h := &checkpointtest.H{T: t, S: s, Ctx: t.Context()}
	h.WriteFile(chk(1), "done", []byte("state"))
	w, err := s.Create(t.Context(), chk(1), "killed")
	must(t, err)
	_, err = w.Write(bytes.Repeat([]byte("x"), 2*cfg.PartSize))
	must(t, err)
	// Neither closed nor aborted: the process died here.
	c := fake.Client(t)
	n := 0
	for range c.ListIncompleteUploads(t.Context(), bucket, "left/", true) {
		n++
	}
	if n != 1 {
		t.Fatalf("%d uploads in progress, want the killed writer's", n)
	}
	must(t, s.Delete(t.Context(), chk(1)))
	for u := range c.ListIncompleteUploads(t.Context(), bucket, "left/", true) {
		t.Errorf("upload of %q (%v) left after Delete", u.Key, u.Err)
	}
}
