package demo

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weirstream/weir/internal/checkpoint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// model computes the demo's output with plain Go, in the order a single
// split delivers the views.
func model(views int64, size int) []string {
	type open struct {
		n    int
		errs map[string]int
	}
	blocks := map[string]*open{}
	var out []string
	for seq := range views {
		v := GenerateView(seq)
		b := blocks[v.Title]
		if b == nil {
			b = &open{errs: map[string]int{}}
			blocks[v.Title] = b
		}
		b.n++
		if v.Error != "" {
			b.errs[v.Error]++
		}
		if b.n == size {
			out = append(out, Block{Title: v.Title, Views: b.n, Errors: b.errs}.String())
			delete(blocks, v.Title)
		}
	}
	return out
}

func TestDemoMatchesModel(t *testing.T) {
	const views = 20000
	want := model(views, 100)
	slices.Sort(want)
	if len(want) < 100 {
		t.Fatalf("model made only %d blocks", len(want))
	}
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("parallelism ", p), func(t *testing.T) {
			var buf bytes.Buffer
			o := Options{Views: views, BlockSize: 100, Parallelism: p, Blocks: true}
			if err := Run(context.Background(), &buf, o); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if !strings.HasPrefix(l, "ALERT") {
					got = append(got, l)
				}
			}
			slices.Sort(got)
			if len(got) != len(want) {
				t.Fatalf("got %d blocks, want %d", len(got), len(want))
			}
			// Four splits interleave, so which views share a block can
			// differ from the model; each block still has 100 views and the
			// titles have as many blocks as the model says.
			for i := range got {
				gt, _, _ := strings.Cut(got[i], " views=")
				wt, _, _ := strings.Cut(want[i], " views=")
				if gt != wt || !strings.Contains(got[i], " views=100 ") {
					t.Fatalf("block %d: %q, model %q", i, got[i], want[i])
				}
			}
		})
	}
}

// alertRow is an alert line the demo printed, parsed.
type alertRow struct {
	open     bool
	customer string
	at       time.Time // when it opened, or closed
}

func parseAlerts(t *testing.T, out string) []alertRow {
	t.Helper()
	var rows []alertRow
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var day, hh, mm int
		var a alertRow
		var cust string
		switch {
		case strings.HasPrefix(l, "ALERT OPEN"):
			a.open = true
			_, err := fmt.Sscanf(l[strings.Index(l, " at day ")+1:], "at day %d %d:%d", &day, &hh, &mm)
			if err != nil {
				t.Fatalf("alert %q: %v", l, err)
			}
		case strings.HasPrefix(l, "ALERT CLOSED"):
			_, err := fmt.Sscanf(l[strings.Index(l, " at day ")+1:], "at day %d %d:%d", &day, &hh, &mm)
			if err != nil {
				t.Fatalf("alert %q: %v", l, err)
			}
		default:
			t.Fatalf("line %q is not an alert", l)
		}
		fmt.Sscanf(l[strings.Index(l, "customer=")+len("customer="):], "%s", &cust)
		a.customer = cust
		a.at = Epoch.Add(time.Duration(day)*24*time.Hour + time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
		rows = append(rows, a)
	}
	return rows
}

// Eight simulated days: each incident opens an alert of its customer while
// it lasts; the nightly batch spike of edu-platform alerts no more once the
// model has seen it on five nights; every alert closes; and alerts that
// are no incident stay few.
func TestIncidentsOpenAlertsAndTheBatchSpikeBecomesNormal(t *testing.T) {
	// One split at parallelism 1: every operator sees the views in one
	// order, so the alerts do not depend on how the machine schedules the
	// job (with four splits running apart on a loaded machine, a block
	// mixes views hours of event time apart).
	var buf bytes.Buffer
	if err := Run(context.Background(), &buf, Options{Views: 8 * ViewsPerDay, BlockSize: 100, Parallelism: 1, Splits: 1}); err != nil {
		t.Fatal(err)
	}
	rows := parseAlerts(t, buf.String())
	atOf := func(seq int64) time.Time { return Epoch.Add(time.Duration(seq) * (24 * time.Hour / ViewsPerDay)) }
	// A block's time is its last view's, so an alert's time is within a
	// block of its incident's.
	during := func(at time.Time, in Incident) bool {
		return !at.Before(atOf(in.Start).Add(-time.Hour)) && at.Before(atOf(in.End).Add(time.Hour))
	}
	other := 0
	var batch []time.Time // alerts of edu-platform in its nightly batch, after five nights of it
	for _, a := range rows {
		if !a.open {
			continue
		}
		matched := false
		for _, in := range Incidents {
			matched = matched || (a.customer == in.Customer && during(a.at, in))
		}
		if !matched {
			other++
		}
		local := a.at.Add(9 * time.Hour) // edu-platform's viewers
		if a.customer == "edu-platform" && a.at.After(Epoch.Add(5*24*time.Hour)) && local.Hour() >= 1 && local.Hour() < 3 {
			batch = append(batch, a.at)
		}
	}
	if len(batch) > 0 {
		t.Errorf("edu-platform alerted at %v, in its nightly batch, after five nights of it", batch)
	}
	for _, in := range Incidents {
		caught := false
		for _, a := range rows {
			caught = caught || (a.open && a.customer == in.Customer && during(a.at, in))
		}
		if !caught {
			t.Errorf("the %s incident of %s (%v to %v) opened no alert:\n%s", in.Shape, in.Customer, atOf(in.Start), atOf(in.End), buf.String())
		}
	}
	open := map[string]bool{}
	for _, a := range rows {
		if a.open == open[a.customer] {
			t.Fatalf("alerts of %s do not alternate open and closed:\n%s", a.customer, buf.String())
		}
		open[a.customer] = a.open
	}
	if other > 2*len(Incidents) {
		t.Errorf("%d alerts that are no incident, more than %d:\n%s", other, 2*len(Incidents), buf.String())
	}
}

func TestErrorRatesDifferPerCustomer(t *testing.T) {
	errs, total := map[string]int{}, map[string]int{}
	for seq := range int64(ViewsPerDay) {
		v := GenerateView(seq)
		total[v.Customer]++
		if v.Error != "" {
			errs[v.Customer]++
		}
	}
	for i, c := range Customers {
		p := profiles[i]
		want := p.base
		if p.batch {
			want *= 1 + 2*2.0/24 // two hours a day at three times the rate
		}
		if rate := float64(errs[c]) / float64(total[c]); rate < want*0.85 || rate > want*1.15 {
			t.Errorf("customer %s: error rate %.4f over the first day, want about %.4f", c, rate, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultOptions()
	bad.BlockSize = 0
	if err := Run(context.Background(), nil, bad); err == nil || !strings.Contains(err.Error(), "block size") {
		t.Fatalf("Run = %v", err)
	}
}

// A bounded run with checkpoints ends with a final checkpoint, in which
// every split has ended; restoring from it resumes a job whose sources have
// nothing left to read, so it prints no block at all — where a fresh run
// would print them all again.
func TestDemoRestoresFromItsFinalCheckpoint(t *testing.T) {
	dir := t.TempDir()
	o := Options{Views: 5000, BlockSize: 100, Parallelism: 2, Blocks: true,
		CheckpointDir: dir, CheckpointInterval: 50 * time.Millisecond}
	var first bytes.Buffer
	if err := Run(context.Background(), &first, o); err != nil {
		t.Fatal(err)
	}
	if first.Len() == 0 {
		t.Fatal("the first run printed no block")
	}
	// The keyed state is filed under the window's own ID, not a derived
	// one, so a later version of the demo still finds it.
	store, err := checkpoint.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	latest, err := checkpoint.Latest(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.ReadMetadata(context.Background(), latest.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Operator(windowID); !ok {
		t.Fatalf("%v has no state of operator %q: %+v", latest.Ref, windowID, m.Operators)
	}
	// Another parallelism: keyed state and splits are dealt again.
	o.Restore, o.Parallelism = "latest", 3
	var second bytes.Buffer
	if err := Run(context.Background(), &second, o); err != nil {
		t.Fatalf("restored run: %v", err)
	}
	if second.Len() != 0 {
		t.Fatalf("the restored run printed blocks, so it read its views again:\n%s", second.String())
	}
}

func TestOptionsValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.CheckpointDir, o.CheckpointInterval = "x", 0 }, "checkpoint interval"},
		{func(o *Options) { o.Restore = "latest" }, `restore "latest" needs a checkpoint dir`},
	} {
		o := DefaultOptions()
		tc.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error naming %s", err, tc.want)
		}
	}
	o := DefaultOptions()
	o.CheckpointInterval = 0 // ignored without a checkpoint dir
	o.Restore = "/some/sp-0000000000000000001"
	if err := o.Validate(); err != nil {
		t.Errorf("Validate() = %v for a restore from a path without checkpoints", err)
	}
}

// stopWriter closes stop at its first write.
type stopWriter struct {
	once sync.Once
	stop chan struct{}
}

func (w *stopWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.stop) })
	return len(p), nil
}

// Closing Stop ends a checkpointed run with a savepoint, which the next run
// resumes from.
func TestStopTakesSavepoint(t *testing.T) {
	dir := t.TempDir()
	w := &stopWriter{stop: make(chan struct{})}
	o := Options{Rate: 20000, BlockSize: 100, Parallelism: 2, CheckpointDir: dir, CheckpointInterval: time.Hour, Stop: w.stop}
	if err := Run(context.Background(), w, o); err != nil {
		t.Fatal(err)
	}
	d, err := checkpoint.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	latest, err := checkpoint.Latest(context.Background(), d)
	if err != nil || latest.Ref.Kind != checkpoint.KindSavepoint {
		t.Fatalf("latest = %v, %v; want a savepoint", latest.Ref, err)
	}
	o.Stop, o.Restore, o.Duration = nil, "latest", 200*time.Millisecond
	var buf bytes.Buffer
	if err := Run(context.Background(), &buf, o); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
}
