package stateless

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ22(t *testing.T) { jobtest.CheckGenerated(t, Q22, reference.Q22, job.Options{}) }

// splitIndexBySplit is the reference's SPLIT_INDEX(s, "/", i).
func splitIndexBySplit(s string, i int) (string, bool) {
	if s == "" {
		return "", false
	}
	parts := strings.Split(s, "/")
	if i >= len(parts) {
		return "", false
	}
	return parts[i], true
}

// TestURLDirsMatchesSplit: the one-pass scan gives strings.Split's pieces
// 3 to 5 on edge cases and random paths.
func TestURLDirsMatchesSplit(t *testing.T) {
	check := func(url string) {
		t.Helper()
		var r q22Row
		urlDirs(url, &r)
		for i := range 3 {
			want, ok := splitIndexBySplit(url, i+3)
			if r.dirs[i] != want || r.has[i] != ok {
				t.Errorf("urlDirs(%q): dir%d = %q, %v; want %q, %v", url, i+1, r.dirs[i], r.has[i], want, ok)
			}
		}
	}
	for _, url := range []string{"", "/", "//", "///", "////", "/////", "//////", "a/b/c", "a/b/c/", "a/b/c/d",
		"a/b/c/d/e/f/g", "https://www.nexmark.com/a/b/c/item.htm", "https://h/x", "a//b/c/d/e/f/g", "é/\xff/x/y"} {
		check(url)
	}
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"/", "a", "bc", "", "é"}
	for range 10_000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		check(b.String())
	}
}

// TestQ22ByHand: pieces 3 to 5 of the URL split at '/', empty pieces
// kept, NULL where there are not enough pieces and for an empty URL.
func TestQ22ByHand(t *testing.T) {
	b := func(auction int64, url string) nexmark.Event {
		e := bid(auction, 10)
		e.Bid.URL = url
		return e
	}
	events := []nexmark.Event{
		b(1, "https://www.nexmark.com/a/b/c/item.htm"), // https:, "", host, a, b, c
		b(2, "https://h/x"),                            // x, then nothing
		b(3, "a/b/c/"),                                 // piece 3 is ""
		b(4, "a/b/c"),                                  // only pieces 0..2
		b(5, ""),                                       // no pieces at all
		b(6, "a//b/c/d/e/f/g"),                         // a, "", b, c, d, e
	}
	row := func(auction int64, d1, d2, d3 any) reference.Row {
		return jobtest.R("auction", auction, "bidder", 7, "price", 10, "channel", "Google", "dir1", d1, "dir2", d2, "dir3", d3)
	}
	want := []reference.Row{
		row(1, "a", "b", "c"),
		row(2, "x", nil, nil),
		row(3, "", nil, nil),
		row(4, nil, nil, nil),
		row(5, nil, nil, nil),
		row(6, "c", "d", "e"),
	}
	jobtest.CheckInput(t, Q22, events, want, job.Options{})
	jobtest.Check(t, rowsJSON(want), false, reference.Q22(events))
}
