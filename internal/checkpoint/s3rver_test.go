package checkpoint_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

// s3rverBin finds the s3rver command, which make deps installs into the
// module's .tools directory; WEIR_S3RVER may name another.
func s3rverBin(t *testing.T) string {
	for _, p := range []string{os.Getenv("WEIR_S3RVER"), "../../.tools/node_modules/.bin/s3rver"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	if p, err := exec.LookPath("s3rver"); err == nil {
		return p
	}
	if os.Getenv("WEIR_REQUIRE_TOOLS") != "" {
		t.Fatal("s3rver is missing: run make deps")
	}
	t.Skip("s3rver is missing (make deps installs it)")
	return ""
}

// startS3rver starts npm's s3rver, an S3 server written independently of
// Weir's client and of gofakes3, on a free loopback port with one bucket,
// and stops it when the test ends. It returns the endpoint.
func startS3rver(t *testing.T, bucket string) string {
	bin := s3rverBin(t)
	cmd := exec.Command(bin, "-d", t.TempDir(), "-a", "127.0.0.1", "-p", "0", "--configure-bucket", bucket)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	r := bufio.NewReader(out)
	var addr string
	for addr == "" {
		line, err := r.ReadString('\n')
		if err != nil {
			close(done)
			t.Fatalf("s3rver did not start: %v", err)
		}
		_, addr, _ = strings.Cut(strings.TrimSpace(line), "S3rver listening on ")
	}
	go func() {
		// Its request log, until it exits.
		io.Copy(io.Discard, r)
		close(done)
	}()
	return "http://" + addr
}

// TestS3rver runs the conformance suite, a multipart state file and a
// refused key against s3rver.
func TestS3rver(t *testing.T) {
	endpoint := startS3rver(t, bucket)
	config := func(prefix string) checkpoint.S3Config {
		return checkpoint.S3Config{Bucket: bucket, Prefix: prefix, Endpoint: endpoint, Region: "us-east-1",
			AccessKeyID: "S3RVER", SecretAccessKey: "S3RVER", MaxRetries: 1, PartSize: 5 << 20}
	}
	var n atomic.Int64
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Storage {
		s, err := checkpoint.OpenS3(config(fmt.Sprintf("run-%d", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	t.Run("LargeStateFile", func(t *testing.T) {
		s, err := checkpoint.OpenS3(config("large"))
		must(t, err)
		must(t, s.CheckWritable(t.Context()))
		data := make([]byte, 11<<20+7)
		for i := range data {
			data[i] = byte(i * 7)
		}
		h := &checkpointtest.H{T: t, S: s, Ctx: t.Context()}
		h.WriteFile(chk(1), "big", data)
		r, err := s.Open(t.Context(), chk(1), "big")
		must(t, err)
		got, err := io.ReadAll(r)
		r.Close()
		must(t, err)
		if string(got) != string(data) {
			t.Fatalf("read %d bytes back, wrote %d; equal: false", len(got), len(data))
		}
	})
	t.Run("WrongKey", func(t *testing.T) {
		cfg := config("p")
		cfg.AccessKeyID = "NOBODY"
		s, err := checkpoint.OpenS3(cfg)
		must(t, err)
		if err := s.CheckWritable(t.Context()); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
			t.Fatalf("CheckWritable with an unknown key: %v", err)
		}
	})
}
