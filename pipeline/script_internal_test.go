package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// console.log writes at most consoleRate lines a second per runtime and
// reports how many it dropped with the next line it writes.
func TestScriptConsoleRateLimit(t *testing.T) {
	var logs bytes.Buffer
	sb := newSandbox(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), 10*time.Second, nil)
	defer sb.close()
	clock := time.Unix(1000, 0)
	sb.now = func() time.Time { return clock }
	prog := goja.MustCompile("inline", "function process(r) { for (var i = 0; i < 30; i++) console.log('line', i); return r }", false)
	proc, err := sb.load(prog, "inline")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.call(proc, sb.rt.NewObject()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "msg=console.log"); n != consoleRate {
		t.Fatalf("%d lines logged in a second, want %d:\n%s", n, consoleRate, logs.String())
	}
	logs.Reset()
	clock = clock.Add(time.Second)
	if _, err := sb.call(proc, sb.rt.NewObject()); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(logs.String(), "\n")
	if !strings.Contains(first, `line="line 0" dropped=20`) {
		t.Fatalf("the next second's first line does not count the 20 dropped: %s", first)
	}
}
