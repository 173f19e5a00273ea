package platform_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirstream/weir/platform"
)

// uiManifest is platform/ui/dist/manifest.json, which `make ui` writes.
type uiManifest struct {
	Sources string            `json:"sources"`
	Outputs map[string]string `json:"outputs"`
}

// uiSourcesHash hashes the dashboard's sources as platform/ui/build.mjs
// does.
func uiSourcesHash(t *testing.T) string {
	t.Helper()
	files := []string{"build.mjs", "package.json", "package-lock.json"}
	src, err := os.ReadDir("ui/src")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range src {
		files = append(files, "src/"+e.Name())
	}
	slices.Sort(files[3:])
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("ui", f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestUIAssetsMatchSources: the committed dashboard (platform/ui/dist,
// embedded in the binary) was built by `make ui` from the committed
// sources, and not edited since. The manifest records the hash of the
// sources and of each output; where esbuild is installed (make ui) the
// assets are also built again, offline, and compared byte for byte.
func TestUIAssetsMatchSources(t *testing.T) {
	b, err := os.ReadFile("ui/dist/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m uiManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("ui/dist/manifest.json: %v", err)
	}
	if got := uiSourcesHash(t); got != m.Sources {
		t.Errorf("platform/ui's sources hash to %s, but the assets in platform/ui/dist were built from sources hashing to %s: run make ui and commit platform/ui/dist", got, m.Sources)
	}
	dist, err := os.ReadDir("ui/dist")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range dist {
		if e.Name() == "manifest.json" {
			continue
		}
		seen++
		b, err := os.ReadFile(filepath.Join("ui/dist", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want, ok := m.Outputs[e.Name()]; !ok || hex.EncodeToString(sum[:]) != want {
			t.Errorf("platform/ui/dist/%s is not what make ui built (manifest: %q): run make ui", e.Name(), want)
		}
	}
	if seen != len(m.Outputs) {
		t.Errorf("platform/ui/dist holds %d assets, its manifest %d: run make ui", seen, len(m.Outputs))
	}
	esbuild := filepath.Join("ui", "node_modules", ".bin", "esbuild")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(esbuild); serr != nil || err != nil {
		t.Log("esbuild is not installed (make ui installs it): the assets were checked against the manifest only")
		return
	}
	out := t.TempDir()
	cmd := exec.Command(node, "ui/build.mjs", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node ui/build.mjs: %v\n%s", err, b)
	}
	for name := range m.Outputs {
		want, _ := os.ReadFile(filepath.Join("ui/dist", name))
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("building the dashboard again gives another %s (%v): run make ui and commit platform/ui/dist", name, err)
		}
	}
}

// TestDashboardFirstLoadSize: the page and every asset it loads, as the
// server sends them gzipped, stay within the 100 KB of the dashboard's
// budget; they need no token.
func TestDashboardFirstLoadSize(t *testing.T) {
	ts := newTestServer(t, platform.Config{Executable: noProcess})
	total := 0
	for _, p := range []string{"/", "/ui/app.js", "/ui/app.css"} {
		req, _ := http.NewRequest("GET", ts.URL+p, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET %s: %d, Content-Encoding %q; want 200 gzipped", p, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
			t.Fatalf("GET %s: not gzip: %v", p, err)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !bytes.Contains([]byte(csp), []byte("script-src 'self'")) {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
		total += len(body)
	}
	t.Logf("first load: %d bytes gzipped", total)
	if total > 100_000 {
		t.Errorf("the dashboard's first load is %d bytes gzipped; the budget is 100 KB", total)
	}
}
