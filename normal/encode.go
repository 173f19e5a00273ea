package normal

import (
	"encoding/binary"
	"fmt"
	"math"
)

// encodingVersion is the first byte of an encoded state; a model refuses a
// state of another version.
const encodingVersion = 3

// stateSize is the length of an encoded state: the version byte, 4 uint64
// or float64 scalars, 3 small integers, 22 more float64 scalars, the
// float32 arrays (recent surprises, the recent and long-run histograms of
// the residuals, the time-of-day profile and scale, the
// hour-of-week profile) and the visit counts of their slots (a byte each).
const stateSize = 1 + 4*8 + 2 + 1 + 1 + 4 + 22*8 + 4*(shortWindow+2*shapeBins+maxDaySlots+scaleSlots+weekSlots) + maxDaySlots + scaleSlots + weekSlots

// StateSize is the size in bytes of the model's encoded state
// (MarshalBinary): the same for every model and every series.
func (m *Model) StateSize() int { return stateSize }

// MarshalBinary encodes what the model has learned (not its Config) in
// StateSize bytes. A model decoding it with UnmarshalBinary, under the same
// Config, scores every later value exactly as this one would.
func (m *Model) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, stateSize))
}

// AppendBinary appends the encoding of MarshalBinary to b.
func (m *Model) AppendBinary(b []byte) ([]byte, error) {
	s := &m.st
	le := binary.LittleEndian
	f64 := func(x float64) { b = le.AppendUint64(b, math.Float64bits(x)) }
	f32s := func(xs []float32) {
		for _, x := range xs {
			b = le.AppendUint32(b, math.Float32bits(x))
		}
	}
	b = append(b, encodingVersion)
	b = le.AppendUint64(b, s.n)
	f64(s.lastT)
	f64(s.first)
	f64(s.dt)
	b = le.AppendUint16(b, s.slots)
	b = append(b, s.cand, s.ri)
	b = le.AppendUint32(b, s.hold)
	f64(s.slow)
	for k := range nCand {
		f64(s.fast[k])
	}
	for k := range nCand {
		f64(s.err[k])
	}
	for k := range nCand {
		f64(s.errL[k])
	}
	for _, x := range []float64{s.lo, s.hi, s.zmax, s.mu, s.vr, s.daySum, s.weekSum, s.klMu, s.klVr, s.bias, s.bMu, s.bVr} {
		f64(x)
	}
	f32s(s.recent[:])
	f32s(s.shortH[:])
	f32s(s.longH[:])
	f32s(s.dayP[:])
	f32s(s.dayS[:])
	f32s(s.weekP[:])
	b = append(b, s.dayN[:]...)
	b = append(b, s.scaleN[:]...)
	b = append(b, s.weekN[:]...)
	return b, nil
}

// UnmarshalBinary replaces what the model has learned with a state encoded
// by MarshalBinary. On error the model is unchanged.
func (m *Model) UnmarshalBinary(data []byte) error {
	if len(data) != stateSize {
		return fmt.Errorf("normal: encoded state is %d bytes, want %d", len(data), stateSize)
	}
	if data[0] != encodingVersion {
		return fmt.Errorf("normal: encoded state has version %d at offset 0, want %d", data[0], encodingVersion)
	}
	var s state
	le := binary.LittleEndian
	off := 1
	u64 := func() uint64 { x := le.Uint64(data[off:]); off += 8; return x }
	f64 := func() float64 { return math.Float64frombits(u64()) }
	f32s := func(xs []float32) {
		for i := range xs {
			xs[i] = math.Float32frombits(le.Uint32(data[off:]))
			off += 4
		}
	}
	s.n = u64()
	s.lastT = f64()
	s.first = f64()
	s.dt = f64()
	s.slots = le.Uint16(data[off:])
	s.cand, s.ri = data[off+2], data[off+3]
	if !validSlots(s.slots) {
		return fmt.Errorf("normal: encoded state has %d time-of-day slots at offset %d, want 0 or a divisor of %d from %d", s.slots, off, maxDaySlots, minDaySlots)
	}
	if s.cand >= nCand || s.ri >= shortWindow {
		return fmt.Errorf("normal: encoded state has candidate %d and window position %d at offset %d, want below %d and %d", s.cand, s.ri, off+2, nCand, shortWindow)
	}
	off += 4
	s.hold = le.Uint32(data[off:])
	off += 4
	s.slow = f64()
	for k := range nCand {
		s.fast[k] = f64()
	}
	for k := range nCand {
		s.err[k] = f64()
	}
	for k := range nCand {
		s.errL[k] = f64()
	}
	for _, p := range []*float64{&s.lo, &s.hi, &s.zmax, &s.mu, &s.vr, &s.daySum, &s.weekSum, &s.klMu, &s.klVr, &s.bias, &s.bMu, &s.bVr} {
		*p = f64()
	}
	f32s(s.recent[:])
	f32s(s.shortH[:])
	f32s(s.longH[:])
	f32s(s.dayP[:])
	f32s(s.dayS[:])
	f32s(s.weekP[:])
	off += copy(s.dayN[:], data[off:])
	off += copy(s.scaleN[:], data[off:])
	copy(s.weekN[:], data[off:])
	m.st = s
	return nil
}

func validSlots(n uint16) bool {
	if n == 0 {
		return true
	}
	return n >= minDaySlots && n <= maxDaySlots && maxDaySlots%n == 0
}
