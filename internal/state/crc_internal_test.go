package state

import (
	"hash/crc32"
	"testing"
)

// TestCRCCombine checks crcCombine against the checksum of the
// concatenation, for lengths around the powers of two the method splits
// lengths into.
func TestCRCCombine(t *testing.T) {
	data := make([]byte, 70000)
	x := uint32(7)
	for i := range data {
		x = x*1664525 + 1013904223
		data[i] = byte(x >> 24)
	}
	for _, c := range []struct{ a, b int }{
		{0, 0}, {0, 1}, {1, 0}, {1, 1}, {3, 5}, {16, 17}, {100, 255}, {4096, 4096},
		{1, 65536}, {7, 65537}, {12345, 54321},
	} {
		a, b := data[:c.a], data[c.a:c.a+c.b]
		want := crc32.Checksum(data[:c.a+c.b], castagnoli)
		got := crcCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != want {
			t.Errorf("crcCombine of %d and %d bytes = %08x, want %08x", c.a, c.b, got, want)
		}
	}
}
