package detector

import (
	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/internal/natlog"
)

// maxGateways bounds the gateway table. Records of further gateways are counted under
// overflowGateway, so that a bad gateway field cannot grow memory without limit.
const (
	maxGateways     = 4096
	overflowGateway = "(other)"
)

// allDirections is the index of a gateway's series that sums every direction.
const allDirections = directionCount

type trafficCounters struct {
	seen              bool
	conns, syn, drops uint64
	bytes, packets    uint64
	outBytes, inBytes uint64 // bytes that left and that entered the internal side
}

type gateway struct {
	name         string
	startFormats []string // formats that logged a start record on this gateway
	traffic      [directionCount]trafficCounters

	// series are the baselines per direction and, at allDirections, of the whole gateway;
	// nil until the direction's first tick.
	series [directionCount + 1]*baseline.Series
}

// hasStarts reports whether format logged a start record on this gateway.
func (g *gateway) hasStarts(format string) bool {
	for _, f := range g.startFormats {
		if f == format {
			return true
		}
	}
	return false
}

// gatewayTable numbers gateways by name. The previous lookup is cached because consecutive
// records mostly come from the same gateway.
type gatewayTable struct {
	list   []*gateway
	byName map[string]uint32
	last   uint32
}

func (t *gatewayTable) lookup(name string) uint32 {
	if len(t.list) > 0 && t.list[t.last].name == name {
		return t.last
	}
	if id, found := t.byName[name]; found {
		t.last = id
		return id
	}
	if len(t.list) >= maxGateways {
		name = overflowGateway
		if id, found := t.byName[name]; found {
			t.last = id
			return id
		}
	}

	if t.byName == nil {
		t.byName = map[string]uint32{}
	}
	id := uint32(len(t.list))
	t.list = append(t.list, &gateway{name: name})
	t.byName[name] = id
	t.last = id
	return id
}

func (t *gatewayTable) name(id uint32) string {
	if int(id) < len(t.list) {
		return t.list[id].name
	}
	return ""
}

// directionBytes splits a record's bytes into those that left the internal side and those that
// entered it: orig/reply for outbound and other connections, reply/orig for inbound ones.
func directionBytes(ev *natlog.ConnEvent, dir natlog.Direction) (out, in uint64) {
	if ev.Counters == natlog.CountersNone {
		return 0, 0
	}
	if dir == natlog.DirectionInbound {
		return ev.ReplyBytes, ev.OrigBytes
	}
	return ev.OrigBytes, ev.ReplyBytes
}

// recordCounts are the counts one record adds to the counters, already multiplied by its
// sampling weight.
type recordCounts struct {
	conns, syn, drops uint64
	bytes, packets    uint64
	out, in           uint64 // bytes that left and that entered the internal side
}

// count adds one record to the counters.
func (c *trafficCounters) count(r *recordCounts) {
	c.seen = true
	c.conns += r.conns
	c.syn += r.syn
	c.drops += r.drops
	c.bytes += r.bytes
	c.packets += r.packets
	c.outBytes += r.out
	c.inBytes += r.in
}

// counts returns the counters as baseline sums.
func (c *trafficCounters) counts() baseline.Counts {
	return baseline.Counts{
		Conns: c.conns, SYN: c.syn, Drops: c.drops,
		Bytes: c.bytes, Packets: c.packets,
		OutBytes: c.outBytes, InBytes: c.inBytes,
	}
}

// point returns the counters of a tick of seconds as a point with its rates.
func (c *trafficCounters) point(seconds float64) TrafficPoint {
	p := TrafficPoint{
		ConnsPerS:   float64(c.conns) / seconds,
		BytesPerS:   float64(c.bytes) / seconds,
		PacketsPerS: float64(c.packets) / seconds,
		DropsPerS:   float64(c.drops) / seconds,
	}
	if c.inBytes > 0 {
		p.OutInRatio = float64(c.outBytes) / float64(c.inBytes)
	}
	return p
}

// reset clears the counters for the next tick.
func (c *trafficCounters) reset() {
	*c = trafficCounters{seen: c.seen}
}

// bandsOf returns the expected values and upper bounds of series for a point.
func bandsOf(series *baseline.Series) Bands {
	if series == nil || !series.Stat(baseline.ConnsPerS).Warm() {
		return Bands{}
	}
	b := Bands{Warm: true}
	for m, band := range [...]*Band{&b.ConnsPerS, &b.BytesPerS, &b.PacketsPerS, &b.DropsPerS} {
		stat := series.Stat(baseline.Metric(m))
		*band = Band{Expected: stat.Expected, Upper: stat.Upper}
	}
	return b
}
