// Command weir is the command-line interface of Weir, a stateful stream
// processor. The commands themselves live in package internal/app/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/weirstream/weir/internal/app/cli"
)

// main stops a running job gracefully on the first SIGINT or SIGTERM (with
// a savepoint when it takes checkpoints) and at once on the second.
func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sigs
		close(stop)
		<-sigs
		cancel()
	}()
	err := cli.Execute(cli.WithStop(ctx, stop))
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "weir: %v\n", err)
		os.Exit(1)
	}
}
