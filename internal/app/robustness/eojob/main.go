// Command eojob runs the robustness harness's job as a process of its own,
// so that the harness can kill it with SIGKILL and restart it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/robustness"
)

func main() {
	var c robustness.JobConfig
	flag.StringVar(&c.Input, "input", "", "glob of the input JSON-lines files")
	flag.StringVar(&c.Output, "output", "", "output directory (exactly-once part files)")
	flag.StringVar(&c.DeadLetters, "dead-letters", "", "dead-letter directory")
	flag.StringVar(&c.Checkpoints, "checkpoints", "", "checkpoint directory or s3://bucket/prefix")
	flag.DurationVar(&c.Interval, "interval", 50*time.Millisecond, "checkpoint interval")
	flag.IntVar(&c.Parallelism, "parallelism", 1, "parallelism")
	flag.BoolVar(&c.Restore, "restore", false, "restore from the latest checkpoint")
	flag.IntVar(&c.Pause, "pause", 0, "sleep a millisecond every this many records")
	backend := flag.String("state", "memory", "state backend: memory, bytes or pebble")
	var k robustness.KafkaIO
	var brokers string
	flag.StringVar(&brokers, "kafka-brokers", "", "read from and write to Kafka at these brokers (comma-separated) instead of files")
	flag.StringVar(&k.Input, "kafka-input", "in", "input topic, with -kafka-brokers")
	flag.StringVar(&k.Output, "kafka-output", "out", "output topic, with -kafka-brokers")
	flag.StringVar(&k.TransactionalIDPrefix, "kafka-txn-prefix", "eojob", "transactional ID prefix of the output, with -kafka-brokers")
	flag.Parse()
	b, err := weir.ParseBackend(*backend)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eojob:", err)
		os.Exit(2)
	}
	c.Options = append(c.Options, weir.StateBackend(b))
	if brokers != "" {
		k.Brokers = strings.Split(brokers, ",")
		c.Kafka = &k
	}
	env, err := robustness.BuildJob(c)
	if err == nil {
		err = env.Run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eojob:", err)
		os.Exit(1)
	}
}
