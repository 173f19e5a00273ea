package file

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
)

var sampleCommittable = committableV1{
	Attempt: "0123456789abcdef", Subtask: 2, Checkpoint: 7,
	Files: []pendingFile{
		{Name: "part-2-0123456789abcdef-0.jsonl", Size: 10},
		{Dir: "user=a/2025-01-01--00", Name: "part-2-0123456789abcdef-1.jsonl", Size: 3},
	},
}

func TestCommittableRoundTrip(t *testing.T) {
	for _, c := range []committableV1{sampleCommittable, {Attempt: "ffffffffffffffff"}} {
		got, err := decodeCommittable(encodeCommittable(c))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Files) == 0 {
			c.Files = nil // the codec does not tell nil from empty
		}
		if len(got.Files) == 0 {
			got.Files = nil
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip: got %+v, want %+v", got, c)
		}
	}
}

// TestCommittableLayout pins version 1's bytes: checkpoints written by this
// version must stay readable.
func TestCommittableLayout(t *testing.T) {
	c := committableV1{Attempt: "0123456789abcdef", Subtask: 1, Checkpoint: 2,
		Files: []pendingFile{{Dir: "d", Name: "part-1-0123456789abcdef-0", Size: 3}}}
	want := "57465343" + "01" + // "WFSC", version 1
		"10" + hex16("0123456789abcdef") + // Attempt
		"8000000000000001" + // Subtask
		"8000000000000002" + // Checkpoint
		"01" + // one file
		"01" + "64" + // Dir "d"
		"19" + hex16("part-1-0123456789abcdef-0") + // Name
		"8000000000000003" // Size
	b := encodeCommittable(c)
	body, _ := hex.DecodeString(want)
	sum := binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(b, append(body, sum...)) {
		t.Errorf("encoding\n got %x\nwant %s%x", b, want, sum)
	}
}

func hex16(s string) string { return hex.EncodeToString([]byte(s)) }

func TestCommittableErrors(t *testing.T) {
	withCRC := func(body []byte) []byte {
		return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	}
	good := encodeCommittable(sampleCommittable)
	body := good[:len(good)-4]
	reencode := func(f func(*committableV1)) []byte {
		c := sampleCommittable
		c.Files = append([]pendingFile(nil), c.Files...)
		f(&c)
		return encodeCommittable(c)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"nil", nil, "too short"},
		{"magic", withCRC(append([]byte("XFSC"), body[4:]...)), "does not start with"},
		{"checksum", append(append([]byte(nil), body...), 0, 0, 0, 0), "checksum"},
		{"version", withCRC(append([]byte("WFSC\x02"), body[5:]...)), "version 2 is not supported"},
		{"trailing bytes", withCRC(append(append([]byte(nil), body...), 0)), "after its contents"},
		{"truncated body", withCRC(append([]byte(nil), body[:len(body)-3]...)), "committable"},
		{"attempt", reencode(func(c *committableV1) { c.Attempt = "../../etc" }), "attempt"},
		{"negative subtask", reencode(func(c *committableV1) { c.Subtask = -1 }), "subtask -1"},
		{"escaping dir", reencode(func(c *committableV1) { c.Files[1].Dir = "../x" }), `"../x"`},
		{"hidden name", reencode(func(c *committableV1) { c.Files[0].Name = ".part-1" }), "not a part file name"},
		{"name with a slash", reencode(func(c *committableV1) { c.Files[0].Name = "part-1/../../x" }), "not a part file name"},
		{"empty file", reencode(func(c *committableV1) { c.Files[0].Size = 0 }), "size of 0"},
	} {
		_, err := decodeCommittable(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzDecodeCommittable checks that decoding never panics and that what
// decodes encodes back to the same bytes and names only safe paths.
func FuzzDecodeCommittable(f *testing.F) {
	f.Add(encodeCommittable(sampleCommittable))
	f.Add(encodeCommittable(committableV1{Attempt: "0123456789abcdef"}))
	f.Add([]byte("WFSC\x01"))
	f.Add(committableCodec.Append(nil, sampleCommittable)) // a body alone
	f.Fuzz(func(t *testing.T, b []byte) {
		// As given, and as a body with a valid header and checksum, which
		// random bytes would seldom have.
		framed := append([]byte(committableMagic+"\x01"), b...)
		framed = binary.BigEndian.AppendUint32(framed, crc32.Checksum(framed, castagnoli))
		for _, in := range [][]byte{b, framed} {
			c, err := decodeCommittable(in)
			if err != nil {
				continue
			}
			if again := encodeCommittable(c); !bytes.Equal(again, in) {
				t.Fatalf("decoded %+v, which encodes as %x, not %x", c, again, in)
			}
			for _, file := range c.Files {
				if checkDir(file.Dir) != nil || checkPartName(file.Name) != nil {
					t.Fatalf("decoded an unsafe path %+v", file)
				}
			}
		}
	})
}
