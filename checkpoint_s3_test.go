package weir_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

const s3Bucket = "weir-jobs"

// s3CountJob is countJob checkpointing to loc, an s3:// URL: when
// failAfter is set it fails once it has seen that many records and a
// checkpoint has completed.
func s3CountJob(loc string, n int64, p int, failAfter int64, opts ...weir.Option) (*weir.Env, *weir.Collector[string]) {
	var completed atomic.Int64
	hook := func(seen int64) error {
		if failAfter > 0 {
			holdLast(seen, n, func() bool { return completed.Load() > 0 })
		}
		if failAfter > 0 && seen > failAfter && completed.Load() > 0 {
			return errInjected
		}
		return nil
	}
	opts = append([]weir.Option{weir.Checkpoints(5*time.Millisecond, loc),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { completed.Add(1) })}, opts...)
	return countJobWith(loc, n, p, hook, opts...)
}

// A job that checkpoints to S3, fails, and is restored from the latest
// checkpoint in the bucket — at another parallelism — ends with exactly
// the counts of an uninterrupted run; one stopped with a savepoint
// resumes from it the same way.
func TestCheckpointsOnS3RestoreExactlyOnce(t *testing.T) {
	const n = 3000
	fake := checkpointtest.StartFakeS3(t, s3Bucket)
	fake.SetEnv(t)

	t.Run("failure", func(t *testing.T) {
		loc := "s3://" + s3Bucket + "/failure"
		env, _ := s3CountJob(loc, n, 1, 1000)
		if err := env.Run(t.Context()); !errors.Is(err, errInjected) {
			t.Fatalf("first run: %v, want the injected failure", err)
		}
		env, got := s3CountJob(loc, n, 2, 0, weir.Restore("latest"))
		if err := env.Run(t.Context()); err != nil {
			t.Fatalf("restored run: %v", err)
		}
		restored := env.JobMetrics().Restored
		if !strings.HasPrefix(restored.Path, loc+"/chk-") {
			t.Errorf("restored from %q, want a checkpoint under %s", restored.Path, loc)
		}
		if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
			t.Fatalf("counts after restore %v, want %v", g, wantCounts(n))
		}
	})

	// On Pebble the checkpoints are incremental: their table files are
	// objects under <prefix>/shared/, which the restore downloads.
	t.Run("incremental", func(t *testing.T) {
		loc := "s3://" + s3Bucket + "/incremental"
		peb := weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{Dir: t.TempDir()}))
		env, _ := s3CountJob(loc, n, 1, 1000, peb)
		if err := env.Run(t.Context()); !errors.Is(err, errInjected) {
			t.Fatalf("first run: %v, want the injected failure", err)
		}
		store, info, err := checkpoint.OpenLocation(t.Context(), loc)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		m, err := store.ReadMetadata(t.Context(), info.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.SharedNames()) == 0 {
			t.Fatalf("%s refers to no shared file: not incremental", info.Location)
		}
		env, got := s3CountJob(loc, n, 2, 0, weir.Restore("latest"), peb)
		if err := env.Run(t.Context()); err != nil {
			t.Fatalf("restored run: %v", err)
		}
		if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
			t.Fatalf("counts after restore %v, want %v", g, wantCounts(n))
		}
	})

	t.Run("savepoint", func(t *testing.T) {
		loc := "s3://" + s3Bucket + "/savepoint"
		stop := make(chan struct{})
		var stoppedAt string
		env, first := countJobWith(loc, n, 2, closeAt(stop), weir.Checkpoints(time.Hour, loc), weir.StopOn(stop),
			weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
				if m.Stop {
					stoppedAt = m.Path
				}
			}))
		if err := env.Run(t.Context()); err != nil {
			t.Fatalf("stopped run: %v", err)
		}
		if v := first.Values(); len(v) != 0 {
			t.Fatalf("a stop fired event-time timers: %v", v)
		}
		if !strings.HasPrefix(stoppedAt, loc+"/sp-") {
			t.Fatalf("stopped with savepoint at %q, want one under %s", stoppedAt, loc)
		}
		// Named by its URL, from a job whose checkpoints go elsewhere.
		env, got := countJob(t.TempDir(), n, 1, 0, weir.Restore(stoppedAt))
		if err := env.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
			t.Fatalf("counts after resuming from the savepoint %v, want %v", g, wantCounts(n))
		}
	})
}

// Wrong credentials and a missing bucket fail the job before it reads a
// record, naming the bucket and the endpoint.
func TestS3CheckpointsFailAtStart(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, s3Bucket)
	for _, tc := range []struct {
		name, loc string
		env       map[string]string
		want      string
	}{
		{"wrong credentials", "s3://" + s3Bucket + "/job", map[string]string{"AWS_ACCESS_KEY_ID": "AKIAWRONG"},
			fmt.Sprintf("%s refused the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) for bucket %q", fake.URL, s3Bucket)},
		{"read-only credentials", "s3://" + s3Bucket + "/job", map[string]string{"AWS_ACCESS_KEY_ID": checkpointtest.FakeS3ReadOnlyKey},
			fmt.Sprintf("s3://%s/job is not writable: s3://%s/job/.write-check: %s refused the credentials", s3Bucket, s3Bucket, fake.URL)},
		{"missing bucket", "s3://no-such-bucket/job", nil, fmt.Sprintf(`bucket "no-such-bucket" does not exist at %s`, fake.URL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.SetEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var seen atomic.Int64
			env, _ := countJobWith(tc.loc, 1000, 1, func(int64) error { seen.Add(1); return nil })
			err := env.Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v; want an error saying %s", err, tc.want)
			}
			if n := seen.Load(); n != 0 {
				t.Errorf("the job read %d records before failing", n)
			}
		})
	}
}

// A bucket that disappears while the job runs fails its checkpoints, and
// the job, with an error naming the bucket; the checkpoints completed
// before are intact and restore exactly once when it is back.
func TestS3BucketGoneWhileRunning(t *testing.T) {
	// A second of input at the generator's rate: time for two checkpoints
	// to complete and two more to fail, also on Pebble, whose checkpoints
	// flush at the barrier.
	const n = 20000
	fake := checkpointtest.StartFakeS3(t, s3Bucket)
	fake.SetEnv(t)
	loc := "s3://" + s3Bucket + "/gone"
	var completed atomic.Int64
	env, _ := countJobWith(loc, n, 2, func(seen int64) error {
		if completed.Load() >= 2 {
			fake.SetGone(s3Bucket, true)
		}
		return nil
	}, weir.Checkpoints(5*time.Millisecond, loc), weir.TolerableCheckpointFailures(1),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { completed.Add(1) }))
	err := env.Run(t.Context())
	fake.SetGone(s3Bucket, false)
	want := fmt.Sprintf("bucket %q does not exist at %s", s3Bucket, fake.URL)
	if !errors.Is(err, weir.ErrTooManyCheckpointFailures) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run = %v; want too many checkpoint failures, saying %s", err, want)
	}
	s, err := checkpoint.Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(t.Context())
	if err != nil || len(infos) == 0 {
		t.Fatalf("after the bucket came back: List = %v, %v; want the checkpoints completed before", infos, err)
	}
	for _, in := range infos {
		if err := s.Verify(t.Context(), in.Ref); err != nil {
			t.Errorf("%v: %v", in.Ref, err)
		}
	}
	env, got := s3CountJob(loc, n, 1, 0, weir.Restore("latest"))
	if err := env.Run(t.Context()); err != nil {
		t.Fatalf("restored run: %v", err)
	}
	if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
		t.Fatalf("counts after restore %v, want %v", g, wantCounts(n))
	}
}

// A damaged _metadata object in the newest checkpoint fails a restore of
// "latest" naming it; a missing state object fails the restore of its
// checkpoint naming it, before any task opens.
func TestS3RestoreDamaged(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, s3Bucket)
	fake.SetEnv(t)
	loc := "s3://" + s3Bucket + "/damaged"
	env, _ := s3CountJob(loc, 2000, 1, 0)
	if err := env.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(t.Context())
	if err != nil || len(infos) < 2 {
		t.Fatalf("List = %v, %v; want at least 2 checkpoints", infos, err)
	}
	client := fake.Client(t)
	key := func(in checkpoint.Info, name string) string {
		return strings.TrimPrefix(in.Location, "s3://"+s3Bucket+"/") + "/" + name
	}

	newest, older := infos[0], infos[1]
	m, err := s.ReadMetadata(t.Context(), older.Ref)
	if err != nil {
		t.Fatal(err)
	}
	// The newest one's metadata, damaged.
	nm, err := s.ReadMetadata(t.Context(), newest.Ref)
	if err != nil {
		t.Fatal(err)
	}
	data, err := nm.Encode()
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	fake.PutObject(t, s3Bucket, key(newest, "_metadata"), data)
	env, _ = s3CountJob(loc, 2000, 1, 0, weir.Restore("latest"))
	err = env.Run(t.Context())
	if damaged := newest.Location + "/_metadata"; err == nil || !strings.Contains(err.Error(), damaged) || !strings.Contains(err.Error(), "does not fall back") {
		t.Fatalf("restore latest with a damaged newest checkpoint: %v; want an error naming %s", err, damaged)
	}

	// A state file of the older one, gone.
	if len(m.Operators) == 0 {
		t.Fatalf("%v has no state files", older.Ref)
	}
	gone := key(older, m.Operators[0].Subtasks[0].Name)
	if err := client.RemoveObject(t.Context(), s3Bucket, gone, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	env, _ = countJob(t.TempDir(), 2000, 1, 0, weir.Restore(older.Location))
	if err := env.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "s3://"+s3Bucket+"/"+gone+" is missing") {
		t.Fatalf("restore without s3://%s/%s: %v; want an error naming it", s3Bucket, gone, err)
	}
}
