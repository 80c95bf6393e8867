// Package meter keeps sliding-window traffic counters per key (a source address, a destination
// address or a gateway) in one-second buckets, with distinct counts of destination ports and
// hosts, and a bound on the number of keys with least-recently-seen eviction.
//
// A Meter is not safe for concurrent use.
package meter

import (
	"net/netip"
)

// Defaults of Config.
const (
	DefaultMaxKeys       = 1_000_000
	DefaultDistinctLimit = 4096
)

// Config sets what a Meter keeps.
type Config struct {
	MaxKeys       int    // keys tracked at most; the least recently seen key is evicted beyond it
	Retention     uint32 // seconds of history kept per key, at least the longest window asked for
	DstPorts      bool   // count distinct destination ports per key
	DstHosts      bool   // count distinct destination addresses per key
	SrcHosts      bool   // count distinct source addresses per key
	DistinctLimit int    // distinct counts are exact up to this many values per key, estimated beyond
}

func (c Config) withDefaults() Config {
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Retention == 0 {
		c.Retention = 1
	}
	if c.DistinctLimit <= 0 {
		c.DistinctLimit = DefaultDistinctLimit
	}
	return c
}

// Sample is the contribution of one record to a key.
type Sample struct {
	Second  uint32 // Unix seconds; must not be 0 and must not decrease between calls
	Gateway uint32 // the caller's gateway number, remembered as the key's last gateway

	Conns, SYN, Drops uint32
	Bytes, Packets    uint64
	OutBytes          uint64 // the part of Bytes that left the internal side

	DstPort    uint16
	HasDstPort bool
	Src, Dst   netip.Addr

	// Sampled marks a record kept by sampling, whose counts above are scaled estimates.
	Sampled bool
}

// Totals are a key's sums over a window.
type Totals struct {
	Conns, Bytes, Packets, SYN, Drops uint64
	OutBytes                          uint64 // the part of Bytes that left the internal side
	DstPorts, DstHosts, SrcHosts      int

	// Estimated is true when a sampled record falls in the window, so the counts are estimates.
	Estimated bool
}

type bucket struct {
	second            uint32
	conns, syn, drops uint32
	bytes, packets    uint64
	outBytes          uint64
}

type slot[K comparable] struct {
	key        K
	prev, next int32 // recency list; -1 ends it
	last       uint32
	gateway    uint32
	live       bool
	dirty      bool
	sampledAt  uint32 // the second of the latest sampled record; 0 for none

	buckets []bucket // seconds with traffic, oldest first; the live part starts at start
	start   int

	dstPorts distinct[port]
	dstHosts distinct[host]
	srcHosts distinct[host]
}

// Meter holds the sliding windows of every key of one kind.
type Meter[K comparable] struct {
	cfg   Config
	index map[K]int32
	slots []slot[K]
	free  []int32
	dirty []int32

	head, tail int32 // most and least recently seen slots, -1 when empty
	evictions  uint64
	expired    uint64
}

// New returns an empty Meter.
func New[K comparable](cfg Config) *Meter[K] {
	return &Meter[K]{cfg: cfg.withDefaults(), index: map[K]int32{}, head: -1, tail: -1}
}

// SetConfig changes the configuration. Enabling a distinct count starts it empty; lowering
// MaxKeys evicts the least recently seen keys at once.
func (m *Meter[K]) SetConfig(cfg Config) {
	m.cfg = cfg.withDefaults()
	for len(m.index) > m.cfg.MaxKeys {
		m.evict(m.tail)
		m.evictions++
	}
}

// Config returns the configuration in use, defaults filled in.
func (m *Meter[K]) Config() Config { return m.cfg }

// Add counts a sample for key and marks the key changed. It allocates only for a new key, a
// bucket list that must grow, or a distinct table that must grow.
func (m *Meter[K]) Add(key K, s *Sample) int32 {
	idx, found := m.index[key]
	if found {
		m.touch(idx)
	} else {
		idx = m.insert(key)
	}

	sl := &m.slots[idx]
	sl.last = s.Second
	sl.gateway = s.Gateway
	if s.Sampled {
		sl.sampledAt = s.Second
	}
	sl.addBucket(s, m.cfg.Retention)

	if m.cfg.DstPorts && s.HasDstPort {
		sl.dstPorts.observe(port(s.DstPort), s.Second, m.cfg.Retention, m.cfg.DistinctLimit)
	}
	if m.cfg.DstHosts && s.Dst.IsValid() {
		sl.dstHosts.observe(hostOf(s.Dst), s.Second, m.cfg.Retention, m.cfg.DistinctLimit)
	}
	if m.cfg.SrcHosts && s.Src.IsValid() {
		sl.srcHosts.observe(hostOf(s.Src), s.Second, m.cfg.Retention, m.cfg.DistinctLimit)
	}

	if !sl.dirty {
		sl.dirty = true
		m.dirty = append(m.dirty, idx)
	}
	return idx
}

func (sl *slot[K]) addBucket(s *Sample, retention uint32) {
	n := len(sl.buckets)
	if n > sl.start && sl.buckets[n-1].second == s.Second {
		b := &sl.buckets[n-1]
		b.conns = addSaturating(b.conns, s.Conns)
		b.syn = addSaturating(b.syn, s.SYN)
		b.drops = addSaturating(b.drops, s.Drops)
		b.bytes += s.Bytes
		b.packets += s.Packets
		b.outBytes += s.OutBytes
		return
	}

	for sl.start < n && sl.buckets[sl.start].second+retention <= s.Second {
		sl.start++
	}
	if sl.start == n {
		sl.buckets = sl.buckets[:0]
		sl.start = 0
	} else if n == cap(sl.buckets) && sl.start > 0 {
		kept := copy(sl.buckets, sl.buckets[sl.start:])
		sl.buckets = sl.buckets[:kept]
		sl.start = 0
	}
	sl.buckets = append(sl.buckets, bucket{
		second:   s.Second,
		conns:    s.Conns,
		syn:      s.SYN,
		drops:    s.Drops,
		bytes:    s.Bytes,
		packets:  s.Packets,
		outBytes: s.OutBytes,
	})
}

func addSaturating(a, b uint32) uint32 {
	if sum := a + b; sum >= a {
		return sum
	}
	return ^uint32(0)
}

// Window returns the totals of slot idx over the seconds [now-window, now). Distinct counts keep
// only the last second each value was seen, so now must be later than every sample added.
func (m *Meter[K]) Window(idx int32, now, window uint32) Totals {
	sl := &m.slots[idx]
	var from uint32
	if now > window {
		from = now - window
	}

	var t Totals
	for i := len(sl.buckets) - 1; i >= sl.start; i-- {
		b := &sl.buckets[i]
		if b.second < from {
			break
		}
		if b.second >= now {
			continue
		}
		t.Conns += uint64(b.conns)
		t.SYN += uint64(b.syn)
		t.Drops += uint64(b.drops)
		t.Bytes += b.bytes
		t.Packets += b.packets
		t.OutBytes += b.outBytes
	}
	// Every sample is earlier than now, as Window requires, so any sampled record lies in [from, now)
	// exactly when the latest one does.
	t.Estimated = sl.sampledAt != 0 && sl.sampledAt >= from
	if m.cfg.DstPorts {
		t.DstPorts = sl.dstPorts.count(from)
	}
	if m.cfg.DstHosts {
		t.DstHosts = sl.dstHosts.count(from)
	}
	if m.cfg.SrcHosts {
		t.SrcHosts = sl.srcHosts.count(from)
	}
	return t
}

// Lookup returns the slot of key.
func (m *Meter[K]) Lookup(key K) (int32, bool) {
	idx, found := m.index[key]
	return idx, found
}

// Key returns the key of slot idx.
func (m *Meter[K]) Key(idx int32) K { return m.slots[idx].key }

// Gateway returns the gateway number of the last sample of slot idx.
func (m *Meter[K]) Gateway(idx int32) uint32 { return m.slots[idx].gateway }

// LastSeen returns the second of the last sample of slot idx.
func (m *Meter[K]) LastSeen(idx int32) uint32 { return m.slots[idx].last }

// TakeDirty appends the slots changed since the previous call to dst, clears their marks and
// returns dst.
func (m *Meter[K]) TakeDirty(dst []int32) []int32 {
	for _, idx := range m.dirty {
		sl := &m.slots[idx]
		sl.dirty = false
		if sl.live {
			dst = append(dst, idx)
		}
	}
	m.dirty = m.dirty[:0]
	return dst
}

// Expire drops the keys not seen within the retention before now and returns how many it
// dropped. Keys leave in least-recently-seen order, so the cost is proportional to the number
// dropped.
func (m *Meter[K]) Expire(now uint32) int {
	dropped := 0
	for m.tail >= 0 {
		sl := &m.slots[m.tail]
		if sl.last+m.cfg.Retention > now {
			break
		}
		m.evict(m.tail)
		dropped++
	}
	m.expired += uint64(dropped)
	return dropped
}

// Len returns the number of keys tracked.
func (m *Meter[K]) Len() int { return len(m.index) }

// Evictions returns how many keys were evicted to stay within MaxKeys.
func (m *Meter[K]) Evictions() uint64 { return m.evictions }

// Expired returns how many keys were dropped after their retention passed.
func (m *Meter[K]) Expired() uint64 { return m.expired }

func (m *Meter[K]) insert(key K) int32 {
	var idx int32
	switch {
	case len(m.free) > 0:
		idx = m.free[len(m.free)-1]
		m.free = m.free[:len(m.free)-1]
	case len(m.slots) < m.cfg.MaxKeys:
		m.slots = append(m.slots, slot[K]{})
		idx = int32(len(m.slots) - 1)
	default:
		idx = m.tail
		m.evict(idx)
		m.evictions++
		m.free = m.free[:len(m.free)-1]
	}

	sl := &m.slots[idx]
	sl.key = key
	sl.live = true
	m.index[key] = idx
	m.pushFront(idx)
	return idx
}

// evict removes the key of slot idx and puts the slot on the free list. The slot keeps its dirty
// mark, because it may still be listed in m.dirty.
func (m *Meter[K]) evict(idx int32) {
	sl := &m.slots[idx]
	delete(m.index, sl.key)
	m.unlink(idx)

	var zero K
	sl.key = zero
	sl.live = false
	sl.last = 0
	sl.gateway = 0
	sl.sampledAt = 0
	if cap(sl.buckets) > 64 {
		sl.buckets = nil
	} else {
		sl.buckets = sl.buckets[:0]
	}
	sl.start = 0
	sl.dstPorts.reset()
	sl.dstHosts.reset()
	sl.srcHosts.reset()
	m.free = append(m.free, idx)
}

func (m *Meter[K]) touch(idx int32) {
	if m.head == idx {
		return
	}
	m.unlink(idx)
	m.pushFront(idx)
}

func (m *Meter[K]) unlink(idx int32) {
	sl := &m.slots[idx]
	if sl.prev >= 0 {
		m.slots[sl.prev].next = sl.next
	} else {
		m.head = sl.next
	}
	if sl.next >= 0 {
		m.slots[sl.next].prev = sl.prev
	} else {
		m.tail = sl.prev
	}
	sl.prev, sl.next = -1, -1
}

func (m *Meter[K]) pushFront(idx int32) {
	sl := &m.slots[idx]
	sl.prev = -1
	sl.next = m.head
	if m.head >= 0 {
		m.slots[m.head].prev = idx
	}
	m.head = idx
	if m.tail < 0 {
		m.tail = idx
	}
}
