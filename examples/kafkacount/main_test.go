package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The job reads every view the topic holds, counts them per page and
// window, and commits the counts to the output topic.
func TestCountsViewsPerWindow(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("views", 3)
	c.Topic("view-counts", 2)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	want := map[string]int64{}
	for i := range 300 {
		page := []string{"/home", "/cart", "/pay"}[i%3]
		if i%7 == 0 {
			page = "/home"
		}
		ts := at.Add(time.Duration(i) * 100 * time.Millisecond) // 30 s: three windows
		want[fmt.Sprintf("%s %s", page, ts.Truncate(10*time.Second).Format(time.TimeOnly))]++
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"page":%q,"user":"u%d"}`, page, i%11), Timestamp: ts})
	}
	recs = append(recs, &kgo.Record{Value: []byte("not json"), Timestamp: at})
	c.Produce("views", recs...)

	var out bytes.Buffer
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-bounded",
		"-checkpoints", filepath.Join(t.TempDir(), "chk"), "-interval", "50ms"}
	if err := run(context.Background(), args, nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := map[string]int64{}
	for _, r := range c.ReadCommitted("view-counts") {
		var n Count
		if err := json.Unmarshal(r.Value, &n); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != n.Page || n.End.Sub(n.Start) != 10*time.Second {
			t.Fatalf("count %s keyed %q: want the page as key and a 10 s window", r.Value, r.Key)
		}
		got[fmt.Sprintf("%s %s", n.Page, n.Start.UTC().Format(time.TimeOnly))] += n.Views
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: %d views, want %d", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d counts, want %d: %v", len(got), len(want), got)
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-interval", "0s"}, {"-window", "-1s"}, {"-idle", "0s"}} {
		if err := run(context.Background(), args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("run %v: %v, want an error naming %s", args, err, args[0])
		}
	}
}
