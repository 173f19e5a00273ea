package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/state"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every play is joined to its impression when it came within the window
// after it, and is an orphan otherwise — as computed here — each once; and
// the join's final checkpoint holds no impression, no play and no timer.
func TestJoinsPlaysAndEvictsState(t *testing.T) {
	c := kafkatest.NewCluster(t)
	for _, topic := range []string{"impressions", "plays", "impression-plays", "orphan-plays"} {
		c.Topic(topic, 2)
	}
	const within = 10 * time.Minute
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(24, 1))
	type shown struct {
		profile, title string
		at             time.Time
	}
	imps := map[string]shown{}
	var impRecs, playRecs []*kgo.Record
	var wantJoined, wantOrphans []string
	titles := []string{"Cat Video", "Space Launch", "Morning Yoga", "Cooking"}
	for k := range 600 {
		id := fmt.Sprintf("i%04d", k)
		s := shown{fmt.Sprintf("p%d", rng.IntN(50)), titles[rng.IntN(len(titles))], t0.Add(time.Duration(k) * 2 * time.Second)}
		imps[id] = s
		impRecs = append(impRecs, &kgo.Record{Key: []byte(id), Timestamp: s.at,
			Value: fmt.Appendf(nil, `{"id":%q,"profile":%q,"title":%q}`, id, s.profile, s.title)})
		for range rng.IntN(4) - 1 { // most impressions are not played; some twice
			// Mostly within the window, some after it, a few before the
			// impression (a clock gone wrong).
			at := s.at.Add(time.Duration(rng.Int64N(int64(15*time.Minute))) - time.Minute).Truncate(time.Millisecond)
			playRecs = append(playRecs, &kgo.Record{Key: []byte(id), Timestamp: at,
				Value: fmt.Appendf(nil, `{"impression":%q,"profile":%q}`, id, s.profile)})
			if !at.Before(s.at) && !at.After(s.at.Add(within)) {
				wantJoined = append(wantJoined, fmt.Sprintf("%s %s %s %s", id, s.title, s.at.Format(time.TimeOnly), at.Format(time.StampMilli)))
			} else {
				wantOrphans = append(wantOrphans, fmt.Sprintf("%s %s", id, at.Format(time.StampMilli)))
			}
		}
	}
	for k := range 20 { // plays of impressions never shown
		id := fmt.Sprintf("gone%02d", k)
		at := t0.Add(time.Duration(k) * time.Minute)
		playRecs = append(playRecs, &kgo.Record{Key: []byte(id), Timestamp: at, Value: fmt.Appendf(nil, `{"impression":%q,"profile":"p1"}`, id)})
		wantOrphans = append(wantOrphans, fmt.Sprintf("%s %s", id, at.Format(time.StampMilli)))
	}
	byTime := func(a, b *kgo.Record) int { return a.Timestamp.Compare(b.Timestamp) }
	slices.SortStableFunc(playRecs, byTime)
	playRecs = append(playRecs, &kgo.Record{Key: []byte("x"), Timestamp: t0, Value: []byte("not json")})
	c.Produce("impressions", impRecs...)
	c.Produce("plays", playRecs...)

	chk := filepath.Join(t.TempDir(), "chk")
	var out bytes.Buffer
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-bounded", "-within", within.String(),
		"-out-of-order", "0s", "-checkpoints", chk, "-interval", "100ms",
		// Never idle: a partition read late on a loaded machine must hold
		// the watermark back; the end of the input moves it on.
		"-idle", "1h"}
	if err := run(context.Background(), args, nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}

	var gotJoined, gotOrphans []string
	for _, r := range c.ReadCommitted("impression-plays") {
		var j Joined
		if err := json.Unmarshal(r.Value, &j); err != nil {
			t.Fatal(err)
		}
		if s := imps[j.Impression]; j.Profile != s.profile {
			t.Errorf("%s joined with profile %s, want %s", j.Impression, j.Profile, s.profile)
		}
		gotJoined = append(gotJoined, fmt.Sprintf("%s %s %s %s", j.Impression, j.Title, j.ShownAt.UTC().Format(time.TimeOnly), j.PlayedAt.UTC().Format(time.StampMilli)))
	}
	for _, r := range c.ReadCommitted("orphan-plays") {
		var o Orphan
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatal(err)
		}
		gotOrphans = append(gotOrphans, fmt.Sprintf("%s %s", o.Impression, o.PlayedAt.UTC().Format(time.StampMilli)))
		// A play before its impression is outside the window, or has no
		// impression yet when the watermark passes it: which one depends
		// on the order the topics are read in. A play of an impression
		// never shown has none.
		if want := "no impression"; strings.HasPrefix(o.Impression, "gone") && o.Reason != want {
			t.Errorf("orphan %s: reason %q, want %q", o.Impression, o.Reason, want)
		}
	}
	for _, s := range [][]string{wantJoined, wantOrphans, gotJoined, gotOrphans} {
		slices.Sort(s)
	}
	if !slices.Equal(gotJoined, wantJoined) {
		t.Errorf("joined %d plays, want %d:\n got %v\nwant %v", len(gotJoined), len(wantJoined), gotJoined, wantJoined)
	}
	if !slices.Equal(gotOrphans, wantOrphans) {
		t.Errorf("%d orphans, want %d:\n got %v\nwant %v", len(gotOrphans), len(wantOrphans), gotOrphans, wantOrphans)
	}
	summary := fmt.Sprintf("%d impressions, %d plays: %d joined, %d orphans, 1 records skipped",
		len(impRecs), len(playRecs)-1, len(wantJoined), len(wantOrphans))
	if !strings.Contains(out.String(), summary) {
		t.Errorf("output %q, want %q", out.String(), summary)
	}
	if n := joinState(t, chk); n != 0 {
		t.Errorf("the final checkpoint holds %d entries of the join's state; eviction should leave none", n)
	}
}

// joinState counts the entries of the join's tables — impressions, plays
// and timers — in the newest checkpoint in dir.
func joinState(t *testing.T, dir string) int {
	t.Helper()
	ctx := context.Background()
	d, err := checkpoint.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := checkpoint.Latest(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.ReadMetadata(ctx, info.Ref)
	if err != nil {
		t.Fatal(err)
	}
	op, ok := m.Operator("join")
	if !ok {
		t.Fatalf("no state of the join in %s", info.Location)
	}
	var files []state.SnapshotFile
	for _, f := range op.Subtasks {
		rc, err := d.Open(ctx, info.Ref, f.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, state.BytesSnapshot(f.Name, b))
	}
	b, err := state.NewMemory(state.Config{OperatorID: "join", KeyGroups: state.KeyGroupRange{Start: 0, End: m.MaxParallelism},
		MaxParallelism: m.MaxParallelism, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Restore(files); err != nil {
		t.Fatal(err)
	}
	imps, err := state.NewValue(b, state.TableDesc[string, struct{}, Impression]{Name: "impression", Key: codec.String(), Namespace: codec.Unit(), Value: codec.MustFor[Impression]()})
	if err != nil {
		t.Fatal(err)
	}
	plays, err := state.NewList(b, state.TableDesc[string, struct{}, Play]{Name: "plays", Key: codec.String(), Namespace: codec.Unit(), Value: codec.MustFor[Play]()})
	if err != nil {
		t.Fatal(err)
	}
	timers, err := state.NewValue(b, state.TimerDesc(codec.String()))
	if err != nil {
		t.Fatal(err)
	}
	return imps.Len() + plays.Len() + timers.Len()
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-within", "0s"}, {"-out-of-order", "-1s"}, {"-idle", "0s"}, {"-interval", "0s"}} {
		if err := run(context.Background(), args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("run %v: %v, want an error naming %s", args, err, args[0])
		}
	}
}
