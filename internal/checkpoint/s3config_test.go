package checkpoint_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint"
)

// Without credentials in the config or a shared credentials file, opening
// an S3 storage fails at once and says where credentials come from.
func TestS3WithoutCredentials(t *testing.T) {
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "credentials"))
	_, err := checkpoint.OpenS3(checkpoint.S3Config{Bucket: "b", Endpoint: "http://127.0.0.1:9"})
	if err == nil {
		t.Fatal("OpenS3 without credentials succeeded")
	}
	for _, want := range []string{"no credentials", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// A shared credentials file is enough.
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("[default]\naws_access_key_id = k\naws_secret_access_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", file)
	if _, err := checkpoint.OpenS3(checkpoint.S3Config{Bucket: "b", Endpoint: "http://127.0.0.1:9"}); err != nil {
		t.Fatalf("OpenS3 with a shared credentials file: %v", err)
	}
}
