package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/redis"
	"github.com/weirstream/weir/connectors/redis/redistest"
	"github.com/weirstream/weir/connectortest"
)

// The sink passes the conformance suite as an at-least-once sink: each
// record is a key of its own, so what the suite reads back is every key.
func TestSinkConformance(t *testing.T) {
	connectortest.RunSink(t, connectortest.Sink[string]{
		Capabilities: connectortest.SinkCapabilities{Rescale: true},
		Setup: func(t *testing.T) connectortest.SinkData[string] {
			srv := redistest.Start(t)
			cfg := redis.SinkConfig[string]{Conn: redis.Conn{Addr: srv.Addr()}, Key: func(s string) string { return "rec:" + s },
				Value: format.String()}
			return connectortest.SinkData[string]{
				Sink: func() weir.Sink[string] {
					s, err := redis.NewSink(cfg)
					if err != nil {
						t.Fatalf("NewSink: %v", err)
					}
					return s
				},
				Committed: func() ([]string, error) {
					ctx := context.Background()
					keys, err := srv.Client().Keys(ctx, "rec:*").Result()
					if err != nil {
						return nil, err
					}
					var out []string
					for _, k := range keys {
						if strings.HasSuffix(k, ":"+redis.DefaultVersionField) {
							continue
						}
						v, err := srv.Client().Get(ctx, k).Result()
						if err != nil {
							return nil, err
						}
						out = append(out, v)
					}
					return out, nil
				},
			}
		},
		Record: func(n int64) string { return strconv.FormatInt(n, 10) },
	})
}

type update struct {
	Key     string
	Version int64
	Value   string
}

func updateSink(t *testing.T, addr string, hash bool) *redis.Sink[update] {
	t.Helper()
	cfg := redis.SinkConfig[update]{Conn: redis.Conn{Addr: addr}, Key: func(u update) string { return u.Key },
		Version: func(u update) int64 { return u.Version }, Batch: 8}
	if hash {
		cfg.Fields = func(u update) map[string]string { return map[string]string{"value": u.Value} }
	} else {
		cfg.Value = format.Encoder[update](encoderFunc(func(dst []byte, u update) ([]byte, error) { return append(dst, u.Value...), nil }))
	}
	s, err := redis.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type encoderFunc func(dst []byte, u update) ([]byte, error)

func (f encoderFunc) Encode(dst []byte, u update) ([]byte, error) { return f(dst, u) }

// A write older than the key's version is skipped, an equal or newer one
// applied, for strings and hashes alike.
func TestSinkLastVersionWins(t *testing.T) {
	srv := redistest.Start(t)
	for _, hash := range []bool{false, true} {
		t.Run(fmt.Sprintf("hash=%v", hash), func(t *testing.T) {
			key := fmt.Sprintf("view:%v", hash)
			s := updateSink(t, srv.Addr(), hash)
			w, err := s.Open(context.Background(), weir.SinkInfo{})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []update{{key, 5, "five"}, {key, 3, "three"}, {key, 5, "five again"}, {key, 4, "four"}} {
				if err := w.Write(u); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := value(t, srv, key, hash); got != "five again" {
				t.Errorf("%s = %q, want %q", key, got, "five again")
			}
			if s.Skipped() != 2 {
				t.Errorf("Skipped() = %d, want 2", s.Skipped())
			}
		})
	}
}

func value(t *testing.T, srv *redistest.Server, key string, hash bool) string {
	t.Helper()
	ctx := context.Background()
	var v string
	var err error
	if hash {
		v, err = srv.Client().HGet(ctx, key, "value").Result()
	} else {
		v, err = srv.Client().Get(ctx, key).Result()
	}
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

// A job keeping a view of 50 keys, failing once after a checkpoint and
// restarted by its restart strategy, leaves each key at its last update:
// the updates it replays are older than what the view holds and skipped.
func TestSinkViewAcrossRestart(t *testing.T) {
	srv := redistest.Start(t)
	const n, keys = 3000, 50
	gen := weir.Generator(weir.GeneratorSpec{Count: n, Rate: 5000}, func(seq int64) update {
		return update{Key: fmt.Sprintf("k%d", seq%keys), Version: seq, Value: fmt.Sprintf("v%d", seq)}
	})
	sink := updateSink(t, srv.Addr(), true)
	var armed, failed atomic.Bool
	var seen, restarts atomic.Int64
	var arm sync.Once
	env := weir.New(weir.Checkpoints(100*time.Millisecond, t.TempDir()),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { arm.Do(func() { armed.Store(true) }) }),
		weir.Restarts(weir.RestartStrategy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}),
		weir.OnRestart(func(weir.Restart) { restarts.Add(1) }))
	s := weir.TryMap(weir.From(env, gen).ID("gen"), func(u update) (update, error) {
		if armed.Load() && seen.Add(1) > 200 && failed.CompareAndSwap(false, true) {
			return u, errors.New("the failure injected once after a checkpoint")
		}
		return u, nil
	}).ID("fail-once")
	weir.To(s, sink).ID("view")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if restarts.Load() != 1 {
		t.Fatalf("the job restarted %d times, want 1", restarts.Load())
	}
	for k := range keys {
		last := int64(n - keys + k) // the last seq with seq%keys == k
		key := fmt.Sprintf("k%d", k)
		if got, want := value(t, srv, key, true), fmt.Sprintf("v%d", last); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if sink.Skipped() == 0 {
		t.Error("the restarted job wrote no older update again, so the test did not exercise the versions")
	}
	t.Logf("the server skipped %d replayed updates", sink.Skipped())
}
