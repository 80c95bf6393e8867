package detector

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/detector/meter"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

// baselineReads are the window variables whose rules learn from or compare with baselines. A
// rule that reads one of them taints the baselines of its key while its condition holds.
var baselineReads = []string{"baseline", "profile_score", "growth"}

// readsAny reports whether the condition, value or summaries of rule mention one of names.
func readsAny(rule *rules.Rule, names ...string) bool {
	text := rule.When + "\n" + rule.Value + "\n" + rule.Summary + "\n" + rule.SummaryZH
	for _, name := range names {
		if strings.Contains(text, name) {
			return true
		}
	}
	return false
}

// emitTraffic hands one point per gateway and direction seen so far to OnTraffic, with the rates
// of the tick that ends at t, and adds the tick's counters to the gateways' baselines.
func (e *Engine) emitTraffic(t int64) {
	seconds := float64(e.tickSec)
	at := time.Unix(t, 0)
	for _, gw := range e.gateways.list {
		var total baseline.Counts
		seen := false
		for dir := range gw.traffic {
			c := &gw.traffic[dir]
			if !c.seen {
				continue
			}
			seen = true
			counts := c.counts()
			total.Add(&counts)
			series := e.gatewaySeries(gw, dir)
			series.Add(&counts)

			p := c.point(seconds)
			c.reset()
			if e.cfg.OnTraffic == nil {
				continue
			}
			p.Time = at
			p.Gateway = gw.name
			p.Direction = natlog.Direction(dir).String()
			p.Baseline = bandsOf(series)
			e.cfg.OnTraffic(p)
		}
		if seen {
			e.gatewaySeries(gw, allDirections).Add(&total)
		}
	}
}

// gatewaySeries returns the baseline of a gateway's direction, or of the whole gateway for
// allDirections, creating it on first use.
func (e *Engine) gatewaySeries(gw *gateway, dir int) *baseline.Series {
	s := gw.series[dir]
	if s == nil {
		s = new(baseline.Series)
		s.Prepare(e.slot, &e.baseCfg)
		gw.series[dir] = s
	}
	return s
}

// emitHosts adds the tick's counters of the hosts with traffic to their baselines and moving
// averages, and hands a point for each of the HostPointsTop hosts with the most bytes to OnHost.
func (e *Engine) emitHosts(t int64) {
	ht := &e.hosts
	if len(ht.dirty) == 0 {
		return
	}
	seconds := float64(e.tickSec)
	slices.SortFunc(ht.dirty, func(a, b int32) int {
		return -cmpUint64(ht.slots[a].tick.bytes, ht.slots[b].tick.bytes)
	})

	at := time.Unix(t, 0)
	emitted := 0
	for _, idx := range ht.dirty {
		h := &ht.slots[idx]
		h.dirty = false
		if !h.live {
			continue
		}
		counts := h.tick.counts()
		h.series.Add(&counts)
		h.updateRates(&counts, t, seconds)

		if e.cfg.OnHost != nil && emitted < e.cfg.HostPointsTop {
			emitted++
			p := h.tick.point(seconds)
			e.cfg.OnHost(HostPoint{
				Time:         at,
				Gateway:      e.gateways.name(h.gateway),
				Host:         h.addr.String(),
				ConnsPerS:    p.ConnsPerS,
				BytesPerS:    p.BytesPerS,
				PacketsPerS:  p.PacketsPerS,
				DropsPerS:    p.DropsPerS,
				OutInRatio:   p.OutInRatio,
				ProfileScore: h.profile(t),
				Baseline:     bandsOf(h.series),
			})
		}
		h.tick.reset()
	}
	ht.dirty = ht.dirty[:0]
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rollSlot closes the baseline slot when the tick at t starts a new one: every gateway and
// host series records its open slot, which the engine ticked for slotSeconds, and prepares the
// baseline of the new slot. Hosts without traffic for longer than the history are dropped.
func (e *Engine) rollSlot(t int64) {
	e.slotSeconds += e.tickSec
	next := baseline.SlotAt(t, e.loc)
	if next == e.slot {
		return
	}
	prev, seconds := e.slot, float64(e.slotSeconds)
	e.slot = next
	e.slotSeconds = 0

	for _, gw := range e.gateways.list {
		for _, s := range gw.series {
			if s != nil {
				s.Close(prev, seconds)
				s.Prepare(next, &e.baseCfg)
			}
		}
	}
	e.hosts.expire(t - hostExpiry)
	for idx := e.hosts.head; idx >= 0; idx = e.hosts.slots[idx].next {
		s := e.hosts.slots[idx].series
		s.Close(prev, seconds)
		s.Prepare(next, &e.baseCfg)
	}
}

// countHost adds a record to the counters and meter of its internal host.
func (e *Engine) countHost(addr netip.Addr, sec int64, gwID uint32, counts *recordCounts) {
	h, created := e.hosts.touch(addr, sec)
	if created {
		h.series.Prepare(e.slot, &e.baseCfg)
	}
	h.gateway = gwID
	h.tick.count(counts)
	e.hosts.markDirty(h)
}

// seriesOf returns the baseline of a window rule's key and, for an internal host, its state.
// Source and destination addresses have the baselines of the internal host they name, if it is
// tracked.
func (e *Engine) seriesOf(key alertKey, by rules.GroupBy) (*baseline.Series, *hostState) {
	switch by {
	case rules.GroupGateway:
		if int(key.gateway) < len(e.gateways.list) {
			return e.gateways.list[key.gateway].series[allDirections], nil
		}
	case rules.GroupGatewayDirection:
		id, dir := splitDirectionKey(key.gateway)
		if int(id) < len(e.gateways.list) && int(dir) < directionCount {
			return e.gateways.list[id].series[dir], nil
		}
	default:
		if h := e.hosts.lookup(key.addr); h != nil {
			return h.series, h
		}
	}
	return nil, nil
}

// directionKey packs a gateway number and a direction into the key of group_by
// gateway_direction.
func directionKey(gwID uint32, dir natlog.Direction) uint32 { return gwID<<3 | uint32(dir) }

func splitDirectionKey(key uint32) (gwID uint32, dir natlog.Direction) {
	return key >> 3, natlog.Direction(key & 7)
}

// fillBaselines points the window environment at the baselines, growth and profile score of
// the key, for the window rules that read them.
func (e *Engine) fillBaselines(ws *windowRules, key alertKey, by rules.GroupBy, now uint32) {
	env := &e.winEnv
	if ws.readsGrowth {
		env.Growth = &e.growth
	}
	if !ws.readsBaseline {
		return
	}
	series, host := e.seriesOf(key, by)
	if host != nil {
		env.ProfileScore = host.profile(int64(now))
	}
	if series == nil {
		return
	}

	current := [baseline.MetricCount]float64{
		baseline.ConnsPerS:   env.ConnsPerS,
		baseline.BytesPerS:   env.BytesPerS,
		baseline.PacketsPerS: env.PacketsPerS,
		baseline.DropsPerS:   env.DropsPerS,
		baseline.SYNRatio:    env.SYNRatio,
		baseline.OutInRatio:  env.OutInRatio,
	}
	for m := range baseline.MetricCount {
		stat := series.Stat(m)
		*e.baseView.Stat(int(m)) = rules.BaselineStat{
			Expected: stat.Expected,
			Spread:   stat.Spread,
			Upper:    stat.Upper,
			ZScore:   stat.ZScore(current[m]),
			Days:     stat.Days,
			Warm:     stat.Warm(),
		}
	}
	env.Baseline = &e.baseView
}

// measureGrowth sets e.growth to the change from the window before [now-window, now) to that
// window for slot idx of m. Growth stays 0 until the engine has seen both windows.
func measureGrowth[K comparable](e *Engine, m *meter.Meter[K], idx int32, now, window uint32, current meter.Totals) {
	e.growth = rules.Growth{}
	if int64(now)-2*int64(window) < e.firstData {
		return
	}
	// The previous window's distinct counts are not needed, and Window cannot give them.
	prev := m.Window(idx, now-window, window)
	e.growth = rules.Growth{
		ConnsPerS:   growth(current.Conns, prev.Conns),
		BytesPerS:   growth(current.Bytes, prev.Bytes),
		PacketsPerS: growth(current.Packets, prev.Packets),
		DropsPerS:   growth(current.Drops, prev.Drops),
	}
}

func growth(current, previous uint64) float64 {
	switch {
	case previous > 0:
		return (float64(current) - float64(previous)) / float64(previous)
	case current > 0:
		return math.Inf(1)
	}
	return 0
}

// taint excludes the open baseline slot of the key from the history, because a rule that
// reads baselines found it anomalous. A gateway taints all its series; a gateway direction
// taints its own and the gateway's.
func (e *Engine) taint(key alertKey, by rules.GroupBy) {
	switch by {
	case rules.GroupGateway:
		if int(key.gateway) < len(e.gateways.list) {
			for _, s := range e.gateways.list[key.gateway].series {
				if s != nil {
					s.Taint()
				}
			}
		}
	case rules.GroupGatewayDirection:
		id, dir := splitDirectionKey(key.gateway)
		if int(id) < len(e.gateways.list) && int(dir) < directionCount {
			for _, s := range []*baseline.Series{e.gateways.list[id].series[dir], e.gateways.list[id].series[allDirections]} {
				if s != nil {
					s.Taint()
				}
			}
		}
	default:
		if h := e.hosts.lookup(key.addr); h != nil {
			h.series.Taint()
		}
	}
}

// GatewayBaseline returns the baseline of metric m for a gateway and direction at the engine's
// current slot. An empty direction means all directions together. ok is false for a gateway or
// direction without traffic.
func (e *Engine) GatewayBaseline(gatewayName, direction string, m baseline.Metric) (stat baseline.Stat, ok bool) {
	id, found := e.gateways.byName[gatewayName]
	if !found || m >= baseline.MetricCount {
		return baseline.Stat{}, false
	}
	dir := allDirections
	if direction != "" {
		dir = -1
		for d := range directionCount {
			if natlog.Direction(d).String() == direction {
				dir = d
			}
		}
		if dir < 0 {
			return baseline.Stat{}, false
		}
	}
	s := e.gateways.list[id].series[dir]
	if s == nil {
		return baseline.Stat{}, false
	}
	return s.Stat(m), true
}

// HostBaseline returns the baseline of metric m for an internal host at the engine's current
// slot, and its profile score at the engine's clock. ok is false for a host that is not tracked.
func (e *Engine) HostBaseline(host netip.Addr, m baseline.Metric) (stat baseline.Stat, profile float64, ok bool) {
	h := e.hosts.lookup(host)
	if h == nil || m >= baseline.MetricCount {
		return baseline.Stat{}, 0, false
	}
	return h.series.Stat(m), h.profile(e.clock), true
}
