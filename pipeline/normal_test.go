package pipeline_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/normal"
	"github.com/weirstream/weir/pipeline"
)

const normalPipeline = `version: 1
inputs:
  rates:
    type: file
    path: ${env:IN}
    watch: true
    discovery_interval: 5ms
    schema: {customer: string, rate: any, ts: int}
    event_time: {field: ts, max_out_of_orderness: 1s, idleness: 50ms}
dead_letter: {path: "${env:DEAD}"}
steps:
  - name: usual
    on_error: dead-letter
    normal: {key: customer, value: rate, alerts: incidents, min_duration: 1h}
outputs:
  scored: {type: file, path: "${env:OUT}"}
  incidents: {type: file, path: "${env:ALERTS}"}
`

// normalPoint is a value of the normal step tests' series.
type normalPoint struct {
	customer string
	ts       int64 // Unix milliseconds
	rate     float64
}

// normalSeries is four days of one value every 10 minutes for customers a
// and b, with a daily cycle; b's values jump tenfold for two hours on the
// fourth day.
func normalSeries() []normalPoint {
	const step = 10 * 60 * 1000
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixMilli()
	var out []normalPoint
	for i := range 4 * 144 {
		day := 2 * math.Pi * float64(i%144) / 144
		noise := float64((i*7919)%13) / 13
		for j, c := range []string{"a", "b"} {
			v := float64(10*(j+1)) + 5*math.Sin(day) + noise
			if c == "b" && i >= 3*144+60 && i < 3*144+72 {
				v *= 10
			}
			out = append(out, normalPoint{customer: c, ts: base + int64(i)*step, rate: v})
		}
	}
	return out
}

func writePoints(t *testing.T, path string, ps []normalPoint, extra string) {
	t.Helper()
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, `{"customer":%q,"rate":%v,"ts":%d}`+"\n", p.customer, p.rate, p.ts)
	}
	b.WriteString(extra)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The normal step scores each customer's series exactly as the normal
// package's Model and AlertTracker do over that series alone — across a
// savepoint and a rescale from 2 to 3 subtasks halfway — and sends the
// alerts they open and close to its alerts output; a value that is not a
// number is a dead letter naming the expression.
func TestNormalStepMatchesModelAcrossRestore(t *testing.T) {
	dir := t.TempDir()
	in, out, alerts, dead, chk := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "alerts"), filepath.Join(dir, "dead"), filepath.Join(dir, "chk")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	series := normalSeries()
	half := len(series) / 2
	env := map[string]string{"IN": in, "OUT": out, "ALERTS": alerts, "DEAD": dead}
	writePoints(t, filepath.Join(in, "a.jsonl"), series[:half], "")
	if err := runUntil(t, parse(t, normalPipeline, env), chk, false, func() bool { return len(committed(t, out)) >= half }, weir.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	bad := fmt.Sprintf(`{"customer":"a","rate":"high","ts":%d}`+"\n", series[len(series)-1].ts+1)
	writePoints(t, filepath.Join(in, "b.jsonl"), series[half:], bad)
	if err := runUntil(t, parse(t, normalPipeline, env), chk, true, func() bool {
		return len(committed(t, out)) >= len(series) && len(committed(t, dead)) >= 1
	}, weir.Parallelism(3)); err != nil {
		t.Fatal(err)
	}

	// The reference: one Model and one AlertTracker per customer.
	type scored struct{ score, lo, hi float64 }
	want := map[string][]scored{}
	var wantAlerts []string
	models := map[string]*normal.Model{}
	trackers := map[string]*normal.AlertTracker[string]{}
	cfg := normal.DefaultAlertConfig()
	cfg.MinDuration = time.Hour
	for _, p := range series {
		m := models[p.customer]
		if m == nil {
			m, _ = normal.New(normal.DefaultConfig())
			models[p.customer] = m
			trackers[p.customer], _ = normal.NewAlertTracker[string](cfg)
		}
		at := time.UnixMilli(p.ts)
		s := m.Score(at, p.rate)
		lo, hi := m.Expected()
		want[p.customer] = append(want[p.customer], scored{s, lo, hi})
		if al, ok := trackers[p.customer].Observe(normal.Scored[string]{Point: normal.Point[string]{Key: p.customer, Time: at, Value: p.rate}, Score: s, Lo: lo, Hi: hi}); ok {
			wantAlerts = append(wantAlerts, fmt.Sprintf("%s open=%v opened=%d value=%v score=%v", al.Key, al.IsOpen(), al.OpenedAt.UnixMilli(), al.Value, al.Score))
		}
	}

	type row struct {
		Customer string
		TS       int64
		Score    float64 `json:"anomaly_score"`
		Low      float64 `json:"expected_low"`
		High     float64 `json:"expected_high"`
		Rate     float64
	}
	rows := map[string][]row{}
	for _, l := range committed(t, out) {
		var r row
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows[r.Customer] = append(rows[r.Customer], r)
	}
	for c, ws := range want {
		got := rows[c]
		sort.Slice(got, func(i, j int) bool { return got[i].TS < got[j].TS })
		if len(got) != len(ws) {
			t.Fatalf("customer %s: %d scored records, want %d", c, len(got), len(ws))
		}
		for i, w := range ws {
			if g := got[i]; g.Score != w.score || g.Low != w.lo || g.High != w.hi {
				t.Fatalf("customer %s, value %d: score %v in [%v, %v], want %v in [%v, %v]", c, i, g.Score, g.Low, g.High, w.score, w.lo, w.hi)
			}
		}
	}

	var gotAlerts []string
	for _, l := range committed(t, alerts) {
		var a struct {
			Key      string
			State    string
			Value    float64
			Score    float64
			OpenedAt time.Time `json:"opened_at"`
			ClosedAt time.Time `json:"closed_at"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		if (a.State == "closed") == a.ClosedAt.IsZero() {
			t.Errorf("alert %s: state %s with closed_at %v", l, a.State, a.ClosedAt)
		}
		gotAlerts = append(gotAlerts, fmt.Sprintf("%s open=%v opened=%d value=%v score=%v", a.Key, a.State == "open", a.OpenedAt.UnixMilli(), a.Value, a.Score))
	}
	sort.Strings(gotAlerts)
	sort.Strings(wantAlerts)
	if strings.Join(gotAlerts, "\n") != strings.Join(wantAlerts, "\n") {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(gotAlerts, "\n"), strings.Join(wantAlerts, "\n"))
	}
	// b's tenfold jump is an incident; the model must have seen it.
	incident := series[2*(3*144+60)].ts
	caught := false
	for _, a := range wantAlerts {
		var opened int64
		if strings.HasPrefix(a, "b open=true") {
			fmt.Sscanf(a[strings.Index(a, "opened=")+len("opened="):], "%d", &opened)
			caught = caught || (opened >= incident && opened < incident+2*3600*1000)
		}
	}
	if !caught {
		t.Errorf("no alert of b opened during its incident; alerts: %v", wantAlerts)
	}

	deads := committed(t, dead)
	if len(deads) != 1 || !strings.Contains(deads[0], "rate") || !strings.Contains(deads[0], "not a number") {
		t.Fatalf("dead letters %q, want the record whose rate is text, naming rate", deads)
	}
}

// A normal step's mistakes are errors at validate time, each at its line.
func TestNormalStepValidateErrors(t *testing.T) {
	for _, c := range []struct{ step, want string }{
		{`normal: {key: customer, value: customer}`, `value customer is a string; want a number`},
		{`normal: {value: rate, open: 0.2, close: 0.4}`, `close: 0.4 is above open (0.2)`},
		{`normal: {value: rate, open: 1.5}`, `open: a score in (0, 1]`},
		{`normal: {value: rate, close_after: 0}`, `close_after: how many quiet values`},
		{`normal: {value: rate, alerts: nowhere}`, `no output is named "nowhere"`},
		{`normal: {key: customer}`, `missing field "value"`},
	} {
		src := `version: 1
inputs:
  rates:
    type: file
    path: in.jsonl
    schema: {customer: string, rate: float, ts: int}
    event_time: {field: ts}
steps:
  - name: usual
    ` + c.step + `
outputs:
  out: {type: stdout}
`
		_, err := parseErr(src)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "orders.yaml:10:") {
			t.Errorf("%s: error %v, want %q at line 10", c.step, err, c.want)
		}
	}
	noTime := `version: 1
inputs:
  rates: {type: file, path: in.jsonl, schema: {rate: float}}
steps:
  - name: usual
    normal: {value: rate}
outputs:
  out: {type: stdout}
`
	if _, err := parseErr(noTime); err == nil || !strings.Contains(err.Error(), "no event time") {
		t.Errorf("without event time: %v", err)
	}
}

func parseErr(src string) (*pipeline.Pipeline, error) {
	return pipeline.Parse("orders.yaml", []byte(src), pipeline.Options{})
}
