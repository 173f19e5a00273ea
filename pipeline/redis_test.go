package pipeline_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/redis/redistest"
)

const redisPipeline = `version: 1
inputs:
  orders:
    type: file
    path: ${env:IN}
    schema: {id: int, customer: string, amount: int}
steps:
  - name: with_customer
    enrich:
      redis:
        addr: ${env:REDIS}
        key: '"customer:" + customer'
      fields:
        region: region
      cache: {ttl: 1h}
outputs:
  totals:
    type: redis
    addr: ${env:REDIS}
    key: '"last:" + customer'
    version: id
`

// A pipeline enriches each order with its customer's hash in Redis,
// looked up once per customer through the cache, and keeps the last order
// per customer as a hash in Redis, the highest id winning.
func TestPipelineRedis(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	cl := srv.Client()
	for i, region := range []string{"eu", "us", "ap"} {
		if err := cl.HSet(ctx, fmt.Sprintf("customer:c%d", i), "region", region).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf(`{"id":%d,"customer":"c%d","amount":%d}`, i, i%3, i*10))
	}
	out, _ := runLines(t, redisPipeline, map[string]string{"REDIS": srv.Addr()}, lines,
		weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, t.TempDir()))
	if len(out) != 0 {
		t.Fatalf("stdout: %v", out)
	}
	for i, region := range []string{"eu", "us", "ap"} {
		got, err := cl.HGetAll(ctx, fmt.Sprintf("last:c%d", i)).Result()
		if err != nil {
			t.Fatal(err)
		}
		last := 27 + i
		want := map[string]string{"customer": fmt.Sprintf("c%d", i), "region": region, "amount": fmt.Sprint(last * 10),
			"id": fmt.Sprint(last), "_version": fmt.Sprint(last)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("last:c%d = %v, want %v", i, got, want)
		}
	}
	// The step's cache looks each of the 3 customers up once per
	// subtask at most.
	stats, err := cl.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_hgetall:calls=([0-9]+)`).FindStringSubmatch(stats)
	if m == nil {
		t.Fatalf("no HGETALL in the server's command stats:\n%s", stats)
	}
	if n, _ := strconv.Atoi(m[1]); n < 3 || n > 6 {
		t.Errorf("the server answered %d HGETALLs for 30 orders of 3 customers, want 3 to 6 (once per customer and subtask at most, through the cache)", n)
	}
}
