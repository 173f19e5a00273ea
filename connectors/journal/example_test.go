package journal_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/journal"
)

// A journal of two partitions: records keyed by view go to the view's
// partition, and a reader reads one partition from an offset.
func Example() {
	dir, _ := os.MkdirTemp("", "journal")
	defer os.RemoveAll(dir)
	j, err := journal.Open(journal.Config{Dir: dir, Partitions: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	var recs []journal.Record
	for _, ev := range []string{"view-1 play", "view-1 pause", "view-1 end"} {
		recs = append(recs, journal.Record{Partition: j.Partition([]byte("view-1")), Value: []byte(ev)})
	}
	// Returns once the records are durable.
	if err := j.Append(context.Background(), recs...); err != nil {
		log.Fatal(err)
	}

	r, err := j.NewReader(journal.ReaderConfig{Partition: j.Partition([]byte("view-1")), Offset: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	r.Read(100, func(offset int64, _ time.Time, v []byte) { fmt.Println(offset, string(v)) })
	// Output:
	// 1 view-1 pause
	// 2 view-1 end
}

type view struct {
	ID    string `json:"id"`
	Event string `json:"event"`
}

// A job reads a journal: one split per partition, records decoded from
// JSON. The journal source is unbounded, so the job runs until stopped.
func ExampleNewSource() {
	dir, _ := os.MkdirTemp("", "journal")
	defer os.RemoveAll(dir)
	j, err := journal.Open(journal.Config{Dir: dir, Partitions: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	for _, v := range []struct{ id, json string }{
		{"v1", `{"id":"v1","event":"play"}`}, {"v2", `{"id":"v2","event":"play"}`}, {"v1", `{"id":"v1","event":"end"}`},
	} {
		if err := j.Append(context.Background(), journal.Record{Partition: j.Partition([]byte(v.id)), Value: []byte(v.json)}); err != nil {
			log.Fatal(err)
		}
	}

	src, err := journal.NewSource(journal.SourceConfig[view]{Journal: j, Decoder: format.JSON[view]()})
	if err != nil {
		log.Fatal(err)
	}
	stop := make(chan struct{})
	chk, _ := os.MkdirTemp("", "checkpoints")
	defer os.RemoveAll(chk)
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(time.Second, chk), weir.StopOn(stop))
	got := weir.Collect(weir.Map(weir.From(env, src), func(v view) string { return v.ID + " " + v.Event }))
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	for len(got.Values()) < 3 {
		time.Sleep(time.Millisecond)
	}
	close(stop) // stop with a savepoint: the offsets read are in it
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println(slices.Sorted(slices.Values(got.Values())))
	// Output:
	// [v1 end v1 play v2 play]
}
