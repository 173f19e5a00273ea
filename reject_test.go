package weir_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// decodingSource reads a fixed list of byte strings as ints, rejecting
// those that are not numbers, the way a connector rejects a message whose
// bytes do not decode.
type decodingSource struct{ raw [][]byte }

func (s *decodingSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "orders-3"}}, nil
}
func (s *decodingSource) Bounded() bool { return true }
func (s *decodingSource) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[int], error) {
	return &decodingReader{raw: s.raw}, nil
}

type decodingReader struct {
	raw  [][]byte
	next int
}

func (r *decodingReader) Poll(out weir.SourceOutput[int], max int) (weir.PollStatus, error) {
	for ; max > 0 && r.next < len(r.raw); max-- {
		b, off := r.raw[r.next], int64(100+r.next)
		r.next++
		n, err := strconv.Atoi(string(b))
		if err != nil {
			out.Reject(b, off, errors.New("not a number"))
			continue
		}
		out.Emit(n, off)
	}
	if r.next == len(r.raw) {
		return weir.End, nil
	}
	return weir.More, nil
}
func (r *decodingReader) Position() []byte { return []byte(strconv.Itoa(r.next)) }
func (r *decodingReader) Close() error     { return nil }

var rejectInput = [][]byte{[]byte("1"), []byte("x"), []byte("3"), {0xff, 'y'}}

// A record a source rejects meets the error policy like a record an
// operator fails on: dead-lettered with the source, split and offset and
// its bytes, counted when skipped, the job's error when failing.
func TestSourceReject(t *testing.T) {
	t.Run("dead-letter", func(t *testing.T) {
		dead := filepath.Join(t.TempDir(), "dead")
		env := weir.New(weir.DeadLetters(dead), weir.OnError(weir.DeadLetter))
		got := weir.Collect(weir.From(env, &decodingSource{raw: rejectInput}).Name("orders"))
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if v := got.Values(); len(v) != 2 || v[0]+v[1] != 4 {
			t.Fatalf("emitted %v, want 1 and 3", v)
		}
		lines := readDeadLetters(t, dead)
		if len(lines) != 2 {
			t.Fatalf("dead letters %q, want 2", lines)
		}
		type deadLetter struct {
			Source, Split, Error, Record, RecordBase64 string
			Offset                                     *int64
		}
		var d []deadLetter
		for _, l := range lines {
			var x deadLetter
			if err := json.Unmarshal([]byte(l), &x); err != nil {
				t.Fatal(err)
			}
			d = append(d, x)
		}
		for _, x := range d {
			if x.Source != "orders" || x.Split != "orders-3" || x.Offset == nil || x.Error != "not a number" {
				t.Fatalf("dead letter %+v: want source orders, split orders-3, an offset and the error", x)
			}
			switch *x.Offset {
			case 101:
				if x.Record != "x" {
					t.Fatalf("record at 101 = %q, want x", x.Record)
				}
			case 103:
				if x.RecordBase64 != "/3k=" {
					t.Fatalf("record at 103 = %+v, want its bytes in base64", x)
				}
			default:
				t.Fatalf("dead letter at offset %d", *x.Offset)
			}
		}
	})
	t.Run("skip", func(t *testing.T) {
		env := weir.New(weir.OnError(weir.Skip))
		weir.Collect(weir.From(env, &decodingSource{raw: rejectInput}).Name("orders"))
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, m := range env.Metrics() {
			if m.Operator == "orders" && (m.In != 4 || m.Out != 2 || m.Skipped != 2) {
				t.Fatalf("source metrics %+v: want in 4 = out 2 + skipped 2", m)
			}
		}
	})
	t.Run("fail", func(t *testing.T) {
		env := weir.New()
		weir.Collect(weir.From(env, &decodingSource{raw: rejectInput}).Name("orders"))
		err := env.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not a number") || !strings.Contains(err.Error(), "orders-3") ||
			!strings.Contains(err.Error(), "101") {
			t.Fatalf("run: %v, want the rejection naming split orders-3 and offset 101", err)
		}
	})
}
