// Command eojob runs the robustness harness's job as a process of its own,
// so that the harness can kill it with SIGKILL and restart it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/weirstream/weir/internal/app/robustness"
)

func main() {
	var c robustness.JobConfig
	flag.StringVar(&c.Input, "input", "", "glob of the input JSON-lines files")
	flag.StringVar(&c.Output, "output", "", "output directory (exactly-once part files)")
	flag.StringVar(&c.DeadLetters, "dead-letters", "", "dead-letter directory")
	flag.StringVar(&c.Checkpoints, "checkpoints", "", "checkpoint directory")
	flag.DurationVar(&c.Interval, "interval", 50*time.Millisecond, "checkpoint interval")
	flag.IntVar(&c.Parallelism, "parallelism", 1, "parallelism")
	flag.BoolVar(&c.Restore, "restore", false, "restore from the latest checkpoint")
	flag.IntVar(&c.Pause, "pause", 0, "sleep a millisecond every this many records")
	flag.Parse()
	env, err := robustness.BuildJob(c)
	if err == nil {
		err = env.Run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eojob:", err)
		os.Exit(1)
	}
}
