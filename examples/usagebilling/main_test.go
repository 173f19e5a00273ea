package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/connectors/postgres/pgtest"
	"go.uber.org/goleak"
)

// childArgs, in the environment, makes the test binary run the program
// with these arguments (one per line) instead of the tests: the process
// the crash test kills.
const childArgs = "USAGEBILLING_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgs); args != "" {
		os.Args = append([]string{"usagebilling"}, strings.Split(args, "\n")...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// key is a row's identity; sum what it must hold.
type key struct {
	account, product, metric string
	hour                     int64
}

type sum struct{ quantity, events int64 }

// child is the program running in a process of its own.
type child struct {
	cmd   *exec.Cmd
	lines chan string
	log   *bytes.Buffer
}

func start(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args, "\n"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024), log: &bytes.Buffer{}}
	cmd.Stderr = c.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// untilCheckpoint waits for the child's next completed checkpoint, after
// which ok is asked; it returns when ok says true.
func (c *child) untilCheckpoint(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	var last []string
	for {
		select {
		case l, open := <-c.lines:
			if !open {
				t.Fatalf("the job ended before it was expected to; its last lines:\n%s\n%s", strings.Join(last, "\n"), c.log)
			}
			if last = append(last, l); len(last) > 5 {
				last = last[1:]
			}
			if strings.HasPrefix(l, "checkpoint ") && ok() {
				return
			}
		case <-deadline:
			// Its goroutines, to see where it is stuck.
			c.cmd.Process.Signal(syscall.SIGQUIT)
			c.cmd.Wait()
			t.Fatalf("no checkpoint after which %s in 2 minutes; its last lines:\n%s\n%s", what, strings.Join(last, "\n"), c.log)
		}
	}
}

// The hourly totals in PostgreSQL equal the sums computed here from the
// events, each once, though the job was killed with SIGKILL while it ran
// and restored from its latest checkpoint.
func TestTotalsExactlyOnceAcrossKill(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("usage", 2)
	dsn := pgtest.Start(t)
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("usage"))
	defer cl.Close()
	ctx := context.Background()

	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	accounts := []string{"acme", "globex", "initech", "umbrella", "hooli"}
	meters := [][2]string{{"compute", "cpu_ms"}, {"network", "egress_kb"}, {"storage", "gb_minutes"}}
	rng := rand.New(rand.NewPCG(3, 24))
	want := map[key]sum{}
	// produce sends hours [from, to) of usage, 200 events an hour, each
	// account's on one partition, in event-time order.
	produce := func(from, to int) {
		var recs []*kgo.Record
		for h := from; h < to; h++ {
			for i := range 200 {
				acct := rng.IntN(len(accounts))
				m := meters[rng.IntN(len(meters))]
				q := rng.Int64N(5000)
				at := day.Add(time.Duration(h)*time.Hour + time.Duration(i)*18*time.Second)
				recs = append(recs, &kgo.Record{Partition: int32(acct % 2), Timestamp: at,
					Value: fmt.Appendf(nil, `{"account":%q,"product":%q,"metric":%q,"quantity":%d}`, accounts[acct], m[0], m[1], q)})
				k := key{accounts[acct], m[0], m[1], at.Truncate(time.Hour).Unix()}
				s := want[k]
				want[k] = sum{s.quantity + q, s.events + 1}
			}
			at := day.Add(time.Duration(h)*time.Hour + 30*time.Minute)
			recs = append(recs,
				&kgo.Record{Partition: 0, Timestamp: at, Value: []byte(`not json`)},
				&kgo.Record{Partition: 1, Timestamp: at, Value: []byte(`{"account":"acme","product":"compute","metric":"cpu_ms","quantity":-5}`)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows := func() int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM usage_hourly").Scan(&n); err != nil {
			t.Logf("count the rows: %v", err) // not created yet, the first time
			return -1
		}
		return n
	}

	chk := filepath.Join(t.TempDir(), "chk")
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-dsn", dsn,
		"-checkpoints", chk, "-interval", "200ms", "-retain", "2",
		// Never idle: a partition that falls behind on a loaded machine must
		// hold the watermark back, or its events would come late and be
		// left out of their hour. The ticks below move the watermark on.
		"-idle", "1h"}
	produce(0, 8)
	first := start(t, args...)
	first.untilCheckpoint(t, "rows were committed", func() bool { return rows() > 0 })
	produce(8, 16)
	// Kill it at its next checkpoint, with hours read whose totals are
	// written in a transaction not yet committed, or not yet written.
	first.untilCheckpoint(t, "hours 8-16 were produced", func() bool { return true })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()
	before := rows()
	produce(16, 24)
	// A last record on each partition, a day later, moves the watermark
	// past every hour above.
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Partition: 0, Timestamp: day.Add(48 * time.Hour), Value: []byte(`{"account":"tick","product":"tick","metric":"tick","quantity":0}`)},
		&kgo.Record{Partition: 1, Timestamp: day.Add(48 * time.Hour), Value: []byte(`{"account":"tick","product":"tick","metric":"tick","quantity":0}`)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	second := start(t, append(args, "-restore", "latest")...)
	defer func() {
		if !t.Failed() {
			return
		}
		rs, err := conn.Query(ctx, "SELECT account, product, metric, hour FROM usage_hourly")
		if err != nil {
			t.Logf("rows: %v", err)
			return
		}
		have := map[key]bool{}
		for rs.Next() {
			var k key
			var hour time.Time
			if rs.Scan(&k.account, &k.product, &k.metric, &hour) == nil {
				k.hour = hour.Unix()
				have[k] = true
			}
		}
		var missing []string
		for k := range want {
			if !have[k] {
				missing = append(missing, fmt.Sprintf("%s/%s %s", k.account, k.product, time.Unix(k.hour, 0).UTC().Format("15:04")))
			}
		}
		t.Logf("%d rows; missing %d: %v", len(have), len(missing), missing)
	}()
	second.untilCheckpoint(t, "every row was committed", func() bool {
		n := rows()
		if n > len(want) {
			t.Fatalf("%d rows, more than the %d totals", n, len(want))
		}
		return n == len(want)
	})
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range second.lines { // until it has stopped with its savepoint
	}
	if err := second.cmd.Wait(); err != nil {
		t.Fatalf("the restored job: %v\n%s", err, second.log)
	}
	t.Logf("%d of %d rows were committed when the job was killed", before, len(want))

	rs, err := conn.Query(ctx, "SELECT account, product, metric, hour, quantity, events FROM usage_hourly")
	if err != nil {
		t.Fatal(err)
	}
	got := map[key]sum{}
	for rs.Next() {
		var k key
		var s sum
		var hour time.Time
		if err := rs.Scan(&k.account, &k.product, &k.metric, &hour, &s.quantity, &s.events); err != nil {
			t.Fatal(err)
		}
		k.hour = hour.Unix()
		if prev, dup := got[k]; dup {
			t.Errorf("%v written twice: %v and %v", k, prev, s)
		}
		got[k] = s
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s %s %s %s: %+v, want %+v", k.account, k.product, k.metric, time.Unix(k.hour, 0).UTC().Format(time.TimeOnly), got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	// Storage hygiene: the job kept only its newest checkpoints, and
	// the savepoint it stopped with.
	entries, err := os.ReadDir(chk)
	if err != nil {
		t.Fatal(err)
	}
	var checkpoints, savepoints int
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "chk-"):
			checkpoints++
		case strings.HasPrefix(e.Name(), "sp-"):
			savepoints++
		}
	}
	if checkpoints > 2 || savepoints != 1 {
		t.Errorf("%d checkpoints and %d savepoints kept, want at most 2 (-retain 2) and 1", checkpoints, savepoints)
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-window", "0s"}, "-window"},
		{[]string{"-interval", "-1s"}, "-interval"},
		{[]string{"-retain", "0"}, "-retain"},
		{[]string{"-table", "usage; DROP TABLE x"}, "-table"},
	} {
		if err := run(context.Background(), tc.args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
