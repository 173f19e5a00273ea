package platform_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weirstream/weir/platform"
)

// The dashboard is tested in a real headless Chromium (Debian's chromium,
// which make deps installs), driven by chromedp. The tests skip when
// there is no chromium, unless WEIR_REQUIRE_TOOLS=1 (make test).
// WEIR_UPDATE_SCREENSHOTS=1 writes the screenshots the docs show into
// docs/images.

// chromium returns the browser's path, skipping the test when there is
// none.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WEIR_REQUIRE_TOOLS") == "1" {
		t.Fatal("no chromium on PATH (make deps installs Debian's chromium)")
	}
	t.Skip("no chromium on PATH (make deps installs Debian's chromium)")
	return ""
}

// browser starts a headless Chromium and returns a context for its first
// tab; every wait in it ends after two minutes, a bound for a stuck test.
func browser(t testing.TB, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in containers has no user namespaces
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelT()
		cancelB()
		cancelA()
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// screenshot writes the page to docs/images/name when
// WEIR_UPDATE_SCREENSHOTS=1.
func screenshot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if os.Getenv("WEIR_UPDATE_SCREENSHOTS") != "1" {
			return nil
		}
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join("..", "docs", "images", name), png, 0o644)
	})
}

// dashboardPipeline reads generated clicks in event time, dead-letters the
// records its parse step fails on, and counts the rest per kind in
// one-second windows.
const dashboardPipeline = `version: 1
on_error: dead-letter
dead_letter: {path: dead/%s}
inputs:
  clicks:
    type: generator
    rate: 300
    fields:
      id: seq
      kind: '["play", "pause", "seek"][seq %% 3]'
      ts: now()
    event_time: {field: ts, max_out_of_orderness: 1s}
steps:
  - name: parse
    from: [clicks]
    map:
      id: id
      kind: kind
      ts: ts
      check: 'id %% 97 == 50 ? int("not a number") : 1'
  - name: plays
    from: [parse]
    filter: kind == "play"
  - name: per-kind
    from: [parse]
    window:
      key: kind
      tumbling: 1s
      aggregates:
        clicks: count
outputs:
  played: {type: file, from: plays, path: out/%s/plays}
  counts: {type: file, from: per-kind, path: out/%s/counts}
`

// TestDashboardInChromium: a browser signs in with the token, sees the
// job in the list with its rate, opens it, waits for its graph with a
// rate above zero, takes a savepoint with the button and sees it listed.
func TestDashboardInChromium(t *testing.T) {
	ctx := browser(t, 1400, 1100)
	// A task publishes its counts every few hundred milliseconds: samples a
	// second apart each see them grow.
	// The built-in throughput rule with one-second steps, judging from its
	// fifth: the throughput chart soon draws the range it expected.
	ts := newTestServer(t, platform.Config{HistoryInterval: time.Second, Alerting: alertingConfig(t, `
alerts:
  interval: 500ms
  rules:
    - {name: throughput-abnormal, step: 1s, warmup: 5}
`)})
	name := strings.ReplaceAll(t.Name(), "/", "-")
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Name: "clicks", Pipeline: fmt.Sprintf(dashboardPipeline, name, name, name), CheckpointInterval: "1s"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	ts.waitFor(t, j.ID, "its process", func(j platform.Job) bool { return j.PID != 0 })

	var rate, state string
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		screenshot("dashboard-signin.png"),
		chromedp.SendKeys("#token", ts.Token, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible(`#jobs a[href="#/jobs/`+j.ID+`"]`),
	)
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
	// The list shows the job's rate once the server has sampled it twice.
	waitJS(t, ctx, "the job's rate in the list", `(() => { const r = [...document.querySelectorAll("#jobs tbody tr")].find(r => r.textContent.includes("`+j.ID+`")); return r && /[1-9][0-9.]*k?\/s/.test(r.children[3].textContent); })()`)
	if err := chromedp.Run(ctx, screenshot("dashboard-jobs.png"),
		chromedp.Click(`#jobs a[href="#/jobs/`+j.ID+`"]`),
		chromedp.WaitVisible("#graph g.op", chromedp.ByQuery)); err != nil {
		t.Fatalf("opening the job: %v", err)
	}
	waitJS(t, ctx, "an operator of the graph with a rate above zero", `[...document.querySelectorAll("#graph g.op")].some(g => parseFloat(g.dataset.rate) > 0)`)
	waitJS(t, ctx, "the throughput chart to have points", `document.querySelector("#chart-throughput polyline").getAttribute("points").split(" ").length >= 2`)
	waitJS(t, ctx, "the throughput chart to draw the expected range", `(() => { const b = document.querySelector("#chart-throughput polygon.band"); return b && b.getAttribute("points").split(" ").length >= 4 && /normal .* to /.test(document.querySelector("#chart-throughput").parentElement.textContent); })()`)
	waitJS(t, ctx, "a dead letter", `document.querySelectorAll("#deadletters tbody tr").length > 0`)
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`[...document.querySelectorAll("#graph g.op")].map(g => g.dataset.rate).join(",")`, &rate),
		chromedp.Text("#job-state", &state, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Errorf("the job's state on the page is %q; want running", state)
	}
	var ops int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("#graph g.op").length`, &ops)); err != nil {
		t.Fatal(err)
	}
	// clicks (source, with its event time), parse, plays, per-kind's key
	// and window, and the two outputs: the graph shows every operator.
	if ops < 5 {
		t.Errorf("the graph shows %d operators (rates %s); want the pipeline's every operator", ops, rate)
	}
	if err := chromedp.Run(ctx, screenshot("dashboard-job.png"),
		chromedp.Click("#savepoint", chromedp.ByID)); err != nil {
		t.Fatalf("clicking savepoint: %v", err)
	}
	waitJS(t, ctx, "the savepoint in the savepoints table", `document.querySelectorAll("#savepoints tbody tr").length > 0`)
	var status string
	if err := chromedp.Run(ctx, chromedp.Text("#action-status", &status, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "done") {
		t.Errorf("after the savepoint the page says %q", status)
	}
	shown, err := ts.Client.Show(t.Context(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Checkpoints == nil || len(shown.Checkpoints.Savepoints) == 0 {
		t.Errorf("the server lists no savepoint after the click: %+v", shown.Checkpoints)
	}
	var enabled bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(`!document.getElementById("rescale").disabled && !document.getElementById("rewind").disabled`, &enabled)); err != nil {
		t.Fatal(err)
	}
	if !enabled {
		t.Error("rescale and rewind are disabled on a server that has their routes")
	}
	// Signing out: the page asks for the token again, and the cookie it
	// held opens nothing.
	if err := chromedp.Run(ctx, chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#token", chromedp.ByID)); err != nil {
		t.Fatalf("signing out: %v", err)
	}
}

// waitJS polls the page until expr is true, failing the test after a
// minute: a bound for a stuck test, not a measurement.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var ok bool
		err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { try { return !!(`+expr+`); } catch (e) { return false; } })()`, &ok))
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var html string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById("main").innerText`, &html))
			t.Fatalf("waited a minute for %s; the page shows:\n%s", what, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkDashboardGraphRender measures, in Chromium, how long the
// dashboard takes to lay out and draw the graph of a job of 30 operators
// (performance.now around the layout, the drawing and the browser's
// style and layout of it), reported as ms/render.
func BenchmarkDashboardGraphRender(b *testing.B) {
	ctx := browser(b, 1400, 1000)
	s, err := platform.Open(platform.Config{Dir: filepath.Join(b.TempDir(), "data"), Executable: noProcess})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	srv := newHTTPServer(b, s)
	var total float64
	for i := 0; b.Loop(); i++ {
		var ms string
		var ok bool
		// A new page each time: the first render, with nothing cached in
		// the script's functions but the browser's compilation cache.
		err := chromedp.Run(ctx,
			chromedp.Navigate(srv+"/?"+strconv.Itoa(i)+"#/bench/graph/30"),
			chromedp.WaitVisible("#graph g.op", chromedp.ByQuery),
			chromedp.AttributeValue("body", "data-render-ms", &ms, &ok))
		if err != nil {
			b.Fatal(err)
		}
		v, err := strconv.ParseFloat(ms, 64)
		if err != nil {
			b.Fatalf("data-render-ms %q: %v", ms, err)
		}
		total += v
	}
	b.ReportMetric(total/float64(b.N), "ms/render")
}

// newHTTPServer serves s's API on 127.0.0.1 until the test ends.
func newHTTPServer(t testing.TB, s *platform.Server) string {
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
