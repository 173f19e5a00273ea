package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/connectors/redis/redistest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is the view an asset should have: computed here from the events,
// by a fold of its own.
type want struct {
	edges   map[string]bool
	version int64
}

func (w want) String() string {
	var e []string
	for k := range w.edges {
		e = append(e, k)
	}
	slices.Sort(e)
	return fmt.Sprintf("edges=%s version=%d", strings.Join(e, ","), w.version)
}

// events makes n change events of the given assets over edges, in event
// time order, and the view they leave.
func events(n int, assets, edges int, at time.Time) ([]*kgo.Record, map[string]*want) {
	rng := rand.New(rand.NewPCG(24, 7))
	views := map[string]*want{}
	var recs []*kgo.Record
	for i := range n {
		asset := fmt.Sprintf("a%03d", rng.IntN(assets))
		edge := fmt.Sprintf("edge-%d", rng.IntN(edges))
		w := views[asset]
		if w == nil {
			w = &want{edges: map[string]bool{}}
			views[asset] = w
		}
		var body string
		switch op := rng.IntN(10); {
		case op < 5:
			body = fmt.Sprintf(`{"asset":%q,"op":"added","edge":%q}`, asset, edge)
			w.edges[edge] = true
		case op < 8:
			body = fmt.Sprintf(`{"asset":%q,"op":"deleted","edge":%q}`, asset, edge)
			delete(w.edges, edge)
		default:
			to := fmt.Sprintf("edge-%d", rng.IntN(edges))
			body = fmt.Sprintf(`{"asset":%q,"op":"moved","edge":%q,"to":%q}`, asset, edge, to)
			delete(w.edges, edge)
			w.edges[to] = true
		}
		w.version++
		recs = append(recs, &kgo.Record{Key: []byte(asset), Value: []byte(body),
			Timestamp: at.Add(time.Duration(i) * 20 * time.Millisecond)})
	}
	return recs, views
}

// checkView compares the Redis hashes asset:<id> with the expected views.
func checkView(t *testing.T, srv *redistest.Server, views map[string]*want) {
	t.Helper()
	ctx := context.Background()
	keys, err := srv.Client().Keys(ctx, "asset:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(views) {
		t.Errorf("%d asset keys in Redis, want %d", len(keys), len(views))
	}
	for asset, w := range views {
		h, err := srv.Client().HGetAll(ctx, "asset:"+asset).Result()
		if err != nil {
			t.Fatal(err)
		}
		got := want{edges: map[string]bool{}}
		if h["edges"] != "" {
			for e := range strings.SplitSeq(h["edges"], ",") {
				got.edges[e] = true
			}
		}
		got.version, _ = strconv.ParseInt(h["_version"], 10, 64)
		if got.String() != w.String() {
			t.Errorf("asset:%s holds %s (%v), want %s", asset, got, h, w)
		}
	}
}

// The view folded from the events equals the fold computed here; after
// keys are lost or damaged in Redis, a restored job's snapshot writes
// them again from its state, without reading an event again.
func TestViewAndSnapshot(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("asset-events", 3)
	srv := redistest.Start(t)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	const n = 3000
	recs, views := events(n, 40, 12, at)
	bad := []*kgo.Record{
		{Key: []byte("x"), Value: []byte("not json"), Timestamp: at},
		{Key: []byte("x"), Value: []byte(`{"asset":"a000","op":"copied","edge":"edge-1"}`), Timestamp: at},
		{Key: []byte("x"), Value: []byte(`{"asset":"a000","op":"moved","edge":"edge-1"}`), Timestamp: at},
	}
	c.Produce("asset-events", append(recs, bad...)...)
	dir := t.TempDir()
	chk := filepath.Join(dir, "chk")
	catalog := filepath.Join(dir, "catalog.txt")
	var ids []string
	for id := range views {
		ids = append(ids, id)
	}
	if err := os.WriteFile(catalog, []byte(strings.Join(append(ids, "# a comment", "never-changed"), "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"-brokers", strings.Join(c.Brokers(), ","), "-redis", srv.Addr(), "-bounded",
		"-checkpoints", chk, "-interval", "100ms", "-flush", "5s"}

	var out bytes.Buffer
	if err := run(context.Background(), common, nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	checkView(t, srv, views)
	var read, skipped, written, older int64
	line := out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:]
	if _, err := fmt.Sscanf(line, "%d changes read, %d skipped, %d placements written, %d writes", &read, &skipped, &written, &older); err != nil {
		t.Fatalf("summary %q: %v", line, err)
	}
	if read != n+int64(len(bad)) || skipped != int64(len(bad)) {
		t.Errorf("%d read and %d skipped, want %d and %d", read, skipped, n+len(bad), len(bad))
	}
	// 3000 changes over 60 s: the flushes of 5 s intervals write far
	// fewer placements than there were changes, and at least one each.
	if written >= n || written < int64(len(views)) {
		t.Errorf("%d placements written for %d changes of %d assets: want the changes of each interval written together", written, n, len(views))
	}

	// Lose a few keys and damage one; a restored job with a snapshot
	// repairs them from its state.
	ctx := context.Background()
	if err := srv.Client().Del(ctx, "asset:a001", "asset:a002", "asset:a003").Err(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().HSet(ctx, "asset:a004", "edges", "edge-999", "_version", "1").Err(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), append(common, "-restore", "latest", "-snapshot", "-catalog", catalog), nil, &out); err != nil {
		t.Fatalf("run -snapshot: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("0 changes read, 0 skipped, %d placements written", len(views))) {
		t.Errorf("snapshot run: %q, want no change read again and one placement written per asset", out.String())
	}
	checkView(t, srv, views)
}

func TestRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-flush", "0s"}, "-flush"},
		{[]string{"-interval", "-1s"}, "-interval"},
		{[]string{"-snapshot"}, "-catalog"},
		{[]string{"-snapshot-every", "1m", "-bounded", "-catalog", "x"}, "-bounded"},
		{[]string{"-snapshot", "-catalog", "/nonexistent/catalog.txt"}, "catalog"},
	} {
		if err := run(context.Background(), tc.args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
