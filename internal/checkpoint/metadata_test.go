package checkpoint_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// seal appends the checksum trailer to body, for tests that need intact
// metadata with contents Encode would refuse to write.
func seal(body string) []byte {
	sum := crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli))
	return fmt.Appendf([]byte(body), "crc32c %08x\n", sum)
}

// goldenMetadata exercises every field.
func goldenMetadata() *checkpoint.Metadata {
	return &checkpoint.Metadata{
		FormatVersion:  checkpoint.FormatVersion,
		Kind:           checkpoint.KindSavepoint,
		ID:             42,
		CompletedAt:    time.Date(2025, 3, 1, 13, 4, 5, 123456789, time.FixedZone("CET", 3600)),
		MaxParallelism: 128,
		Operators: []checkpoint.Operator{
			{ID: "9f86d081884c7d65", Name: "Source: orders", Parallelism: 1, Subtasks: []checkpoint.StateFile{
				{Name: checkpoint.StateFileName("9f86d081884c7d65", 0), Size: 120},
			}},
			{ID: "window/count", Name: "Window counts", Parallelism: 2, Subtasks: []checkpoint.StateFile{
				{Name: checkpoint.StateFileName("window/count", 0), Size: 4096},
				{Name: checkpoint.StateFileName("window/count", 1), Size: 0},
			}},
		},
		Job: map[string][]byte{"graph": []byte("v1:abc"), "sink/pending-txn": {0, 1, 0xfe, 0xff}},
	}
}

// TestGoldenMetadata pins the metadata format: a change to these bytes
// breaks every savepoint taken before it, so it must come with a new
// format version. Run with -update to rewrite the file after such a change.
func TestGoldenMetadata(t *testing.T) {
	got, err := goldenMetadata().Encode()
	must(t, err)
	path := filepath.Join("testdata", "metadata-v1.golden")
	if *update {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("metadata bytes changed:\n got:\n%s\n want:\n%s", got, want)
	}
	m, err := checkpoint.DecodeMetadata(want)
	must(t, err)
	(&checkpointtest.H{T: t}).SameMetadata(m, goldenMetadata())
	if m.CompletedAt.Location() != time.UTC {
		t.Errorf("CompletedAt decodes in %v, want UTC", m.CompletedAt.Location())
	}
}

func TestMetadataAccessors(t *testing.T) {
	m := goldenMetadata()
	if m.Ref() != sp(42) {
		t.Errorf("Ref = %v", m.Ref())
	}
	if m.StateSize() != 120+4096 {
		t.Errorf("StateSize = %d", m.StateSize())
	}
	if op, ok := m.Operator("window/count"); !ok || op.Name != "Window counts" {
		t.Errorf("Operator(window/count) = %v, %v", op, ok)
	}
	if _, ok := m.Operator("nope"); ok {
		t.Error("Operator(nope) found one")
	}
}

// TestValidate checks that each problem is reported with the field and,
// inside an operator, the operator's ID and name.
func TestValidate(t *testing.T) {
	must(t, goldenMetadata().Validate())
	for _, tc := range []struct {
		name   string
		mutate func(m *checkpoint.Metadata)
		want   []string
		is     error
	}{
		{"version", func(m *checkpoint.Metadata) { m.FormatVersion = 3 }, []string{"FormatVersion: 3"}, checkpoint.ErrVersion},
		{"no version", func(m *checkpoint.Metadata) { m.FormatVersion = 0 }, []string{"FormatVersion: 0"}, checkpoint.ErrVersion},
		{"kind", func(m *checkpoint.Metadata) { m.Kind = 0 }, []string{"Kind:"}, nil},
		{"id", func(m *checkpoint.Metadata) { m.ID = 0 }, []string{"ID: 0; must be positive"}, nil},
		{"time", func(m *checkpoint.Metadata) { m.CompletedAt = time.Time{} }, []string{"CompletedAt: not set"}, nil},
		{"max parallelism low", func(m *checkpoint.Metadata) { m.MaxParallelism = 0 }, []string{"MaxParallelism: 0"}, nil},
		{"max parallelism high", func(m *checkpoint.Metadata) { m.MaxParallelism = 1<<15 + 1 }, []string{"MaxParallelism: 32769"}, nil},
		{"empty job key", func(m *checkpoint.Metadata) { m.Job[""] = nil }, []string{"Job: empty key"}, nil},
		{"operator without ID", func(m *checkpoint.Metadata) { m.Operators[1].ID = "" }, []string{`operator "" (Window counts): Operators[1].ID: empty`}, nil},
		{"duplicate operator", func(m *checkpoint.Metadata) { m.Operators[1].ID = m.Operators[0].ID }, []string{`operator "9f86d081884c7d65" (Window counts): ID: also used by Operators[0]`}, nil},
		{"parallelism", func(m *checkpoint.Metadata) { m.Operators[1].Parallelism = 0 }, []string{`operator "window/count" (Window counts): Parallelism: 0`}, nil},
		{"parallelism above max", func(m *checkpoint.Metadata) { m.MaxParallelism = 1 }, []string{`operator "window/count" (Window counts): Parallelism: 2 is above MaxParallelism 1`}, nil},
		{"subtask count", func(m *checkpoint.Metadata) { m.Operators[1].Subtasks = m.Operators[1].Subtasks[:1] }, []string{`operator "window/count" (Window counts): Subtasks: has 1 files for parallelism 2`}, nil},
		{"bad name", func(m *checkpoint.Metadata) { m.Operators[1].Subtasks[1].Name = "../x" }, []string{`operator "window/count" (Window counts): Subtasks[1].Name:`, `"../x"`}, checkpoint.ErrInvalidName},
		{"shared file", func(m *checkpoint.Metadata) { m.Operators[1].Subtasks[1].Name = m.Operators[0].Subtasks[0].Name }, []string{`Subtasks[1].Name:`, `also listed by operator "9f86d081884c7d65" subtask 0`}, nil},
		{"negative size", func(m *checkpoint.Metadata) { m.Operators[0].Subtasks[0].Size = -1 }, []string{`operator "9f86d081884c7d65" (Source: orders): Subtasks[0].Size: -1`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := goldenMetadata()
			tc.mutate(m)
			err := m.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var fe *checkpoint.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v is not a *FieldError", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if _, err := m.Encode(); err == nil {
				t.Error("Encode wrote metadata that does not validate")
			}
		})
	}

	// All problems at once, so one run of a buggy coordinator shows them all.
	m := goldenMetadata()
	m.ID, m.MaxParallelism, m.Operators[0].Parallelism = 0, 0, 0
	err := m.Validate()
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n < 3 {
		t.Errorf("Validate reported %d problems, want at least 3: %v", n, err)
	}
}

// TestDecodeIntactButWrong: metadata whose checksum is right but whose
// contents are not is refused, and not as torn (see
// TestUnreadableMetadataIsNotHidden for why the difference matters).
func TestDecodeIntactButWrong(t *testing.T) {
	good, err := goldenMetadata().Encode()
	must(t, err)
	body := string(good[:len(good)-len("crc32c 00000000\n")])
	for _, tc := range []struct {
		name string
		body string
		is   error
	}{
		{"newer version", strings.Replace(body, `"formatVersion": 1`, `"formatVersion": 3`, 1), checkpoint.ErrVersion},
		{"no version", strings.Replace(body, `"formatVersion": 1,`, ``, 1), nil},
		{"unknown field", strings.Replace(body, `"id": 42,`, `"id": 42, "extra": true,`, 1), nil},
		{"invalid", strings.Replace(body, `"maxParallelism": 128`, `"maxParallelism": 0`, 1), nil},
		{"bad kind", strings.Replace(body, `"savepoint"`, `"snapshot"`, 1), nil},
		{"trailing data", body + "{}\n", nil},
		{"not JSON", "hello\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.body == body {
				t.Fatal("the replacement did not apply")
			}
			_, err := checkpoint.DecodeMetadata(seal(tc.body))
			if err == nil {
				t.Fatal("decoded")
			}
			if errors.Is(err, checkpoint.ErrChecksum) {
				t.Fatalf("%v: intact metadata reported as torn", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v; want one wrapping %v", err, tc.is)
			}
		})
	}
	// The trailer is strict: an uppercase checksum is not what Encode
	// writes, so it counts as damage.
	upper := append(slices.Clone(good[:len(good)-9]), bytes.ToUpper(good[len(good)-9:])...)
	if !bytes.Equal(upper, good) {
		if _, err := checkpoint.DecodeMetadata(upper); !errors.Is(err, checkpoint.ErrChecksum) {
			t.Fatalf("uppercase trailer: %v, want ErrChecksum", err)
		}
	}
}

func TestRefNames(t *testing.T) {
	if got := chk(42).String(); got != "chk-0000000000000000042" {
		t.Errorf("chk 42 is named %q", got)
	}
	if got := sp(math.MaxInt64).String(); got != "sp-9223372036854775807" {
		t.Errorf("sp MaxInt64 is named %q", got)
	}
	ids := []int64{1, 2, 9, 10, 11, 99, 100, 1 << 31, 1 << 40, math.MaxInt64 - 1, math.MaxInt64}
	var names []string
	for _, id := range ids {
		for _, r := range []checkpoint.Ref{chk(id), sp(id)} {
			got, err := checkpoint.ParseRef(r.String())
			if err != nil || got != r {
				t.Errorf("ParseRef(%q) = %v, %v", r.String(), got, err)
			}
		}
		names = append(names, chk(id).String())
	}
	if !slices.IsSorted(names) {
		t.Errorf("names do not sort in ID order: %q", names)
	}
	for _, bad := range []string{
		"", "chk-", "chk-42", "chk-0000000000000000000", "chk-+000000000000000001",
		"chk-9999999999999999999", "chk-000000000000000004a", "chk-00000000000000000042",
		"ckp-0000000000000000042", "CHK-0000000000000000042", "sp-0000000000000000042/",
	} {
		if r, err := checkpoint.ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) = %v, want an error", bad, r)
		}
	}
}

// TestStateFileName: any operator ID gives a valid name, and different
// (operator, subtask) pairs give different names.
func TestStateFileName(t *testing.T) {
	long := strings.Repeat("a", 300)
	ids := []string{
		"", "a", "A", "-", ".", "..", "../../etc/passwd", "a/b", `a\b`, "a_b", "a%5Fb", "a%255Fb",
		"_metadata", ".hidden", "é", "\x00", "\n", long, long + "b", strings.Repeat("é", 300),
		strings.Repeat("é", 300) + "x", "9f86d081884c7d65",
	}
	seen := map[string]string{}
	for _, id := range ids {
		for _, st := range []int{0, 1, 10, 32767} {
			name := checkpoint.StateFileName(id, st)
			key := fmt.Sprintf("%q/%d", id, st)
			if prev, dup := seen[name]; dup {
				t.Errorf("%s and %s both give %q", prev, key, name)
			}
			seen[name] = key
			m := checkpointtest.Meta(chk(1), checkpointtest.T0)
			m.Operators = []checkpoint.Operator{{ID: "x", Parallelism: 1, Subtasks: []checkpoint.StateFile{{Name: name}}}}
			if err := m.Validate(); err != nil {
				t.Errorf("StateFileName(%s) = %q, invalid: %v", key, name, err)
			}
		}
	}
	if got := checkpoint.StateFileName("window-1", 3); got != "window-1-00003" {
		t.Errorf("a plain ID is not kept readable: %q", got)
	}
}

// FuzzDecodeMetadata feeds the decoder arbitrary bytes, both as they are
// and sealed with a correct trailer (otherwise the checksum would reject
// nearly every input before the JSON decoder saw it). Whatever decodes must
// validate and survive a round trip.
func FuzzDecodeMetadata(f *testing.F) {
	good, err := goldenMetadata().Encode()
	if err != nil {
		f.Fatal(err)
	}
	body := good[:len(good)-len("crc32c 00000000\n")]
	f.Add(good)
	f.Add(body)
	f.Add(good[:len(good)/2])
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"formatVersion":1,"kind":"checkpoint","id":1,"completedAt":"2025-01-01T00:00:00Z","maxParallelism":1,"operators":[]}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, seal(string(b))} {
			m, err := checkpoint.DecodeMetadata(in)
			if err != nil {
				continue
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded metadata does not validate: %v", err)
			}
			enc, err := m.Encode()
			if err != nil {
				t.Fatalf("decoded metadata does not encode: %v", err)
			}
			m2, err := checkpoint.DecodeMetadata(enc)
			if err != nil {
				t.Fatalf("re-encoded metadata does not decode: %v", err)
			}
			enc2, err := m2.Encode()
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding is not stable: %v\n%s\n%s", err, enc, enc2)
			}
		}
	})
}
