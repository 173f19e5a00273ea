// Command weir is the command-line interface of Weir, a stateful stream
// processor. The commands themselves live in package internal/app/cli,
// and those of the job server in package platform/command.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weirstream/weir/internal/app/cli"
	"github.com/weirstream/weir/platform/command"
)

// forceAfter is how long a job may take to stop after the second signal
// before the process exits without waiting for it.
const forceAfter = 5 * time.Second

// main stops a running job gracefully on the first SIGINT or SIGTERM (with
// a savepoint when it takes checkpoints) and cancels it on the second; a
// job that has not stopped forceAfter later (a task blocked in a write that
// cannot finish, say) or at a third signal is left behind by exiting: its
// output is committed only by checkpoints, so this is as safe as a kill.
func main() {
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sigs
		close(stop)
		<-sigs
		cancel()
		select {
		case <-sigs:
		case <-time.After(forceAfter):
		}
		fmt.Fprintln(os.Stderr, "weir: the job did not stop after a second signal; exiting without it (--restore latest resumes from its latest checkpoint)")
		os.Exit(1)
	}()
	root := cli.NewRootCommand()
	root.AddCommand(command.Serve(stop), command.Jobs())
	err := root.ExecuteContext(cli.WithStop(ctx, stop))
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "weir: %v\n", err)
		os.Exit(1)
	}
}
