package httpingest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
)

// BenchmarkServeHTTP posts a batch of 20 JSON-lines beacons per request
// through the handler into a journal (fsync included).
func BenchmarkServeHTTP(b *testing.B) {
	j, err := journal.Open(journal.Config{Dir: b.TempDir(), Partitions: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	h, err := httpingest.NewHandler(httpingest.Config{Journal: j, PartitionField: "view"})
	if err != nil {
		b.Fatal(err)
	}
	var body strings.Builder
	for i := range 20 {
		body.WriteString(`{"view":"view-` + string(rune('a'+i%8)) + `","event":"heartbeat","player_time_ms":123456,"bitrate":4500000}` + "\n")
	}
	payload := body.String()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(payload))
			req.Header.Set("Content-Type", "application/x-ndjson")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("answer %d %s", rec.Code, rec.Body)
			}
		}
	})
}
