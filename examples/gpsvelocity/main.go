// Command gpsvelocity turns the GPS points of wearable devices on one
// Kafka topic into a topic of enriched locations — the nearest city and
// the device's speed over its last points — the way MapR describes Kafka
// as the log that many consumers read, each from where it wants.
//
//   - Input: JSON points on topic -in, {"device":"d1","lat":30.2672,
//     "lon":-97.7431}; a point's time is its Kafka timestamp. A point that
//     does not decode, or whose coordinates are out of range, is skipped
//     and counted.
//   - Keyed by device, a sliding count window holds the device's last
//     -points points and is evaluated at every point once it is full: the
//     speed is the length of the path through them (great-circle
//     distances between consecutive points) over the time from the first
//     to the last.
//   - Each result is enriched with the nearest city of a built-in table
//     (within 50 km, else none) and written to topic -out exactly once,
//     keyed by device: a second materialized view of the same data, which
//     other consumers read instead of raw coordinates.
//   - The source reads from the offsets its consumer group -group has
//     committed, or from the beginning of the topic for a group that has
//     none: a new consumer, with a new group and a new output topic,
//     replays the whole log into its own view (a new version of the
//     computation, say) while the first goes on.
//
// Run it from the repository's root with the development broker and kcat:
//
//	go run ./cmd/weir dev kafka --topic gps,locations   # terminal 1
//	go run ./examples/gpsvelocity -points 3             # terminal 2
//	for i in 0 1 2 3; do echo "{\"device\":\"d1\",\"lat\":30.26$i,\"lon\":-97.74}"; sleep 1; done |
//	  kcat -b 127.0.0.1:9092 -P -t gps
//	kcat -b 127.0.0.1:9092 -C -t locations -e -X isolation.level=read_committed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

func main() {
	stop := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-sig
		close(stop) // a savepoint; a second signal cancels
		<-sig
		cancel()
	}()
	if err := run(ctx, os.Args[1:], stop, os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gpsvelocity:", err)
		os.Exit(1)
	}
}

// Point is one GPS point of a device.
type Point struct {
	Device string  `json:"device"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	// At is the point's time, in Unix milliseconds (its Kafka timestamp).
	At int64 `json:"-"`
}

// Location is what the output topic holds: a device's latest point,
// enriched.
type Location struct {
	Device string    `json:"device"`
	At     time.Time `json:"at"`
	Lat    float64   `json:"lat"`
	Lon    float64   `json:"lon"`
	// City is the nearest city of the table within 50 km, or empty.
	City string `json:"city,omitempty"`
	// SpeedKmh is the speed over the last Points points.
	SpeedKmh float64 `json:"speed_kmh"`
	Points   int     `json:"points"`
}

// city is one row of the enrichment table.
type city struct {
	name     string
	lat, lon float64
}

// cities is the enrichment table: a stand-in for a geocoding service.
var cities = []city{
	{"Austin", 30.2672, -97.7431},
	{"San Antonio", 29.4241, -98.4936},
	{"Houston", 29.7604, -95.3698},
	{"Dallas", 32.7767, -96.7970},
	{"San Jose", 37.3382, -121.8863},
	{"San Francisco", 37.7749, -122.4194},
	{"Paris", 48.8566, 2.3522},
	{"Lyon", 45.7640, 4.8357},
}

// earthRadiusKm is the mean radius of the Earth.
const earthRadiusKm = 6371.0088

// distanceKm is the great-circle distance between two points (haversine).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// nearestCity returns the table's nearest city within 50 km, or "".
func nearestCity(lat, lon float64) string {
	best, bestKm := "", 50.0
	for _, c := range cities {
		if d := distanceKm(lat, lon, c.lat, c.lon); d <= bestKm {
			best, bestKm = c.name, d
		}
	}
	return best
}

// lastPoints keeps a window's points in arrival order; each window gets
// its own accumulator.
type lastPoints struct{}

func (lastPoints) CreateAccumulator() []Point { return nil }

// Add returns a new slice: the engine may still be reading the old one.
func (lastPoints) Add(p Point, acc []Point) []Point {
	return append(slices.Clip(acc), p)
}

func (lastPoints) Merge(a, b []Point) []Point { return append(slices.Clip(a), b...) }

func (lastPoints) Result(acc []Point) Location {
	last := acc[len(acc)-1]
	loc := Location{Device: last.Device, At: time.UnixMilli(last.At).UTC(), Lat: last.Lat, Lon: last.Lon,
		City: nearestCity(last.Lat, last.Lon), Points: len(acc)}
	var km float64
	for i := 1; i < len(acc); i++ {
		km += distanceKm(acc[i-1].Lat, acc[i-1].Lon, acc[i].Lat, acc[i].Lon)
	}
	if hours := float64(last.At-acc[0].At) / float64(time.Hour/time.Millisecond); hours > 0 {
		loc.SpeedKmh = km / hours
	}
	return loc
}

// checkPoint returns the point of a record, or an error naming what is
// wrong with it (the job's error policy skips it).
func checkPoint(r kafka.Record[Point]) (Point, error) {
	p := r.Value
	where := fmt.Sprintf("%s[%d]@%d", r.Topic, r.Partition, r.Offset)
	switch {
	case p.Device == "":
		return Point{}, fmt.Errorf("point at %s: no device", where)
	case math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90:
		return Point{}, fmt.Errorf("point of %s at %s: lat %v is not in [-90, 90]", p.Device, where, p.Lat)
	case math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180:
		return Point{}, fmt.Errorf("point of %s at %s: lon %v is not in [-180, 180]", p.Device, where, p.Lon)
	}
	p.At = r.Timestamp.UnixMilli()
	return p, nil
}

// run parses args, builds the job and runs it until stop is closed (a
// savepoint), ctx is canceled, or, with -bounded, its input ends.
func run(ctx context.Context, args []string, stop <-chan struct{}, stdout io.Writer) error {
	fs := flag.NewFlagSet("gpsvelocity", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	in := fs.String("in", "gps", "topic of the GPS points")
	out := fs.String("out", "locations", "topic of the enriched locations")
	group := fs.String("group", "gpsvelocity", "consumer group: a new one reads the topic from its beginning")
	points := fs.Int("points", 10, "how many of a device's last points its speed is measured over (at least 2)")
	bounded := fs.Bool("bounded", false, "read the points the topic has when the job starts, then stop")
	checkpoints := fs.String("checkpoints", "gpsvelocity-checkpoints", "checkpoint directory")
	interval := fs.Duration("interval", 5*time.Second, "time between checkpoints (and so between commits of the output)")
	restore := fs.String("restore", "", `checkpoint or savepoint to resume from: "latest" or its path`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *points < 2:
		return fmt.Errorf("-points %d: a speed needs at least 2 points", *points)
	case *interval <= 0:
		return fmt.Errorf("-interval %v: must be positive", *interval)
	case *group == "":
		return errors.New("-group: must not be empty")
	}
	conn := kafka.Conn{Brokers: strings.Split(*brokers, ",")}
	src, err := kafka.NewSource(kafka.SourceConfig[Point]{
		Conn: conn, Topics: []string{*in}, Decoder: format.JSON[Point](),
		Group: *group, StartingOffsets: kafka.CommittedOffsets(kafka.Earliest()), Bounded: *bounded,
	})
	if err != nil {
		return err
	}
	sink, err := kafka.NewSink(kafka.SinkConfig[Location]{
		Conn: conn, Topic: *out, Value: format.JSON[Location](),
		Key:      func(l Location) []byte { return []byte(l.Device) },
		Delivery: kafka.ExactlyOnce, TransactionalIDPrefix: "gpsvelocity-" + *out,
	})
	if err != nil {
		return err
	}
	opts := []weir.Option{
		weir.Parallelism(2),
		weir.Checkpoints(*interval, *checkpoints),
		weir.StopOn(stop),
		weir.OnError(weir.Skip),
	}
	if *restore != "" {
		opts = append(opts, weir.Restore(*restore))
	}
	env := weir.New(opts...)
	pts := weir.TryMap(weir.From(env, src).ID("points"), checkPoint).ID("check")
	byDevice := weir.KeyBy(pts, func(p Point) string { return p.Device })
	locs := weir.Map(weir.CountWindow(byDevice, *points, 1, lastPoints{}).ID("last-points"),
		func(r weir.WindowResult[string, Location]) Location { return r.Value })
	weir.To(locs, sink).ID("locations")
	fmt.Fprintf(stdout, "enriching %s into %s as consumer group %s, speeds over the last %d points\n", *in, *out, *group, *points)
	if err := env.Run(ctx); err != nil {
		return err
	}
	var read, skipped, written int64
	for _, m := range env.Metrics() {
		switch m.ID {
		case "points":
			read += m.Out + m.Skipped
		case "locations":
			written += m.Out
		}
		skipped += m.Skipped
	}
	fmt.Fprintf(stdout, "%d points read, %d skipped, %d locations written\n", read, skipped, written)
	if m := env.JobMetrics(); m.Stopped != nil {
		fmt.Fprintf(stdout, "stopped; resume with -restore latest (or -restore %s)\n", m.Stopped.Path)
	}
	return nil
}
