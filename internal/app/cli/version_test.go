package cli

import (
	"regexp"
	"testing"
)

func TestVersionFlagAndVerbAgree(t *testing.T) {
	flag, _, err := execute(t, "--version")
	if err != nil {
		t.Fatalf("weir --version: %v", err)
	}
	verb, _, err := execute(t, "version")
	if err != nil {
		t.Fatalf("weir version: %v", err)
	}
	if flag != verb {
		t.Fatalf("weir --version printed %q, weir version printed %q", flag, verb)
	}
	// A test binary has no module version: it is a devel build.
	if !regexp.MustCompile(`^weir \(devel\)( [0-9a-f]{1,12}(-dirty)?)? \(go[^)]+\)\n$`).MatchString(flag) {
		t.Fatalf("weir --version printed %q", flag)
	}
}

func TestVersionOverriddenByLinker(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v1.2.3" // what -ldflags "-X …/internal/app/cli.version=v1.2.3" sets
	out, _, err := execute(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^weir v1\.2\.3 \(go[^)]+\)\n$`).MatchString(out) {
		t.Fatalf("weir version printed %q", out)
	}
}

func TestFormatVersion(t *testing.T) {
	for _, tc := range []struct {
		v, rev   string
		modified bool
		want     string
	}{
		{"v0.3.0", "0123456789abcdef", false, "weir v0.3.0 (go1.26.0)"},
		{"", "", false, "weir (devel) (go1.26.0)"},
		{"(devel)", "0123456789abcdef", false, "weir (devel) 0123456789ab (go1.26.0)"},
		{"(devel)", "0123456789abcdef", true, "weir (devel) 0123456789ab-dirty (go1.26.0)"},
		{"", "abc", false, "weir (devel) abc (go1.26.0)"},
	} {
		if got := formatVersion(tc.v, tc.rev, tc.modified, "go1.26.0"); got != tc.want {
			t.Errorf("formatVersion(%q, %q, %v) = %q, want %q", tc.v, tc.rev, tc.modified, got, tc.want)
		}
	}
}
