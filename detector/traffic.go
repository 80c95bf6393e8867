package detector

import (
	"github.com/natwatch/natwatch/internal/natlog"
)

// maxGateways bounds the gateway table. Records of further gateways are counted under
// overflowGateway, so that a bad gateway field cannot grow memory without limit.
const (
	maxGateways     = 4096
	overflowGateway = "(other)"
)

type trafficCounters struct {
	seen                  bool
	conns, drops          uint64
	bytes, packets        uint64
	origBytes, replyBytes uint64
}

type gateway struct {
	name         string
	startFormats []string // formats that logged a start record on this gateway
	traffic      [directionCount]trafficCounters
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

// count adds one record to its gateway's traffic counters.
func (c *trafficCounters) count(ev *natlog.ConnEvent, isConn, isDrop bool, bytes, packets uint64) {
	c.seen = true
	if isConn {
		c.conns++
	}
	if isDrop {
		c.drops++
	}
	c.bytes += bytes
	c.packets += packets
	if ev.Counters != natlog.CountersNone {
		c.origBytes += ev.OrigBytes
		c.replyBytes += ev.ReplyBytes
	}
}

// point turns the counters of one tick into rates and clears them.
func (c *trafficCounters) point(dir natlog.Direction, seconds float64) TrafficPoint {
	p := TrafficPoint{
		Direction:   dir.String(),
		ConnsPerS:   float64(c.conns) / seconds,
		BytesPerS:   float64(c.bytes) / seconds,
		PacketsPerS: float64(c.packets) / seconds,
		DropsPerS:   float64(c.drops) / seconds,
	}
	out, in := c.origBytes, c.replyBytes
	if dir == natlog.DirectionInbound {
		out, in = in, out
	}
	if in > 0 {
		p.OutInRatio = float64(out) / float64(in)
	}
	*c = trafficCounters{seen: true}
	return p
}
