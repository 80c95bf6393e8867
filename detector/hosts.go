package detector

import (
	"math"
	"net/netip"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/internal/natlog"
)

// Defaults of the host settings of Config.
const (
	DefaultMaxHosts      = 10_000
	DefaultHostPointsTop = 50
)

// profileTau is the time constant, in seconds, of the host rates that profile_score compares
// with the host's baselines: an exponentially weighted moving average over about 5 minutes.
const profileTau = 300.0

// hostExpiry is how long a host without traffic keeps its baselines: past it, its history no
// longer reaches into the 7 days a baseline uses.
const hostExpiry = (baseline.HistoryDays + 1) * 86400

// internalHost returns the internal end of ev: the source of outbound and internal connections,
// the destination of inbound ones, and the zero Addr otherwise.
func internalHost(ev *natlog.ConnEvent, dir natlog.Direction) netip.Addr {
	switch dir {
	case natlog.DirectionOutbound, natlog.DirectionInternal:
		return ev.Src
	case natlog.DirectionInbound:
		return ev.Dst
	}
	return netip.Addr{}
}

// hostState is the traffic, rates and baselines of one internal host.
type hostState struct {
	addr       netip.Addr
	gateway    uint32 // gateway number of the host's latest record
	last       int64  // second of the host's latest record
	prev, next int32  // recency list; -1 ends it
	live       bool
	dirty      bool // counted in the current tick

	tick   trafficCounters
	ewma   baseline.Rates // per-second counts, averaged with time constant profileTau
	ewmaAt int64          // tick of the latest ewma update; 0 before the first
	series *baseline.Series
}

// hostTable tracks at most max internal hosts, evicting the least recently seen.
type hostTable struct {
	max        int
	index      map[netip.Addr]int32
	slots      []hostState
	free       []int32
	dirty      []int32
	head, tail int32
	evictions  uint64
	expired    uint64
}

func newHostTable(maxHosts int) hostTable {
	return hostTable{max: maxHosts, index: map[netip.Addr]int32{}, head: -1, tail: -1}
}

// touch returns the host addr, seen at second sec, and whether it is new. A new host's series
// is empty and the caller must prepare its baseline.
func (t *hostTable) touch(addr netip.Addr, sec int64) (*hostState, bool) {
	idx, found := t.index[addr]
	if found {
		t.moveToFront(idx)
		h := &t.slots[idx]
		h.last = sec
		return h, false
	}

	switch {
	case len(t.free) > 0:
		idx = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	case len(t.slots) < t.max:
		t.slots = append(t.slots, hostState{series: new(baseline.Series)})
		idx = int32(len(t.slots) - 1)
	default:
		idx = t.tail
		t.remove(idx)
		t.evictions++
		t.free = t.free[:len(t.free)-1]
	}

	h := &t.slots[idx]
	h.addr = addr
	h.live = true
	h.last = sec
	t.index[addr] = idx
	t.pushFront(idx)
	return h, true
}

func (t *hostTable) lookup(addr netip.Addr) *hostState {
	if idx, found := t.index[addr]; found {
		return &t.slots[idx]
	}
	return nil
}

// markDirty lists h for the tick's host points.
func (t *hostTable) markDirty(h *hostState) {
	if h.dirty {
		return
	}
	h.dirty = true
	t.dirty = append(t.dirty, t.index[h.addr])
}

// expire drops the hosts not seen since before, least recently seen first.
func (t *hostTable) expire(before int64) {
	for t.tail >= 0 && t.slots[t.tail].last < before {
		t.remove(t.tail)
		t.expired++
	}
}

// remove empties slot idx and puts it on the free list. The slot keeps its dirty mark, because
// it may still be listed in t.dirty.
func (t *hostTable) remove(idx int32) {
	h := &t.slots[idx]
	delete(t.index, h.addr)
	t.unlink(idx)
	series := h.series
	*series = baseline.Series{}
	*h = hostState{series: series, dirty: h.dirty, prev: -1, next: -1}
	t.free = append(t.free, idx)
}

func (t *hostTable) moveToFront(idx int32) {
	if t.head == idx {
		return
	}
	t.unlink(idx)
	t.pushFront(idx)
}

func (t *hostTable) unlink(idx int32) {
	h := &t.slots[idx]
	if h.prev >= 0 {
		t.slots[h.prev].next = h.next
	} else {
		t.head = h.next
	}
	if h.next >= 0 {
		t.slots[h.next].prev = h.prev
	} else {
		t.tail = h.prev
	}
	h.prev, h.next = -1, -1
}

func (t *hostTable) pushFront(idx int32) {
	h := &t.slots[idx]
	h.prev = -1
	h.next = t.head
	if t.head >= 0 {
		t.slots[t.head].prev = idx
	}
	t.head = idx
	if t.tail < 0 {
		t.tail = idx
	}
}

// updateRates folds the per-second counts of a tick of seconds ending at now into the moving
// average.
func (h *hostState) updateRates(c *baseline.Counts, now int64, seconds float64) {
	weight := 1 - math.Exp(-seconds/profileTau)
	keep := 0.0
	if h.ewmaAt > 0 {
		keep = math.Exp(-float64(now-h.ewmaAt) / profileTau)
	}
	r := &h.ewma
	r.Conns = r.Conns*keep + weight*float64(c.Conns)/seconds
	r.SYN = r.SYN*keep + weight*float64(c.SYN)/seconds
	r.Drops = r.Drops*keep + weight*float64(c.Drops)/seconds
	r.Bytes = r.Bytes*keep + weight*float64(c.Bytes)/seconds
	r.Packets = r.Packets*keep + weight*float64(c.Packets)/seconds
	r.OutBytes = r.OutBytes*keep + weight*float64(c.OutBytes)/seconds
	r.InBytes = r.InBytes*keep + weight*float64(c.InBytes)/seconds
	h.ewmaAt = now
}

// profile returns the host's largest z-score across its metrics at second now, its moving
// averages decayed to now against the baselines of the current slot. Metrics without a warm
// baseline are left out; the score is 0 when none is warm or no metric lies above its expected
// value.
func (h *hostState) profile(now int64) float64 {
	if h.ewmaAt == 0 {
		return 0
	}
	decay := math.Exp(-float64(max(now-h.ewmaAt, 0)) / profileTau)
	r := h.ewma
	r.Conns *= decay
	r.SYN *= decay
	r.Drops *= decay
	r.Bytes *= decay
	r.Packets *= decay
	r.OutBytes *= decay
	r.InBytes *= decay
	values := r.Values(1)

	score := 0.0
	for m := range baseline.MetricCount {
		score = max(score, h.series.Stat(m).ZScore(values[m]))
	}
	return score
}
