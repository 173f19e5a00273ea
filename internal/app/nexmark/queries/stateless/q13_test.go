package stateless

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// writeSideInput writes text as a side input file and returns its path.
func writeSideInput(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "side_input.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestQ13 checks q13 with the default side input (key k → "k" for k below
// 10 000, as SideInputGenerator --num 10000 writes it) against the
// reference with that map.
func TestQ13(t *testing.T) {
	side := map[int64]string{}
	for k := range int64(10_000) {
		side[k] = strconv.FormatInt(k, 10)
	}
	jobtest.CheckGenerated(t, Q13, func(ev []nexmark.Event) []reference.Row { return reference.Q13(ev, side) }, job.Options{})
}

// TestQ13SideFile checks q13 with a sparse side input file: every third
// key, values that need CSV quoting, CRLF line ends and blank lines.
func TestQ13SideFile(t *testing.T) {
	side := map[int64]string{}
	var b strings.Builder
	for k := int64(0); k < 10_000; k += 3 {
		v := "v" + strconv.FormatInt(k, 10)
		switch k % 4 {
		case 0:
			b.WriteString(strconv.FormatInt(k, 10) + "," + v + "\n")
		case 1:
			v += `, "quoted"`
			b.WriteString(strconv.FormatInt(k, 10) + `,"` + strings.ReplaceAll(v, `"`, `""`) + "\"\r\n")
		case 2:
			b.WriteString(" " + strconv.FormatInt(k, 10) + " ," + v + "\n\n")
		default:
			v = ""
			b.WriteString(strconv.FormatInt(k, 10) + ",\n")
		}
		side[k] = v
	}
	path := writeSideInput(t, b.String())
	jobtest.CheckGenerated(t, Q13, func(ev []nexmark.Event) []reference.Row { return reference.Q13(ev, side) },
		job.Options{SideInput: path})
}

// TestQ13ByHand: MOD keeps the sign of the auction (−10 003 looks up −3);
// keys outside (−10 000, 10 000) never match; a duplicated key gives one
// row per side row, in file order, as a lookup join does; a bid without a
// match is dropped.
func TestQ13ByHand(t *testing.T) {
	path := writeSideInput(t, "3,three\n-3,minus three\n10003,never\n7,seven\n7,\"sept, again\"\n")
	events := []nexmark.Event{
		bid(10_003, 1),  // key 3: "three"
		bid(-10_003, 2), // key −3: "minus three"
		bid(20_007, 3),  // key 7: "seven" and "sept, again"
		bid(5, 4),       // key 5: no side row, dropped
		bid(10_000, 5),  // key 0: no side row, dropped
	}
	row := func(auction, price int64, value string) reference.Row {
		return jobtest.R("auction", auction, "bidder", 7, "price", price, "dateTime", 1000, "value", value)
	}
	jobtest.CheckInput(t, Q13, events, []reference.Row{
		row(10_003, 1, "three"),
		row(-10_003, 2, "minus three"),
		row(20_007, 3, "seven"),
		row(20_007, 3, "sept, again"),
	}, job.Options{SideInput: path})
}

// TestQ13BadSideInput: a malformed side input fails the job before it runs,
// naming the file and the line.
func TestQ13BadSideInput(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	cfg.Events = 10
	for _, tc := range []struct {
		name, text, want string
	}{
		{"one field", "1,a\n2\n", "line 2: 1 field(s), want 2 (key,value)"},
		{"three fields", "1,a\n\n2,b,c\n", "line 3: 3 field(s), want 2 (key,value)"},
		{"bad key", "1,a\nx,b\n", `line 2: key "x" is not a BIGINT`},
		{"key overflow", "99999999999999999999,a\n", "line 1: key"},
		{"bare quote", "1,a\n2,b\"c\n", "line 2: bare \" in non-quoted-field"},
		{"unterminated quote", "1,a\n2,\"b\n", "line 2: extraneous or missing \" in quoted-field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeSideInput(t, tc.text)
			_, _, err := job.RunCollect(t.Context(), Q13, job.Options{SideInput: path, Generator: cfg})
			if err == nil {
				t.Fatal("the job ran; want it to fail on the side input")
			}
			if !strings.Contains(err.Error(), "side input "+path+", "+tc.want) {
				t.Errorf("error %q; want it to name %s and contain %q", err, path, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.txt")
		_, _, err := job.RunCollect(t.Context(), Q13, job.Options{SideInput: path, Generator: cfg})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v; want one naming %s", err, path)
		}
	})
}
