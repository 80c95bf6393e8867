package behavior

import (
	"math"
	"net/netip"
	"slices"
)

// Beacon scoring follows the approach of RITA (Active Countermeasures' Real Intelligence Threat
// Analytics): a command-and-control implant calls home at a regular interval with requests of
// nearly the same small size, over a long time. Each pair keeps its last beaconHistory
// connections; the score combines
//   - interval regularity: 1 − |Bowley skewness| of the inter-arrival times, and
//     1 − MAD/median of the same times,
//   - longevity: the history's time span relative to 30 minutes, times its count relative to 20,
//   - size consistency: the same two measures over the bytes sent, and smallness (1 − median/64 KiB).
//
// The score is (2·timing + size)/3, from 0 to 1.
const (
	beaconHistory  = 48
	beaconMinConns = 6
	beaconSpan     = 1800 // seconds of history that count as long-lived
	beaconCount    = 20   // connections that count as many
)

type pair struct {
	peer  netip.Addr
	times [beaconHistory]uint32
	sizes [beaconHistory]uint32
	n     int // connections recorded, may exceed beaconHistory
	last  uint32

	dirty    bool
	score    float64
	interval float64
}

func (p *pair) add(sec uint32, size uint64) {
	i := p.n % beaconHistory
	p.times[i] = sec
	p.sizes[i] = uint32(min(size, math.MaxUint32))
	p.n++
	p.last = sec
	p.dirty = true
}

// conns returns the connections in the history.
func (p *pair) conns() int {
	return min(p.n, beaconHistory)
}

// scratch holds the buffers of one scoring, so that scoring allocates nothing.
type scratch struct {
	values [beaconHistory]float64
	devs   [beaconHistory]float64
}

func (p *pair) rescore(s *scratch) {
	p.dirty = false
	p.score, p.interval = 0, 0
	n := p.conns()
	if n < beaconMinConns {
		return
	}

	// The ring holds times in arrival order starting at p.n % beaconHistory once full.
	start := 0
	if p.n > beaconHistory {
		start = p.n % beaconHistory
	}
	times := s.values[:0]
	for k := 0; k < n; k++ {
		times = append(times, float64(p.times[(start+k)%beaconHistory]))
	}
	slices.Sort(times)
	span := times[n-1] - times[0]
	for k := 0; k < n-1; k++ {
		times[k] = times[k+1] - times[k]
	}
	intervals := times[:n-1]
	slices.Sort(intervals)
	skew, median, mad := robustShape(intervals, s.devs[:0])
	p.interval = median

	tsSkew := 1 - math.Abs(skew)
	tsMAD := 0.0
	if median > 0 {
		tsMAD = max(0, 1-mad/median)
	}
	longevity := min(1, span/beaconSpan) * min(1, float64(n)/beaconCount)
	timing := (tsSkew + tsMAD + longevity) / 3

	sizes := s.values[:0]
	for k := 0; k < n; k++ {
		sizes = append(sizes, float64(p.sizes[k]))
	}
	slices.Sort(sizes)
	sizeSkew, sizeMedian, sizeMAD := robustShape(sizes, s.devs[:0])
	dsMAD := 1.0
	if sizeMedian > 0 {
		dsMAD = max(0, 1-sizeMAD/sizeMedian)
	}
	small := max(0, 1-sizeMedian/65536)
	size := (1 - math.Abs(sizeSkew) + dsMAD + small) / 3

	p.score = (2*timing + size) / 3
}

// robustShape returns Bowley's quartile skewness, the median and the median absolute deviation
// of sorted values. The skewness is 0 when the quartiles coincide.
func robustShape(sorted, devs []float64) (skew, median, mad float64) {
	q1, q2, q3 := quantile(sorted, 0.25), quantile(sorted, 0.5), quantile(sorted, 0.75)
	if q3 != q1 && q2 != q1 && q2 != q3 {
		skew = (q1 + q3 - 2*q2) / (q3 - q1)
	}
	for _, v := range sorted {
		devs = append(devs, math.Abs(v-q2))
	}
	slices.Sort(devs)
	return skew, q2, quantile(devs, 0.5)
}

// quantile interpolates linearly between the closest ranks of sorted values.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	frac := pos - float64(lo)
	return sorted[lo]*(1-frac) + sorted[lo+1]*frac
}
