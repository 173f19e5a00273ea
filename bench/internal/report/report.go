// Package report holds what the benchmark harnesses share: writing a
// table into a section of a Markdown file, the process's CPU time and its
// peak memory.
package report

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// WriteSection replaces what is between the markers "<!-- name:begin -->"
// and "<!-- name:end -->" of the file at path with table.
func WriteSection(path, name, table string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return errors.New(path + ": no " + begin + " … " + end + " section to write the table into")
	}
	s = s[:i+len(begin)] + "\n" + table + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// CPUSeconds is the process's user + system CPU time.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0 // getrusage(RUSAGE_SELF) does not fail on Linux
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// PeakRSS is the process's peak resident set size (VmHWM in
// /proc/self/status), in bytes; 0 where it cannot be read.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
