package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
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

// arcKm is the great-circle distance by the angle between the points'
// unit vectors: another formula than the program's haversine.
func arcKm(lat1, lon1, lat2, lon2 float64) float64 {
	vec := func(lat, lon float64) [3]float64 {
		la, lo := lat*math.Pi/180, lon*math.Pi/180
		return [3]float64{math.Cos(la) * math.Cos(lo), math.Cos(la) * math.Sin(lo), math.Sin(la)}
	}
	a, b := vec(lat1, lon1), vec(lat2, lon2)
	cross := [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
	dot := a[0]*b[0] + a[1]*b[1] + a[2]*b[2]
	return 6371.0088 * math.Atan2(math.Sqrt(cross[0]*cross[0]+cross[1]*cross[1]+cross[2]*cross[2]), dot)
}

type pt struct {
	lat, lon float64
	at       time.Time
}

// expected is the location the output must hold after the i-th point of
// a device (i ≥ n-1): speed over points i-n+1..i, nearest city.
func expected(device string, pts []pt, i, n int) string {
	w := pts[i-n+1 : i+1]
	var km float64
	for j := 1; j < len(w); j++ {
		km += arcKm(w[j-1].lat, w[j-1].lon, w[j].lat, w[j].lon)
	}
	speed := km / w[len(w)-1].at.Sub(w[0].at).Hours()
	near, nearKm := "", 50.0
	for _, c := range []struct {
		name     string
		lat, lon float64
	}{{"Austin", 30.2672, -97.7431}, {"Paris", 48.8566, 2.3522}, {"Lyon", 45.7640, 4.8357}} {
		if d := arcKm(w[len(w)-1].lat, w[len(w)-1].lon, c.lat, c.lon); d <= nearKm {
			near, nearKm = c.name, d
		}
	}
	return fmt.Sprintf("%s %s %s %.3f", device, w[len(w)-1].at.Format(time.TimeOnly), near, speed)
}

func got(t *testing.T, recs []*kgo.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		var l Location
		if err := json.Unmarshal(r.Value, &l); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != l.Device || l.Points != 10 {
			t.Errorf("location %s keyed %q: want the device as key, over 10 points", r.Value, r.Key)
		}
		out = append(out, fmt.Sprintf("%s %s %s %.3f", l.Device, l.At.Format(time.TimeOnly), l.City, l.SpeedKmh))
	}
	slices.Sort(out)
	return out
}

// Each device's speed over its last 10 points and its nearest city, as
// computed here, are written once per point from the 10th on; a new
// consumer group replays the whole topic into a second view equal to the
// first.
func TestVelocityAndReplay(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("gps", 3)
	c.Topic("locations", 2)
	c.Topic("locations-v2", 2)
	rng := rand.New(rand.NewPCG(2, 24))
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	// Devices walking, running or cycling away from a start, one far
	// from any city of the table.
	starts := []struct {
		lat, lon, kmh float64
	}{{30.2672, -97.7431, 5}, {30.30, -97.70, 12}, {48.8566, 2.3522, 20}, {45.76, 4.83, 4}, {0, 0, 8}, {48.80, 2.30, 15}}
	var recs []*kgo.Record
	var want []string
	for d, s := range starts {
		device := fmt.Sprintf("d%d", d)
		heading := rng.Float64() * 2 * math.Pi
		var pts []pt
		p := pt{s.lat, s.lon, t0}
		for i := range 40 {
			if i > 0 {
				step := time.Duration(5+rng.IntN(4)) * time.Second
				km := s.kmh * step.Hours() * (0.8 + 0.4*rng.Float64())
				p = pt{p.lat + km/111.2*math.Cos(heading), p.lon + km/(111.2*math.Cos(p.lat*math.Pi/180))*math.Sin(heading), p.at.Add(step)}
			}
			pts = append(pts, p)
			recs = append(recs, &kgo.Record{Key: []byte(device), Timestamp: p.at,
				Value: fmt.Appendf(nil, `{"device":%q,"lat":%v,"lon":%v}`, device, p.lat, p.lon)})
			if i >= 9 {
				want = append(want, expected(device, pts, i, 10))
			}
		}
	}
	slices.Sort(want)
	recs = append(recs,
		&kgo.Record{Key: []byte("d0"), Timestamp: t0, Value: []byte(`{"device":"d0","lat":200,"lon":0}`)},
		&kgo.Record{Key: []byte("d1"), Timestamp: t0, Value: []byte(`not json`)})
	c.Produce("gps", recs...)

	dir := t.TempDir()
	runJob := func(group, topic string) string {
		var out bytes.Buffer
		args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-bounded", "-group", group, "-out", topic,
			"-checkpoints", filepath.Join(dir, group), "-interval", "100ms"}
		if err := run(context.Background(), args, nil, &out); err != nil {
			t.Fatalf("run %s: %v\n%s", group, err, out.String())
		}
		return out.String()
	}
	summary := fmt.Sprintf("%d points read, 2 skipped, %d locations written", len(recs), len(want))
	if out := runJob("v1", "locations"); !strings.Contains(out, summary) {
		t.Errorf("first consumer: %q, want %q", out, summary)
	}
	if g := got(t, c.ReadCommitted("locations")); !slices.Equal(g, want) {
		t.Errorf("locations:\n got %v\nwant %v", g, want)
	}
	if out := runJob("v2", "locations-v2"); !strings.Contains(out, summary) {
		t.Errorf("new consumer: %q, want %q", out, summary)
	}
	if g := got(t, c.ReadCommitted("locations-v2")); !slices.Equal(g, want) {
		t.Errorf("locations-v2 (the replay):\n got %v\nwant %v", g, want)
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-points", "1"}, {"-interval", "0s"}, {"-group", ""}} {
		if err := run(context.Background(), args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("run %v: %v, want an error naming %s", args, err, args[0])
		}
	}
}
