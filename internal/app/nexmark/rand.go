package nexmark

import "math/bits"

// rng is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
// number generators", 2014 — the algorithm behind Java's SplittableRandom,
// which the nexmark/nexmark generator uses). It is a value of one word, so
// one per event costs no allocation, and any (seed, event number) pair
// starts a stream of its own.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15 // 2^64 / φ, SplitMix64's increment

// mix64 is SplitMix64's finalizer (a variant of MurmurHash3's fmix64).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// seedKey turns a user seed into the key every event's generator is
// derived from.
func seedKey(seed int64) uint64 { return mix64(uint64(seed) + golden) }

// eventRNG returns the generator of event n under key.
func eventRNG(key uint64, n int64) rng {
	return rng{s: mix64(key ^ uint64(n)*golden)}
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// intn returns a uniform number in [0, n) for n > 0, without bias
// (Lemire, "Fast random integer generation in an interval", 2019).
func (r *rng) intn(n int64) int64 {
	un := uint64(n)
	hi, lo := bits.Mul64(r.next(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), un)
		}
	}
	return int64(hi)
}

// float64 returns a uniform number in [0, 1).
func (r *rng) float64() float64 {
	return float64(r.next()>>11) * (1.0 / (1 << 53))
}
