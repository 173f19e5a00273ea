package stateless

import (
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q10 logs every bid to a partitioned file system: q0's columns plus dt
// (DATE_FORMAT(dateTime, 'yyyy-MM-dd')) and hm (DATE_FORMAT(dateTime,
// 'HH:mm')), in UTC. Written to files (job.Options.Out), each row goes to
// the directory dt=<dt>/hm=<hm> as Flink's filesystem connector names the
// partitions of a table PARTITIONED BY (dt, hm), with its escaping of
// partition values: ':' becomes "%3A", so 12:34 lives in hm=12%3A34. Unlike
// Flink, the rows keep the dt and hm columns (the reference's rows have
// them).
var Q10 = job.Query{Name: "q10", Title: "log to file system", Build: buildQ10}

// q10Row is a bid with the names of its minute.
type q10Row struct {
	nexmark.Bid
	names *minuteNames
}

// minuteNames are the dt and hm values of one minute of event time and its
// partition directory. They are shared by every row of the minute and never
// change.
type minuteNames struct {
	minute int64 // ⌊dateTime / 60 000⌋
	dt, hm string
	dir    string // "dt=2015-07-15/hm=00%3A00"
}

// minuteCache remembers the names of the last minute seen, so that a row
// costs no formatting and no allocation while the minute lasts. Subtasks
// share it: the entry is immutable and swapped atomically, so a subtask
// sees either the old minute's names or the new one's, both correct for
// the minute they carry.
type minuteCache struct{ last atomic.Pointer[minuteNames] }

// get returns the names of the minute of ms (Unix milliseconds).
func (c *minuteCache) get(ms int64) *minuteNames {
	m := ms / 60_000
	if ms%60_000 < 0 {
		m-- // floor, for times before 1970
	}
	if n := c.last.Load(); n != nil && n.minute == m {
		return n
	}
	// The seconds do not change the date nor the hour and minute, so the
	// names of ms are those of its whole minute.
	t := time.UnixMilli(ms).UTC()
	n := &minuteNames{minute: m, dt: t.Format("2006-01-02"), hm: t.Format("15:04")}
	n.dir = partitionDir([]string{"dt", "hm"}, []string{n.dt, n.hm})
	c.last.Store(n)
	return n
}

// partitionDir is Flink's PartitionPathUtils.generatePartitionPath without
// the trailing slash: name=value segments, the values escaped, joined by
// '/'. An empty value is Flink's default partition name.
func partitionDir(names, values []string) string {
	var b []byte
	for i, name := range names {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, name...)
		b = append(b, '=')
		if values[i] == "" {
			b = append(b, "__DEFAULT_PARTITION__"...)
			continue
		}
		b = appendEscapedPathName(b, values[i])
	}
	return string(b)
}

// appendEscapedPathName appends s escaped as Flink (and Hive) escape a
// partition value in a path: each ASCII control character and each of
// "#%'*/:=?\{[]^ becomes '%' and two upper-case hex digits; other bytes
// are kept.
func appendEscapedPathName(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := range len(s) {
		c := s[i]
		if escapeInPath(c) {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// escapeInPath reports whether a partition value's byte c is escaped in a
// path (PartitionPathUtils.CHAR_TO_ESCAPE).
func escapeInPath(c byte) bool {
	switch {
	case c < 0x20, c == 0x7f:
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '{', '[', ']', '^':
		return true
	}
	return false
}

func buildQ10(c *job.Context) error {
	names := &minuteCache{}
	rows := weir.Map(c.Bids(), func(b nexmark.Bid) q10Row {
		return q10Row{Bid: b, names: names.get(b.DateTime)}
	}).Name("dt, hm")
	job.Emit(c, rows, func(dst []byte, b q10Row) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.Auction)
		r.Int("bidder", b.Bidder)
		r.Int("price", b.Price)
		r.Int("dateTime", b.DateTime)
		r.Str("extra", b.Extra)
		r.Str("dt", b.names.dt)
		r.Str("hm", b.names.hm)
		return r.End()
	}, job.PartitionBy(func(b q10Row) string { return b.names.dir }))
	return nil
}
