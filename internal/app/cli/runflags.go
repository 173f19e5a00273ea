package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// validRate reports whether r is a rate the run verbs accept: finite and
// not negative. NaN passes a "< 0" check and +Inf makes a rate limiter wait
// forever, so both are named here.
func validRate(r float64) bool { return r >= 0 && !math.IsInf(r, 1) }

// runFlags are the flags every verb that runs a job shares: where it takes
// checkpoints and what it restores from. Each verb registers them with
// register and checks them with validate, so that they are spelled, and
// their mistakes named, alike.
type runFlags struct {
	// dirFlag is the name of the checkpoint directory's flag, which the
	// verbs spell differently ("checkpoints", "checkpoint-dir").
	dirFlag string

	checkpointDir         string
	checkpointInterval    time.Duration
	restore               string
	allowNonRestoredState bool
}

// register adds the flags to f, with the current values as defaults.
func (r *runFlags) register(f *pflag.FlagSet, dirUsage string) {
	f.StringVar(&r.checkpointDir, r.dirFlag, r.checkpointDir, dirUsage)
	f.DurationVar(&r.checkpointInterval, "checkpoint-interval", r.checkpointInterval, "time between checkpoints; only with --"+r.dirFlag)
	f.StringVar(&r.restore, "restore", r.restore, "start from `latest|location`: the newest checkpoint in --"+r.dirFlag+", or a chk-/sp- directory or a directory holding them (or an s3:// URL of either)")
	f.BoolVar(&r.allowNonRestoredState, "allow-non-restored-state", r.allowNonRestoredState, "with --restore, drop the state of operators the job no longer has instead of failing")
}

// validate names the flag at fault. changed tells which flags were given,
// for the flags that only make sense beside another.
func (r *runFlags) validate(changed func(flag string) bool) error {
	dir := "--" + r.dirFlag
	switch {
	case changed(r.dirFlag) && r.checkpointDir == "":
		return fmt.Errorf("invalid %s: the directory must not be empty", dir)
	case changed("checkpoint-interval") && r.checkpointDir == "":
		return fmt.Errorf("--checkpoint-interval needs %s DIR", dir)
	case r.checkpointDir != "" && r.checkpointInterval <= 0:
		return fmt.Errorf("invalid --checkpoint-interval %v: must be positive", r.checkpointInterval)
	case changed("restore") && r.restore == "":
		return errors.New("invalid --restore: want latest or a path")
	case r.restore == "latest" && r.checkpointDir == "":
		return fmt.Errorf("--restore latest needs %s DIR, the directory to take the newest checkpoint from", dir)
	case r.allowNonRestoredState && r.restore == "":
		return errors.New("--allow-non-restored-state needs --restore")
	}
	return nil
}

// retention is a flag's duration that may also be given in days ("7d"),
// the unit checkpoint retention is usually thought in.
type retention time.Duration

func (r *retention) String() string {
	if *r == 0 {
		return ""
	}
	return time.Duration(*r).String()
}

func (r *retention) Type() string { return "duration" }

func (r *retention) Set(s string) error {
	d, err := parseRetention(s)
	if err != nil {
		return err
	}
	*r = retention(d)
	return nil
}

// parseRetention reads a duration of Go's syntax, or a whole number of
// days such as "7d".
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && !strings.ContainsAny(n, "hmsuµn") {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want a number of days such as 7d, or a duration such as 36h", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid duration %q: want a number of days such as 7d, or a duration such as 36h", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return d, nil
}
