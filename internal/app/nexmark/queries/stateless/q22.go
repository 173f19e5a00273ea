package stateless

import (
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q22 splits each bid's URL into directories: columns auction, bidder,
// price, channel, dir1, dir2, dir3 with dirN = SPLIT_INDEX(url, '/', N+2):
// for "https://www.nexmark.com/a/b/c/item.htm" that is a, b and c. A
// missing piece is NULL, and an empty URL has no pieces at all.
var Q22 = job.Query{Name: "q22", Title: "get directories", Build: buildQ22}

// q22Row is a bid with the three directories of its URL.
type q22Row struct {
	auction, bidder, price int64
	channel                string
	dirs                   [3]string
	has                    [3]bool // false: NULL
}

// urlDirs sets r.dirs to SPLIT_INDEX(url, '/', 3), …(url, '/', 5), in one
// scan of url and without allocating: piece i is what lies between the
// i-th and the (i+1)-th '/' (counting from 0; piece 0 starts the string and
// the last piece ends it), empty pieces included.
func urlDirs(url string, r *q22Row) {
	if url == "" {
		return // SPLIT_INDEX of an empty string is NULL
	}
	rest := url
	for range 3 { // skip pieces 0 to 2
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return
		}
		rest = rest[j+1:]
	}
	for i := range r.dirs {
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			r.dirs[i], r.has[i] = rest, true
			return
		}
		r.dirs[i], r.has[i] = rest[:j], true
		rest = rest[j+1:]
	}
}

func buildQ22(c *job.Context) error {
	rows := weir.Map(c.Bids(), func(b nexmark.Bid) q22Row {
		r := q22Row{auction: b.Auction, bidder: b.Bidder, price: b.Price, channel: b.Channel}
		urlDirs(b.URL, &r)
		return r
	}).Name("split url")
	job.Emit(c, rows, func(dst []byte, b q22Row) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.auction)
		r.Int("bidder", b.bidder)
		r.Int("price", b.price)
		r.Str("channel", b.channel)
		r.NullStr("dir1", b.dirs[0], b.has[0])
		r.NullStr("dir2", b.dirs[1], b.has[1])
		r.NullStr("dir3", b.dirs[2], b.has[2])
		return r.End()
	})
	return nil
}
