package kafka

import (
	"math/bits"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchPools lend the shared client the memory it decodes fetched batches
// into (kgo.WithPools): the slices of records and the buffers compressed
// batches are decompressed into. A reader recycles each record once it
// has decoded the value and copied what it emits (the key, the header
// values), and the batch's memory goes back to be filled again by a later
// fetch. Without them every fetched record costs the garbage collector its
// whole uncompressed size and a kgo.Record, which at hundreds of
// thousands of records a second is a fair share of a job's CPU.
//
// Slices are pooled by size class: class c holds capacities of at least
// 1<<c. The pools hold pointers to them, as sync.Pool wants.
type fetchPools struct {
	recs  [poolClasses]sync.Pool
	bytes [poolClasses]sync.Pool
}

// poolClasses bounds the pooled sizes: larger slices are left to the
// garbage collector.
const poolClasses = 28

var (
	_ kgo.PoolRecords         = (*fetchPools)(nil)
	_ kgo.PoolDecompressBytes = (*fetchPools)(nil)
)

// classUp is the class whose slices hold n at least.
func classUp(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// classDown is the class a slice of capacity n belongs to.
func classDown(n int) int { return bits.Len(uint(n)) - 1 }

// GetRecords implements kgo.PoolRecords.
func (p *fetchPools) GetRecords(n int) []kgo.Record {
	c := classUp(n)
	if c >= poolClasses {
		return make([]kgo.Record, 0, n)
	}
	if v := p.recs[c].Get(); v != nil {
		return (*v.(*[]kgo.Record))[:0]
	}
	return make([]kgo.Record, 0, 1<<c)
}

// PutRecords implements kgo.PoolRecords.
func (p *fetchPools) PutRecords(rs []kgo.Record) {
	if c := classDown(cap(rs)); c >= 0 && c < poolClasses {
		clear(rs[:cap(rs)])
		rs = rs[:0]
		p.recs[c].Put(&rs)
	}
}

// GetDecompressBytes implements kgo.PoolDecompressBytes, sized for what
// the batch decompresses to: a snappy block says so in its header; other
// codecs are guessed at four times their input.
func (p *fetchPools) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	want := 4 * len(compressed)
	if codec == kgo.CodecSnappy {
		if n, err := s2.DecodedLen(compressed); err == nil {
			want = n
		}
	}
	c := classUp(want)
	if c >= poolClasses {
		return nil
	}
	if v := p.bytes[c].Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, 1<<c)
}

// PutDecompressBytes implements kgo.PoolDecompressBytes.
func (p *fetchPools) PutDecompressBytes(b []byte) {
	if c := classDown(cap(b)); c >= 0 && c < poolClasses {
		b = b[:0]
		p.bytes[c].Put(&b)
	}
}
