package codec_test

import (
	"strings"
	"testing"

	"github.com/weirstream/weir/codec"
)

type lossOK struct {
	A    int64
	Skip int `codec:"-"`
	skip int `codec:"-"`
	B    []struct{ C string }
}

type lossInner struct {
	Shown  string
	hidden int
}

type lossEmbedded struct {
	lossInner
}

type lossNested struct {
	M map[string][]*lossInner
}

func TestLossless(t *testing.T) {
	_ = lossOK{}.skip
	_ = lossInner{}.hidden
	if err := codec.Lossless[lossOK](); err != nil {
		t.Errorf("lossOK: %v", err)
	}
	if err := codec.Lossless[int64](); err != nil {
		t.Errorf("int64: %v", err)
	}
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"inner":    {codec.Lossless[lossInner](), "type codec_test.lossInner field hidden: unexported field"},
		"embedded": {codec.Lossless[lossEmbedded](), "field lossInner.hidden"},
		"nested":   {codec.Lossless[lossNested](), "field M[value][].hidden"},
		"chan":     {codec.Lossless[chan int](), "unsupported kind chan"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, tc.err, tc.want)
		}
	}
}
