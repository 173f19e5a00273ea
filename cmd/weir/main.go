// Command weir is the command-line interface of Weir, a stateful stream
// processor. The commands themselves live in package internal/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/weirstream/weir/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts a graceful stop, give the signal back its
	// default action, so that a second Ctrl-C ends a stop that hangs.
	context.AfterFunc(ctx, stop)
	err := cli.Execute(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "weir: %v\n", err)
		os.Exit(1)
	}
}
