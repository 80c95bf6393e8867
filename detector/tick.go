package detector

import (
	"net/netip"
	"time"

	"github.com/natwatch/natwatch/detector/meter"
	"github.com/natwatch/natwatch/detector/rules"
)

// tick closes the tick that ends at t. It emits the traffic and host points and adds them to the
// baselines, and moves the baselines to the slot of t when t starts a new one. Then it evaluates
// the window rules at boundary t on the seconds [t-window, t) and drops expired keys and alert
// state.
func (e *Engine) tick(t int64) {
	e.stats.Ticks++
	now := uint32(t)

	e.emitTraffic(t)
	e.emitHosts(t)
	e.rollSlot(t)

	if g := e.groups[rules.GroupSrcIP]; g != nil && e.src != nil {
		e.dirty = e.src.TakeDirty(e.dirty[:0])
		evaluateGroup(e, e.src, g, e.dirty, now, rules.GroupSrcIP)
	}
	if g := e.groups[rules.GroupDstIP]; g != nil && e.dst != nil {
		e.dirty = e.dst.TakeDirty(e.dirty[:0])
		evaluateGroup(e, e.dst, g, e.dirty, now, rules.GroupDstIP)
	}
	if g := e.groups[rules.GroupGateway]; g != nil && e.gw != nil {
		e.dirty = e.gw.TakeDirty(e.dirty[:0])
		evaluateGroup(e, e.gw, g, e.dirty, now, rules.GroupGateway)
	}
	if g := e.groups[rules.GroupGatewayDirection]; g != nil && e.gwDir != nil {
		e.dirty = e.gwDir.TakeDirty(e.dirty[:0])
		evaluateGroup(e, e.gwDir, g, e.dirty, now, rules.GroupGatewayDirection)
	}
	if g := e.groups[rules.GroupHost]; g != nil && e.host != nil {
		e.dirty = e.host.TakeDirty(e.dirty[:0])
		evaluateGroup(e, e.host, g, e.dirty, now, rules.GroupHost)
	}

	if e.src != nil {
		e.src.Expire(now)
	}
	if e.dst != nil {
		e.dst.Expire(now)
	}
	if e.gw != nil {
		e.gw.Expire(now)
	}
	if e.gwDir != nil {
		e.gwDir.Expire(now)
	}
	if e.host != nil {
		e.host.Expire(now)
	}
	if e.stats.Ticks%pruneEvery == 0 {
		for _, rs := range e.states {
			rs.prune(t)
		}
	}
}

// toAlertKey and toMeterKey convert between the key of a meter and an alert key.
func toAlertKey[K comparable](k K) alertKey {
	switch v := any(k).(type) {
	case netip.Addr:
		return alertKey{addr: v}
	case uint32:
		return alertKey{gateway: v}
	}
	return alertKey{}
}

func toMeterKey[K comparable](a alertKey) K {
	var k K
	switch p := any(&k).(type) {
	case *netip.Addr:
		*p = a.addr
	case *uint32:
		*p = a.gateway
	}
	return k
}

// evaluateGroup evaluates the window rules of one group key on the keys that changed since the
// previous tick, then on the firing keys that did not change, so that they can resolve.
//
// NOTE: a key with no new records is evaluated only while firing. A condition that becomes true
// only because counts fall, such as `conns < 5`, is not noticed on an idle key.
func evaluateGroup[K comparable](e *Engine, m *meter.Meter[K], g *windowGroup, dirty []int32, now uint32, by rules.GroupBy) {
	for _, idx := range dirty {
		key := toAlertKey(m.Key(idx))
		for _, ws := range g.windows {
			totals := m.Window(idx, now, ws.seconds)
			if ws.readsGrowth {
				measureGrowth(e, m, idx, now, ws.seconds, totals)
			}
			e.evaluateWindow(ws, totals, key, m.Gateway(idx), now, by)
		}
	}

	for _, ws := range g.windows {
		for _, rs := range ws.rules {
			if rs.firing == 0 && rs.pending == 0 {
				continue
			}
			for key, a := range rs.alerts {
				if (!a.firing && !a.pending) || a.evaluated == int64(now) {
					continue
				}
				var totals meter.Totals
				gateway := uint32(0)
				e.growth = rules.Growth{}
				if idx, found := m.Lookup(toMeterKey[K](key)); found {
					totals = m.Window(idx, now, ws.seconds)
					gateway = m.Gateway(idx)
					if ws.readsGrowth {
						measureGrowth(e, m, idx, now, ws.seconds, totals)
					}
				}
				e.evaluateOne(rs, ws, totals, key, gateway, now, by)
			}
		}
	}
}

// evaluateWindow evaluates the rules of one window on one key. The environment is filled once,
// and boxed for expr only when a rule's condition or value cannot be evaluated directly.
func (e *Engine) evaluateWindow(ws *windowRules, totals meter.Totals, key alertKey, gateway, now uint32, by rules.GroupBy) {
	filled := false
	var boxed any
	for _, rs := range ws.rules {
		if by != rules.GroupGateway && rs.rule.HasExcept() && rs.rule.Excepted(key.addr) {
			continue
		}
		if !filled {
			e.fillWindowEnv(ws, totals, key, gateway, now, by)
			filled = true
		}
		e.judge(rs, &boxed, key, gateway, now, by)
	}
}

// evaluateOne evaluates one rule on one key, for a firing key that did not change.
func (e *Engine) evaluateOne(rs *ruleState, ws *windowRules, totals meter.Totals, key alertKey, gateway, now uint32, by rules.GroupBy) {
	e.fillWindowEnv(ws, totals, key, gateway, now, by)
	var boxed any
	e.judge(rs, &boxed, key, gateway, now, by)
}

func (e *Engine) fillWindowEnv(ws *windowRules, totals meter.Totals, key alertKey, gateway, now uint32, by rules.GroupBy) {
	env := &e.winEnv
	env.Fill(rules.WindowCounts{
		Conns:     totals.Conns,
		Bytes:     totals.Bytes,
		Packets:   totals.Packets,
		SYN:       totals.SYN,
		Drops:     totals.Drops,
		OutBytes:  totals.OutBytes,
		DstPorts:  totals.DstPorts,
		DstHosts:  totals.DstHosts,
		SrcHosts:  totals.SrcHosts,
		Estimated: totals.Estimated,
	}, time.Duration(ws.seconds)*time.Second, time.Unix(int64(now), 0))
	env.KeyIP = key.addr
	env.Gateway = e.gateways.name(gateway)
	env.Key = ""
	if ws.readsKey {
		env.Key = e.keyText(key, by)
	}
	if e.cfg.Extension != nil {
		e.cfg.Extension.FillWindow(env, by, key.addr, time.Unix(int64(now), 0))
	}
	if ws.readsBaseline || ws.readsGrowth {
		e.fillBaselines(ws, key, by, now)
	}
}

// judge evaluates one rule's condition on e.winEnv and turns the result into a firing or
// resolved event. *boxed is the environment boxed for expr, set on first need.
func (e *Engine) judge(rs *ruleState, boxed *any, key alertKey, gateway, now uint32, by rules.GroupBy) {
	e.stats.WindowEvals++
	matched, direct := rs.rule.MatchWindow(&e.winEnv)
	if !direct {
		if *boxed == nil {
			*boxed = e.winEnv
		}
		var err error
		matched, err = rs.rule.Match(&e.machine, *boxed)
		if err != nil {
			e.stats.EvalErrors++
			rs.logError(int64(now), e.keyText(key, by), err)
			return
		}
	}

	if matched && rs.taints {
		e.taint(key, by)
	}

	state := ""
	switch {
	case matched:
		held, full := rs.hold(key, int64(now), e.cfg.MaxSources)
		if !held {
			if full {
				e.stats.Suppressed++
			}
			break
		}
		fire, full := rs.allow(key, int64(now), e.cfg.MaxSources)
		if full {
			e.stats.Suppressed++
		}
		if fire {
			state = StateFiring
		}
	default:
		rs.clearPending(key)
		if rs.firing > 0 && rs.resolve(key, int64(now)) && rs.rule.Resolve {
			state = StateResolved
		}
	}
	if state == "" {
		return
	}

	value, direct := rs.rule.MeasureWindow(&e.winEnv)
	if !direct {
		if *boxed == nil {
			*boxed = e.winEnv
		}
		var err error
		value, err = rs.rule.Measure(&e.machine, *boxed)
		if err != nil {
			e.stats.EvalErrors++
			rs.logError(int64(now), e.keyText(key, by), err)
		}
	}
	keyText := e.keyText(key, by)
	gatewayName := e.gateways.name(gateway)
	var src, dst string
	switch by {
	case rules.GroupSrcIP:
		src = keyText
	case rules.GroupDstIP:
		dst = keyText
	}
	data := rules.SummaryData(rs.rule, gatewayName, keyText, value, src, dst)
	rules.AddWindowData(data, &e.winEnv)
	e.emit(rs, state, time.Unix(int64(now), 0), gatewayName, keyText, value, data)
}

func (e *Engine) keyText(key alertKey, by rules.GroupBy) string {
	switch by {
	case rules.GroupGateway:
		return e.gateways.name(key.gateway)
	case rules.GroupGatewayDirection:
		id, dir := splitDirectionKey(key.gateway)
		return e.gateways.name(id) + "/" + dir.String()
	}
	return addrText(key.addr)
}
