package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
)

// HTTPInput takes events posted over HTTP (connectors/httpingest): the
// collector answers 200 once they are durable in a journal, and the
// pipeline reads the journal, one split per partition, with the offsets
// in its checkpoints.
type HTTPInput struct {
	// Path is the route events are posted to (default /events).
	Path string
	// Listen is the address to listen on (default 127.0.0.1:8080; port 0
	// picks a free one, which Job.Addr reports).
	Listen string
	// Journal is the journal's directory; Partitions its number of
	// partitions (default 1), PartitionField the field of each event that
	// picks its partition.
	Journal        string
	Partitions     int
	PartitionField string
	// MaxBodyBytes bounds a request's body (default 1 MiB).
	MaxBodyBytes int64
	// Start is where a run without a checkpoint starts reading: "earliest"
	// (default), or "latest", the events posted from then on.
	Start string
}

func (r *reader) httpInput(o *obj, what string) *HTTPInput {
	h := &HTTPInput{Path: r.secret(o, "path"), Listen: r.secret(o, "listen"), Journal: r.secret(o, "journal"),
		Partitions: int(r.integer(o, "partitions", 1)), PartitionField: r.str(o, "partition_field"),
		MaxBodyBytes: r.integer(o, "max_body_bytes", 0), Start: r.str(o, "start")}
	if h.Path == "" {
		h.Path = "/events"
	} else if !strings.HasPrefix(h.Path, "/") {
		r.errorf(o.keyPos("path"), "%s: path: want a route starting with /, got %q", what, h.Path)
	}
	if h.Listen == "" {
		h.Listen = "127.0.0.1:8080"
	}
	if h.Journal == "" {
		r.errorf(o.pos, "%s: missing field \"journal\", the directory where posted events are kept until the pipeline has read them", what)
	}
	if h.Partitions < 1 || h.Partitions > 4096 {
		r.errorf(o.keyPos("partitions"), "%s: partitions: want 1 to 4096, got %d", what, h.Partitions)
	}
	if h.MaxBodyBytes < 0 {
		r.errorf(o.keyPos("max_body_bytes"), "%s: max_body_bytes must not be negative", what)
	}
	switch h.Start {
	case "", "earliest", "latest":
	default:
		r.errorf(o.keyPos("start"), "%s: start: want earliest or latest, got %q", what, h.Start)
	}
	return h
}

// httpSource opens an http input's journal and binds its server; the
// server serves while Job.Run runs the job.
func (b *builder) httpSource(in *Input) (weir.Source[Record], error) {
	h := in.HTTP
	j, err := journal.Open(journal.Config{Dir: h.Journal, Partitions: h.Partitions})
	if err != nil {
		return nil, err
	}
	b.job.closers = append(b.job.closers, j.Close)
	handler, err := httpingest.NewHandler(httpingest.Config{Journal: j, Route: h.Path, PartitionField: h.PartitionField,
		MaxBodyBytes: h.MaxBodyBytes, Check: httpingest.Decodes(decoder{in.Schema})})
	if err != nil {
		return nil, err
	}
	srv, err := httpingest.Listen(handler, httpingest.ServerConfig{Addr: h.Listen})
	if err != nil {
		return nil, err
	}
	// The listener is open from here: Serve closes it, when the job runs
	// and stops, or at once when it is closed without running.
	var once sync.Once
	serve := func(ctx context.Context) (err error) {
		once.Do(func() { err = srv.Serve(ctx) })
		return err
	}
	b.job.services = append(b.job.services, serve)
	b.job.closers = append(b.job.closers, func() error {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return serve(ctx)
	})
	if b.job.addrs == nil {
		b.job.addrs = map[string]string{}
	}
	b.job.addrs[in.Name] = srv.Addr()
	start := journal.Earliest
	if h.Start == "latest" {
		start = journal.Latest
	}
	src, err := journal.NewSource(journal.SourceConfig[Record]{Journal: j, Decoder: decoder{in.Schema}, Start: start,
		Reporter: httpingest.Reporter(handler)})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return src, nil
}

// Addr returns the address the server of http input name listens on, such
// as "127.0.0.1:41234"; "" for another input.
func (j *Job) Addr(input string) string { return j.addrs[input] }
