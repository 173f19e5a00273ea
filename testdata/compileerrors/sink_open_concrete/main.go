// A Sink's Open returns a SinkWriter, not the writer's own type.
package main

import (
	"context"

	"github.com/weirstream/weir"
)

type lines struct{}

type linesWriter struct{}

func (*linesWriter) Write(v string) error { return nil }
func (*linesWriter) Close() error         { return nil }

func (lines) Open(ctx context.Context, info weir.SinkInfo) (*linesWriter, error) {
	return &linesWriter{}, nil
}

func main() {
	env := weir.New()
	weir.To(weir.From(env, weir.Slice("a", "b")), lines{})
}
