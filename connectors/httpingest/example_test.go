package httpingest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
)

// A collector on a free port of 127.0.0.1 takes JSON lines of beacons,
// partitioned by view, into a journal; the answer comes once they are
// durable.
func Example() {
	dir, _ := os.MkdirTemp("", "beacons")
	defer os.RemoveAll(dir)
	j, err := journal.Open(journal.Config{Dir: dir, Partitions: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	h, err := httpingest.NewHandler(httpingest.Config{Journal: j, PartitionField: "view", MaxLag: 100_000})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := httpingest.Listen(h, httpingest.ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	body := `{"view":"v1","event":"play","at":1700000000000}
{"view":"v1","event":"rebuffer","at":1700000004000}
{"view":"v2","event":"error","code":"MEDIA_ERR_DECODE","at":1700000005000}
`
	resp, err := http.Post("http://"+srv.Addr()+"/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(answer))

	resp, err = http.Post("http://"+srv.Addr()+"/events", "application/json", strings.NewReader(`[{"view":"v3"}, {"event":"play"}]`))
	if err != nil {
		log.Fatal(err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(answer))

	stop()
	if err := <-served; err != nil {
		log.Fatal(err)
	}
	m := h.Metrics()
	fmt.Println("requests", m.Requests, "accepted", m.Accepted, "events", m.Events, "bad", m.BadEvents)
	// Output:
	// 200 {"accepted":3}
	// 400 {"error":"event 1: has no field \"view\"; no event of the request was accepted","event":1}
	// requests 2 accepted 1 events 3 bad 1
}
