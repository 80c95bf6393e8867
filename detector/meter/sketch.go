package meter

import (
	"math"
	"math/bits"
)

// Sketch geometry: 2^sketchPrecision registers give a standard error of 1.04/√512 ≈ 4.6 %.
const (
	sketchPrecision = 9
	sketchRegisters = 1 << sketchPrecision
	sketchEntries   = 8 // entries kept per register
)

// sketch is a sliding-window HyperLogLog (Chabchoub and Hébrail, "Sliding HyperLogLog", 2010).
// Each register keeps a list of (second, rank) entries, oldest first with strictly decreasing
// ranks: an entry is dropped once a later value reaches its rank, because it can no longer be
// the maximum of any window that ends now. The register of a window [from, now) is the rank of
// its first entry seen at or after from.
//
// NOTE: a register keeps at most sketchEntries entries and drops the oldest when full, which
// can lower the estimate of a window that reaches back to that entry. At 4.6 % standard error
// that is not expected to matter below about 10^7 distinct values per register set.
type sketch struct {
	seconds [sketchRegisters][sketchEntries]uint32
	ranks   [sketchRegisters][sketchEntries]uint8
	lengths [sketchRegisters]uint8
}

// mix64 is the finaliser of MurmurHash3, which spreads the multiplicative hashes of ports and
// addresses over all 64 bits.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// add records a value with hash h at second now, forgetting entries older than retention.
func (s *sketch) add(h uint64, now, retention uint32) {
	h = mix64(h)
	reg := h >> (64 - sketchPrecision)
	rank := uint8(bits.LeadingZeros64(h<<sketchPrecision|1<<(sketchPrecision-1)) + 1)

	secs := &s.seconds[reg]
	ranks := &s.ranks[reg]
	n := int(s.lengths[reg])

	expired := 0
	for expired < n && secs[expired]+retention <= now {
		expired++
	}
	for n > expired && ranks[n-1] <= rank {
		n--
	}
	if n-expired == sketchEntries {
		expired++
	}
	if expired > 0 {
		copy(secs[:], secs[expired:n])
		copy(ranks[:], ranks[expired:n])
		n -= expired
	}
	secs[n] = now
	ranks[n] = rank
	s.lengths[reg] = uint8(n + 1)
}

// estimate returns the estimated number of distinct values added at or after second from.
func (s *sketch) estimate(from uint32) float64 {
	const m = float64(sketchRegisters)
	alpha := 0.7213 / (1 + 1.079/m)

	sum := 0.0
	zeros := 0
	for reg := range s.lengths {
		rank := uint8(0)
		for i := range int(s.lengths[reg]) {
			if s.seconds[reg][i] >= from {
				rank = s.ranks[reg][i]
				break
			}
		}
		if rank == 0 {
			zeros++
		}
		sum += math.Ldexp(1, -int(rank))
	}

	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return e
}
