package replayfilter

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Bloom is a bloom filter over 64-bit hashes: Has never answers false
// for a hash that was added (no false negatives) and answers true for a
// hash that was not with about the false-positive rate it was sized for,
// as long as no more hashes than its capacity were added. Its only
// memory is one []uint64 of bits (pointer-free, so the garbage collector
// does not walk it). Add and Has are safe for concurrent use (atomic
// word operations, no lock).
type Bloom struct {
	words []uint64
	m     uint64 // bits
	k     uint64 // probes per hash
}

// NewBloom returns an empty filter for capacity hashes at false-positive
// rate fp (0 < fp < 1); capacity below 1 counts as 1.
func NewBloom(capacity int, fp float64) *Bloom {
	m := bloomBits(capacity, fp)
	k := uint64(math.Round(float64(m) / float64(max(capacity, 1)) * math.Ln2))
	return &Bloom{words: make([]uint64, m/64), m: m, k: min(max(k, 1), 30)}
}

// BloomBytes is the memory of a filter NewBloom(capacity, fp) returns.
func BloomBytes(capacity int, fp float64) int64 { return int64(bloomBits(capacity, fp) / 8) }

// bloomBits is the size in bits (a multiple of 64) of a filter for
// capacity hashes at false-positive rate fp.
func bloomBits(capacity int, fp float64) uint64 {
	n := float64(max(capacity, 1))
	m := uint64(math.Ceil(-n * math.Log(fp) / (math.Ln2 * math.Ln2)))
	return max((m+63)/64*64, 64)
}

// probe returns the i-th bit position of h (double hashing: h and a mix of
// h, each reduced to [0, m) by a multiply-shift).
func (b *Bloom) probe(h uint64, i uint64) uint64 {
	h2 := mix(h) | 1
	hi, _ := bits.Mul64(h+i*h2, b.m)
	return hi
}

// mix is splitmix64's finalizer: a second hash drawn from the first.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Add adds hash h.
func (b *Bloom) Add(h uint64) {
	for i := range b.k {
		p := b.probe(h, i)
		w := &b.words[p/64]
		bit := uint64(1) << (p % 64)
		if atomic.LoadUint64(w)&bit == 0 {
			atomic.OrUint64(w, bit)
		}
	}
}

// Has reports whether h may have been added: always true for an added
// hash, true for another one with about the configured rate.
func (b *Bloom) Has(h uint64) bool {
	for i := range b.k {
		p := b.probe(h, i)
		if atomic.LoadUint64(&b.words[p/64])&(uint64(1)<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

// Bytes is the filter's memory.
func (b *Bloom) Bytes() int64 { return int64(len(b.words)) * 8 }

// Estimate returns the number of distinct hashes added, estimated from
// the share of bits set (Swamidass and Baldi); the rate a filter answers
// true for a hash never added grows with it, so a filter whose estimate
// passed its capacity has lost its configured rate.
func (b *Bloom) Estimate() int {
	var set uint64
	for i := range b.words {
		set += uint64(bits.OnesCount64(atomic.LoadUint64(&b.words[i])))
	}
	if set >= b.m {
		return math.MaxInt
	}
	return int(-float64(b.m) / float64(b.k) * math.Log(1-float64(set)/float64(b.m)))
}
