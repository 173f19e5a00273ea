package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Alerts follow the rule given; the late logins are printed, not dropped.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want []string
	}{
		{"3/1m", []string{
			"ALERT ann: 3 failed logins within 1m0s, the last at 10:00:50",
			"ALERT ann: 3 failed logins within 1m0s, the last at 10:02:25",
		}},
		{"2/30s", []string{
			"ALERT ann: 2 failed logins within 30s, the last at 10:00:20",
			"ALERT ann: 2 failed logins within 30s, the last at 10:02:25",
		}},
	} {
		var out lockedBuffer // two sinks print into it
		if err := run(context.Background(), []string{"-rule", tc.rule}, &out); err != nil {
			t.Fatal(err)
		}
		want := append(tc.want, "LATE bob ok=false at 10:00:10", "LATE cid ok=false at 10:01:00")
		slices.Sort(want)
		got := strings.Split(strings.TrimSpace(out.String()), "\n")
		slices.Sort(got) // the alerts and the late logins are two sinks
		if !slices.Equal(got, want) {
			t.Errorf("-rule %s printed\n%s\nwant\n%s", tc.rule, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
