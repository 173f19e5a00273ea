package cli

import (
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"0", 0, true},
		{"d", 0, false},
		{"-1d", 0, false},
		{"-5h", 0, false},
		{"1.5d", 0, false},
		{"99999999d", 0, false},
		{"week", 0, false},
	} {
		got, err := parseRetention(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestRunRetainNeedsCheckpointDir: --retain without --checkpoint-dir is
// refused naming both flags.
func TestRunRetainNeedsCheckpointDir(t *testing.T) {
	o := pipelineRunOptions{parallelism: 1, runFlags: runFlags{dirFlag: "checkpoint-dir"}}
	err := o.validate(func(f string) bool { return f == "retain" })
	if err == nil || err.Error() != "--retain needs --checkpoint-dir DIR" {
		t.Errorf("validate = %v", err)
	}
}
