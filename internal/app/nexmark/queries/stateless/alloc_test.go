package stateless

import "testing"

// TestHotPathsDoNotAllocate: the per-bid functions of q10, q13, q14, q21
// and q22 allocate nothing (q10's once per minute of event time).
func TestHotPathsDoNotAllocate(t *testing.T) {
	var names minuteCache
	names.get(1436918400000)
	side := defaultSideTable()
	var sink int64
	for name, fn := range map[string]func(){
		"q10 minute names": func() { sink += names.get(1436918400000 + sink%60_000).minute },
		"q13 lookup":       func() { sink += int64(len(side.lookup(1_234_567))) },
		"q14 countChar":    func() { sink += countChar("abccba", 'c') },
		"q14 bidTimeType":  func() { sink += int64(len(bidTimeType(1436918400000))) },
		"q21 hot channel": func() {
			id, _ := hotChannelID("Facebook")
			sink += int64(len(id))
		},
		"q21 extract": func() {
			id, _ := extractChannelID("https://www.nexmark.com/a/b?x=1&channel_id=1234&y=2")
			sink += int64(len(id))
		},
		"q22 dirs": func() {
			var r q22Row
			urlDirs("https://www.nexmark.com/a/b/c/item.htm", &r)
			sink += int64(len(r.dirs[2]))
		},
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}
