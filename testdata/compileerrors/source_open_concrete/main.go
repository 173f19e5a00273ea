// A Source's OpenSplit returns a SplitReader, not the reader's own type.
package main

import (
	"context"

	"github.com/weirstream/weir"
)

type numbers struct{}

type numbersReader struct{}

func (*numbersReader) Poll(out weir.SourceOutput[int], max int) (weir.PollStatus, error) {
	return weir.End, nil
}
func (*numbersReader) Position() []byte { return nil }
func (*numbersReader) Close() error     { return nil }

func (numbers) Splits(ctx context.Context) ([]weir.Split, error) { return nil, nil }
func (numbers) Bounded() bool                                    { return true }
func (numbers) OpenSplit(ctx context.Context, split weir.Split, position []byte) (*numbersReader, error) {
	return &numbersReader{}, nil
}

func main() {
	env := weir.New()
	weir.Collect(weir.From(env, numbers{}))
}
