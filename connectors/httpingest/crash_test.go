package httpingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
)

// childEnv, set to a directory, makes the test binary run a collector on
// a journal in that directory instead of the tests, writing its address
// to the file addr there, until it is killed.
const childEnv = "WEIR_HTTPINGEST_CRASH_CHILD"

func childJournal(dir string) journal.Config {
	// Small segments, so that kills also land around segment rolls.
	return journal.Config{Dir: filepath.Join(dir, "journal"), Partitions: 4, SegmentBytes: 32 << 10}
}

func runChild() int {
	dir := os.Getenv(childEnv)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "collector:", err)
		return 1
	}
	j, err := journal.Open(childJournal(dir))
	if err != nil {
		return fail(err)
	}
	h, err := httpingest.NewHandler(httpingest.Config{Journal: j, PartitionField: "view"})
	if err != nil {
		return fail(err)
	}
	s, err := httpingest.Listen(h, httpingest.ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		return fail(err)
	}
	addr := filepath.Join(dir, "addr")
	if err := os.WriteFile(addr+".tmp", []byte(s.Addr()), 0o644); err != nil {
		return fail(err)
	}
	if err := os.Rename(addr+".tmp", addr); err != nil {
		return fail(err)
	}
	if err := s.Serve(context.Background()); err != nil {
		return fail(err)
	}
	return 0
}

// collector is a collector process.
type collector struct {
	cmd    *exec.Cmd
	exited chan error
	addr   string
}

// startCollector starts a collector process on dir's journal.
func startCollector(t *testing.T, dir string) *collector {
	t.Helper()
	os.Remove(filepath.Join(dir, "addr"))
	c := &collector{cmd: exec.Command(os.Args[0], "-test.run=^$"), exited: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), childEnv+"="+dir)
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "addr")); err == nil {
			c.addr = string(b)
			return c
		}
		select {
		case err := <-c.exited:
			t.Fatalf("the collector exited before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			c.kill()
			t.Fatal("the collector did not listen within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill kills the collector with SIGKILL and waits for it to be gone.
func (c *collector) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

// A collector killed with SIGKILL while clients post to it loses no
// acknowledged event: restarted on the same directory, its journal holds
// every event that got a 200 exactly once (and no event twice), and it
// takes new events after the torn tails are cut.
func TestCrashKeepsAcknowledgedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("kills collector processes; -short skips it")
	}
	dir := t.TempDir()
	var acked []string
	const rounds, perRound = 3, 600
	for round := range rounds {
		c := startCollector(t, dir)
		cl := newClient(c.addr)
		stop := make(chan struct{})
		loaded := make(chan struct{})
		go func() {
			defer close(loaded)
			cl.run(fmt.Sprintf("r%d", round), 8, 1<<30, 4, stop)
		}()
		deadline := time.Now().Add(time.Minute)
		for len(cl.acked()) < perRound {
			if time.Now().After(deadline) {
				c.kill()
				close(stop)
				<-loaded
				t.Fatalf("round %d: only %d events acknowledged in a minute (other answers %v)", round, len(cl.acked()), cl.others)
			}
			time.Sleep(time.Millisecond)
		}
		// Mid-load: the clients have requests in flight.
		c.kill()
		close(stop)
		<-loaded
		if len(cl.others) != 0 {
			t.Fatalf("round %d: answers other than 200: %v", round, cl.others)
		}
		acked = append(acked, cl.acked()...)
	}

	j, err := journal.Open(childJournal(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	count := map[string]int{}
	for _, vs := range journalValues(t, j) {
		for _, v := range vs {
			var b beacon
			if err := json.Unmarshal([]byte(v), &b); err != nil {
				t.Fatalf("journal record %q: %v", v, err)
			}
			count[b.Event]++
		}
	}
	var lost, twice []string
	for _, id := range acked {
		if count[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range count {
		if n > 1 {
			twice = append(twice, id)
		}
	}
	if len(lost) > 0 || len(twice) > 0 {
		t.Fatalf("of %d acknowledged events %d are lost (%v); %d events are in the journal more than once (%v)",
			len(acked), len(lost), lost[:min(5, len(lost))], len(twice), twice[:min(5, len(twice))])
	}
	t.Logf("%d rounds: %d events acknowledged, %d in the journal; %d bytes of torn tails cut at the last open",
		rounds, len(acked), len(count), j.Metrics().TruncatedBytes)
}
