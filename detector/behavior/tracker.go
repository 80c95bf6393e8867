// Package behavior keeps the special detectors whose results window rules read as variables.
// They cover C2 beaconing per (internal host, external peer) pair, routing loops, the share of
// connections that never completed, horizontal scans (one port, many hosts), slow scans (many
// ports over 30 minutes) and threat-intel matches. The package also fills the local clock and
// work calendar of both rule environments.
//
// A Tracker implements detector.Extension. Its memory is bounded: at most MaxAddresses addresses
// and MaxPairs beacon pairs, with the least recently seen evicted beyond that.
package behavior

import (
	"net/netip"
	"slices"
	"time"

	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

// Defaults and fixed horizons.
const (
	DefaultMaxAddresses = 200_000
	DefaultMaxPairs     = 100_000

	maxPairsPerSource = 64
	maxScanPorts      = 8    // ports tracked per source for horizontal scans
	maxHostsPerPort   = 1024 // hosts counted per source and port; dst_hosts_on_port saturates here
	maxSlowPorts      = 1024 // ports counted per source; dst_ports_30m saturates here
	slowHorizon       = 1800 // seconds behind dst_ports_30m
	handshakeMinutes  = 15   // minutes of handshake counts kept, the longest rule window
	loopWindow        = 10   // seconds within which a repeated packet counts as looping
	maxLoopEntries    = 1 << 16
	maxGateways       = 4096
)

// Config sets up a Tracker.
type Config struct {
	Calendar     Calendar
	MaxAddresses int
	MaxPairs     int
}

// Stats are a Tracker's counters.
type Stats struct {
	Addresses, Pairs   int
	AddressEvictions   uint64
	PairsNotTracked    uint64 // new pairs skipped because MaxPairs was reached
	LoopHits, Repeats  uint64
	EventsSkipped      uint64 // events of globally excepted addresses
	ScoresComputed     uint64
	LoopTableOverflows uint64
}

// features records which detectors the current rules read.
type features struct {
	beacon, loop, repeats, handshake, horizontal, slow, threat bool
}

// Tracker is the behavior state of one engine. It is not safe for concurrent use; the engine
// calls it under its own lock.
type Tracker struct {
	cfg      Config
	on       features
	except   *rules.PrefixSet
	intel    rules.IntelLookup
	addrs    map[netip.Addr]*addrState
	pairs    int
	gateways map[string]*gatewayCounter
	loops    map[loopKey]loopEntry
	tuples   map[tupleKey]uint32
	scratch  scratch
	stats    Stats

	clockSec           int64
	clockHour, clockWd int
	clockWork          bool
}

type addrState struct {
	last uint32

	pairs []*pair // external peers, for beacon scores

	loops, repeats counter60

	threats    counter60
	threatPeer netip.Addr
	threatFeed string

	asSrc, asDst *handshake

	scanPorts []scanPort
	slowPorts map[uint16]uint32 // port → last second seen
}

type scanPort struct {
	port  uint16
	last  uint32
	hosts map[netip.Addr]uint32 // host → last second seen
}

// counter60 counts events over the last 60 seconds in six 10-second buckets.
type counter60 struct {
	slots  [6]uint32
	counts [6]uint32
}

func (c *counter60) add(sec uint32) {
	slot := sec / 10
	i := slot % 6
	if c.slots[i] != slot {
		c.slots[i], c.counts[i] = slot, 0
	}
	c.counts[i]++
}

func (c *counter60) sum(now uint32) int {
	n := 0
	current := now / 10
	for i, slot := range c.slots {
		if slot+6 > current && slot <= current {
			n += int(c.counts[i])
		}
	}
	return n
}

// handshake counts connections and the failed ones per minute.
type handshake struct {
	minutes [handshakeMinutes]uint32
	conns   [handshakeMinutes]uint32
	failed  [handshakeMinutes]uint32
}

func (h *handshake) add(sec uint32, failed bool) {
	minute := sec / 60
	i := minute % handshakeMinutes
	if h.minutes[i] != minute {
		h.minutes[i], h.conns[i], h.failed[i] = minute, 0, 0
	}
	h.conns[i]++
	if failed {
		h.failed[i]++
	}
}

// over sums the minutes that overlap the last window seconds before now.
func (h *handshake) over(now uint32, window int) (conns, failed int) {
	if h == nil {
		return 0, 0
	}
	first := (now - min(now, uint32(window))) / 60
	last := now / 60
	for i, minute := range h.minutes {
		if minute >= first && minute <= last && h.conns[i] > 0 {
			conns += int(h.conns[i])
			failed += int(h.failed[i])
		}
	}
	return conns, failed
}

type loopKey struct {
	src, dst netip.Addr
	ipid     uint32
	proto    natlog.Proto
}

type loopEntry struct {
	ttl uint8
	sec uint32
}

type tupleKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            natlog.Proto
	kind             natlog.Kind
}

// New returns a Tracker.
func New(cfg Config) *Tracker {
	if cfg.MaxAddresses <= 0 {
		cfg.MaxAddresses = DefaultMaxAddresses
	}
	if cfg.MaxPairs <= 0 {
		cfg.MaxPairs = DefaultMaxPairs
	}
	return &Tracker{
		cfg:      cfg,
		addrs:    map[netip.Addr]*addrState{},
		gateways: map[string]*gatewayCounter{},
		loops:    map[loopKey]loopEntry{},
		tuples:   map[tupleKey]uint32{},
		clockSec: -1,
	}
}

// SetRules turns on the detectors whose variables the rules read and takes the rules' global
// except lists, whose addresses the detectors skip. Detectors that no rule reads any more keep
// their state until it ages out.
func (t *Tracker) SetRules(set *rules.Set) {
	t.on = features{
		beacon:     set.Reads("beacon_score") || set.Reads("beacon_conns") || set.Reads("beacon_interval") || set.Reads("beacon_peer"),
		loop:       set.Reads("loop_hits"),
		repeats:    set.Reads("tuple_repeats"),
		handshake:  set.Reads("failed_share") || set.Reads("failed_conns"),
		horizontal: set.Reads("dst_hosts_on_port") || set.Reads("scan_port"),
		slow:       set.Reads("dst_ports_30m"),
		threat:     set.Reads("threat_conns") || set.Reads("threat_peer") || set.Reads("threat_feed"),
	}
	t.except = set.GlobalExcept()
	t.intel = set.Options().Intel
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Addresses = len(t.addrs)
	s.Pairs = t.pairs
	return s
}

// Observe updates the detectors with one event.
func (t *Tracker) Observe(ev *natlog.ConnEvent) {
	on := t.on
	if !on.beacon && !on.loop && !on.repeats && !on.handshake && !on.horizontal && !on.slow && !on.threat {
		return
	}
	if !t.except.Empty() && (t.except.Contains(ev.Src) || t.except.Contains(ev.Dst)) {
		t.stats.EventsSkipped++
		return
	}
	unix := ev.Time.Unix()
	if unix <= 0 || unix > int64(^uint32(0)) || !ev.Src.IsValid() {
		return
	}
	sec := uint32(unix)
	isConn := ev.Kind != natlog.KindInterim && ev.Kind != natlog.KindEnd

	if on.loop && ev.HasIPID && ev.TTL > 0 && ev.Dst.IsValid() {
		t.observeLoop(ev, sec)
	}
	if on.repeats && ev.Dst.IsValid() {
		t.observeRepeat(ev, sec)
	}
	if on.threat && t.intel != nil {
		t.observeThreat(ev, sec)
	}
	if !isConn {
		return
	}

	// The source's state is looked up once: map lookups keyed by address dominate this method.
	var src *addrState
	if on.handshake {
		failed := connectionFailed(ev)
		src = t.addr(ev.Src, sec)
		src.handshakeAs(true).add(sec, failed)
		if ev.Dst.IsValid() {
			evictions := t.stats.AddressEvictions
			t.addr(ev.Dst, sec).handshakeAs(false).add(sec, failed)
			if t.stats.AddressEvictions != evictions {
				src = nil // the source may have been evicted to make room for the destination
			}
		}
	}
	if on.beacon && ev.Direction == natlog.DirectionOutbound && ev.Dst.IsValid() {
		t.observeBeacon(ev, sec)
	}
	if (on.horizontal || on.slow) && ev.DstPort != 0 && ev.Dst.IsValid() {
		if src == nil {
			src = t.addr(ev.Src, sec)
		}
		if on.horizontal {
			src.addScanHost(ev.DstPort, ev.Dst, sec)
		}
		if on.slow {
			src.addSlowPort(ev.DstPort, sec)
		}
	}
}

// connectionFailed reports whether a connection never completed: a SYN without a reply, no
// reply at all, a reject, or a reset before any data came back.
func connectionFailed(ev *natlog.ConnEvent) bool {
	switch {
	case ev.SYNOnly(), ev.State == natlog.StateSYNOnly, ev.State == natlog.StateUnreplied:
		return true
	case ev.Action == natlog.ActionReject:
		return true
	case ev.State == natlog.StateReset && ev.ReplyBytes == 0:
		return true
	}
	return false
}

func (a *addrState) handshakeAs(src bool) *handshake {
	if src {
		if a.asSrc == nil {
			a.asSrc = &handshake{}
		}
		return a.asSrc
	}
	if a.asDst == nil {
		a.asDst = &handshake{}
	}
	return a.asDst
}

func (t *Tracker) observeLoop(ev *natlog.ConnEvent, sec uint32) {
	key := loopKey{src: ev.Src, dst: ev.Dst, ipid: ev.IPID, proto: ev.Proto}
	prev, seen := t.loops[key]
	if seen && sec-prev.sec <= loopWindow && ev.TTL < prev.ttl {
		t.stats.LoopHits++
		t.addr(ev.Src, sec).loops.add(sec)
		t.addr(ev.Dst, sec).loops.add(sec)
		t.gateway(ev.Gateway).loops.add(sec)
	}
	if !seen && len(t.loops) >= maxLoopEntries {
		t.sweepLoops(sec)
	}
	t.loops[key] = loopEntry{ttl: ev.TTL, sec: sec}
}

// observeThreat counts a record from or to a threat-intel address on its source address, with
// two binary searches and no allocation, so that threat rules need not run on every record.
func (t *Tracker) observeThreat(ev *natlog.ConnEvent, sec uint32) {
	peer := ev.Dst
	feed, found := t.intel.Lookup(peer)
	if !found {
		peer = ev.Src
		if feed, found = t.intel.Lookup(peer); !found {
			return
		}
	}
	s := t.addr(ev.Src, sec)
	s.threats.add(sec)
	s.threatPeer, s.threatFeed = peer, feed
}

func (t *Tracker) observeRepeat(ev *natlog.ConnEvent, sec uint32) {
	key := tupleKey{src: ev.Src, dst: ev.Dst, srcPort: ev.SrcPort, dstPort: ev.DstPort, proto: ev.Proto, kind: ev.Kind}
	last, seen := t.tuples[key]
	if seen && sec-last <= 1 {
		t.stats.Repeats++
		t.addr(ev.Src, sec).repeats.add(sec)
		t.addr(ev.Dst, sec).repeats.add(sec)
		t.gateway(ev.Gateway).repeats.add(sec)
	}
	if !seen && len(t.tuples) >= maxLoopEntries {
		t.sweepTuples(sec)
	}
	t.tuples[key] = sec
}

// sweepLoops drops entries older than the loop window, or all of them when every entry is
// recent, which only a flood of distinct packets causes.
func (t *Tracker) sweepLoops(sec uint32) {
	for k, e := range t.loops {
		if sec-e.sec > loopWindow {
			delete(t.loops, k)
		}
	}
	if len(t.loops) >= maxLoopEntries {
		clear(t.loops)
		t.stats.LoopTableOverflows++
	}
}

func (t *Tracker) sweepTuples(sec uint32) {
	for k, last := range t.tuples {
		if sec-last > 1 {
			delete(t.tuples, k)
		}
	}
	if len(t.tuples) >= maxLoopEntries {
		clear(t.tuples)
		t.stats.LoopTableOverflows++
	}
}

// gatewayCounter holds a gateway's loop and repeat counters.
type gatewayCounter struct {
	loops, repeats counter60
}

func (t *Tracker) gateway(name string) *gatewayCounter {
	g := t.gateways[name]
	if g == nil {
		if len(t.gateways) >= maxGateways {
			name = "(other)"
			if g = t.gateways[name]; g != nil {
				return g
			}
		}
		g = &gatewayCounter{}
		t.gateways[name] = g
	}
	return g
}

func (t *Tracker) observeBeacon(ev *natlog.ConnEvent, sec uint32) {
	src := t.addr(ev.Src, sec)
	var p *pair
	for _, candidate := range src.pairs {
		if candidate.peer == ev.Dst {
			p = candidate
			break
		}
	}
	if p == nil {
		if len(src.pairs) >= maxPairsPerSource || t.pairs >= t.cfg.MaxPairs {
			if len(src.pairs) == 0 {
				t.stats.PairsNotTracked++
				return
			}
			// Reuse the source's least recently seen pair.
			oldest := 0
			for i, candidate := range src.pairs {
				if candidate.last < src.pairs[oldest].last {
					oldest = i
				}
			}
			p = src.pairs[oldest]
			*p = pair{}
		} else {
			p = &pair{}
			src.pairs = append(src.pairs, p)
			t.pairs++
		}
		p.peer = ev.Dst
	}
	size := ev.OrigBytes
	if ev.Counters == natlog.CountersNone {
		size = 0
	}
	p.add(sec, size)
}

func (a *addrState) addScanHost(port uint16, host netip.Addr, sec uint32) {
	var sp *scanPort
	for i := range a.scanPorts {
		if a.scanPorts[i].port == port {
			sp = &a.scanPorts[i]
			break
		}
	}
	if sp == nil {
		if len(a.scanPorts) < maxScanPorts {
			a.scanPorts = append(a.scanPorts, scanPort{port: port, hosts: map[netip.Addr]uint32{}})
			sp = &a.scanPorts[len(a.scanPorts)-1]
		} else {
			oldest := 0
			for i := range a.scanPorts {
				if a.scanPorts[i].last < a.scanPorts[oldest].last {
					oldest = i
				}
			}
			sp = &a.scanPorts[oldest]
			sp.port = port
			clear(sp.hosts)
		}
	}
	sp.last = sec
	if _, seen := sp.hosts[host]; seen || len(sp.hosts) < maxHostsPerPort {
		sp.hosts[host] = sec
		return
	}
	// Full: replace hosts that fell out of the longest window.
	for h, last := range sp.hosts {
		if sec-last > uint32(rules.MaxWindow/time.Second) {
			delete(sp.hosts, h)
		}
	}
	if len(sp.hosts) < maxHostsPerPort {
		sp.hosts[host] = sec
	}
}

func (a *addrState) addSlowPort(port uint16, sec uint32) {
	if a.slowPorts == nil {
		a.slowPorts = map[uint16]uint32{}
	}
	if _, seen := a.slowPorts[port]; !seen && len(a.slowPorts) >= maxSlowPorts {
		for p, last := range a.slowPorts {
			if sec-last > slowHorizon {
				delete(a.slowPorts, p)
			}
		}
		if len(a.slowPorts) >= maxSlowPorts {
			return
		}
	}
	a.slowPorts[port] = sec
}

// addr returns the state of an address, creating it and evicting the least recently seen
// quarter of all addresses when the table is full.
func (t *Tracker) addr(a netip.Addr, sec uint32) *addrState {
	s := t.addrs[a]
	if s == nil {
		if len(t.addrs) >= t.cfg.MaxAddresses {
			t.evict()
		}
		s = &addrState{}
		t.addrs[a] = s
	}
	s.last = sec
	return s
}

func (t *Tracker) evict() {
	lasts := make([]uint32, 0, len(t.addrs))
	for _, s := range t.addrs {
		lasts = append(lasts, s.last)
	}
	slices.Sort(lasts)
	cutoff := lasts[len(lasts)/4]
	for a, s := range t.addrs {
		if s.last <= cutoff {
			t.pairs -= len(s.pairs)
			delete(t.addrs, a)
			t.stats.AddressEvictions++
		}
	}
}

// FillRecord sets the clock fields of a record environment.
func (t *Tracker) FillRecord(env *rules.RecordEnv, ev *natlog.ConnEvent) {
	env.Hour, env.Weekday, env.WorkTime = t.clock(ev.Time.Unix())
}

// FillWindow sets the clock fields and the behavior variables of a window environment.
func (t *Tracker) FillWindow(env *rules.WindowEnv, by rules.GroupBy, key netip.Addr, now time.Time) {
	unix := now.Unix()
	env.Hour, env.Weekday, env.WorkTime = t.clock(unix)
	sec := uint32(unix)

	if by == rules.GroupGateway {
		if g := t.gateways[env.Gateway]; g != nil {
			env.LoopHits = g.loops.sum(sec)
			env.TupleRepeats = g.repeats.sum(sec)
		}
		return
	}
	s := t.addrs[key]
	if s == nil {
		return
	}
	env.LoopHits = s.loops.sum(sec)
	env.TupleRepeats = s.repeats.sum(sec)

	if n := s.threats.sum(sec); n > 0 {
		env.ThreatConns, env.ThreatPeer, env.ThreatFeed = n, s.threatPeer, s.threatFeed
	}

	h := s.asDst
	if by == rules.GroupSrcIP {
		h = s.asSrc
	}
	conns, failed := h.over(sec, env.WindowSeconds)
	env.FailedConns = failed
	if conns > 0 {
		env.FailedShare = float64(failed) / float64(conns)
	}
	if by != rules.GroupSrcIP {
		return
	}

	t.fillBeacon(env, s)
	t.fillScans(env, s, sec)
}

func (t *Tracker) fillBeacon(env *rules.WindowEnv, s *addrState) {
	var best *pair
	for _, p := range s.pairs {
		if p.dirty {
			p.rescore(&t.scratch)
			t.stats.ScoresComputed++
		}
		if best == nil || p.score > best.score {
			best = p
		}
	}
	if best == nil || best.score == 0 {
		return
	}
	env.BeaconScore = best.score
	env.BeaconConns = best.conns()
	env.BeaconInterval = best.interval
	env.BeaconPeer = best.peer
}

func (t *Tracker) fillScans(env *rules.WindowEnv, s *addrState, sec uint32) {
	since := sec - min(sec, uint32(env.WindowSeconds))
	for i := range s.scanPorts {
		sp := &s.scanPorts[i]
		if sp.last < since {
			continue
		}
		n := 0
		for _, last := range sp.hosts {
			if last >= since {
				n++
			}
		}
		if n > env.DstHostsOnPort {
			env.DstHostsOnPort = n
			env.ScanPort = int(sp.port)
		}
	}

	slowSince := sec - min(sec, slowHorizon)
	for _, last := range s.slowPorts {
		if last >= slowSince {
			env.DstPorts30m++
		}
	}
}

// clock returns the local hour, weekday and work time of a Unix second, cached per second.
func (t *Tracker) clock(unix int64) (int, int, bool) {
	if unix != t.clockSec {
		t.clockSec = unix
		t.clockHour, t.clockWd, t.clockWork = t.cfg.Calendar.At(time.Unix(unix, 0))
	}
	return t.clockHour, t.clockWd, t.clockWork
}
