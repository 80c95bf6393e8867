// Package detector turns connection events into anomalies and traffic points: it feeds the
// sliding-window meters, evaluates record rules on each event through an index and window rules
// on each tick, and keeps each rule's alert state.
package detector

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/detector/meter"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/detector/sampling"
	"github.com/natwatch/natwatch/internal/natlog"
)

// Defaults of Config.
const (
	DefaultTickInterval = time.Second
	DefaultMaxSources   = meter.DefaultMaxKeys
)

// pruneEvery is the number of ticks between sweeps of expired alert state.
const pruneEvery = 60

// Config sets up an Engine.
type Config struct {
	Rules        *rules.Set    // compiled rules; nil or empty is allowed
	TickInterval time.Duration // whole seconds; window rules run and traffic points are made once per tick
	MaxSources   int           // addresses tracked per group key (src_ip, dst_ip) at most
	Language     string        // "en" (default) or "zh": which summary an anomaly carries
	OnAnomaly    func(Anomaly)
	OnTraffic    func(TrafficPoint)
	Extension    Extension // optional: clock, work calendar and behavior variables for rules

	// Sampler keeps a share of the connections of high-volume record classes; nil keeps every
	// record. Kept records count Weight times in the meters, traffic points and baselines.
	Sampler *sampling.Sampler

	// Location is the time zone of the baselines' 15-minute slots; nil means UTC.
	Location *time.Location
	// Baseline sets how baselines are computed; the zero value is the median and MAD with k = 3.
	Baseline baseline.Config
	// MaxHosts bounds the internal hosts tracked for baselines, profiles, host points and
	// group_by host; the least recently seen is evicted. 0 means DefaultMaxHosts.
	MaxHosts int
	// HostPointsTop is how many host points a tick makes at most, for the hosts with the most
	// bytes in the tick. 0 means DefaultHostPointsTop; a negative value makes none.
	HostPointsTop int
	OnHost        func(HostPoint)
}

// EngineStats are the engine's counters since New.
type EngineStats struct {
	Events      uint64 `json:"events"`       // records observed
	LateEvents  uint64 `json:"late_events"`  // records older than the engine clock, counted into its current second
	LateDropped uint64 `json:"late_dropped"` // records more than the longest window late, left out of the meters
	InvalidTime uint64 `json:"invalid_time"` // records whose time is zero or outside 1970–2106, ignored

	SampledOut        uint64            `json:"sampled_out"`                    // records dropped by sampling
	SampledOutByClass map[string]uint64 `json:"sampled_out_by_class,omitempty"` // SampledOut per sampling class; nil without sampling

	Sources      int    `json:"sources"`      // source addresses tracked
	Destinations int    `json:"destinations"` // destination addresses tracked
	Gateways     int    `json:"gateways"`
	Evictions    uint64 `json:"evictions"`     // addresses evicted to stay within MaxSources, and hosts within MaxHosts
	Hosts        int    `json:"hosts"`         // internal hosts tracked
	HostsExpired uint64 `json:"hosts_expired"` // internal hosts dropped after a week without traffic

	AnomaliesFired    uint64 `json:"anomalies_fired"`    // anomalies in state firing
	AnomaliesResolved uint64 `json:"anomalies_resolved"` // anomalies in state resolved
	Suppressed        uint64 `json:"suppressed"`         // firing events dropped because a rule tracked MaxSources keys already
	RecordEvals       uint64 `json:"record_evals"`       // condition evaluations of record rules
	WindowEvals       uint64 `json:"window_evals"`       // condition evaluations of window rules
	EvalErrors        uint64 `json:"eval_errors"`        // failed evaluations of conditions, values and summaries
	Ticks             uint64 `json:"ticks"`
}

// Engine runs rules over connection events. It is driven by event time: Observe moves the clock
// forward to each event's time and runs every tick whose boundary the clock passes, so replaying
// old logs gives the same anomalies as live input. An Engine is not safe for concurrent use.
type Engine struct {
	cfg      Config
	tickSec  int64
	chinese  bool
	rules    *rules.Set
	states   map[string]*ruleState
	index    *recordIndex
	groups   map[rules.GroupBy]*windowGroup
	gateways gatewayTable

	src   *meter.Meter[netip.Addr]
	dst   *meter.Meter[netip.Addr]
	gw    *meter.Meter[uint32]
	gwDir *meter.Meter[uint32]     // keyed by directionKey
	host  *meter.Meter[netip.Addr] // keyed by internal host

	loc         *time.Location
	baseCfg     baseline.Config
	hosts       hostTable
	slot        baseline.Slot // the baseline slot of the latest tick
	slotSeconds int64         // seconds ticked in slot so far
	firstData   int64         // the second of the first record, for growth
	baseView    rules.Baselines
	growth      rules.Growth

	started      bool
	clock        int64 // Unix seconds of the latest event or Advance
	nextTick     int64 // the next tick boundary, a multiple of tickSec
	lastData     int64 // the second of the latest record counted into the meters
	maxWindowSec int64
	lateLimit    int64

	machine vm.VM
	recEnv  rules.RecordEnv
	winEnv  rules.WindowEnv
	sample  meter.Sample
	dirty   []int32
	stats   EngineStats

	pastEvictions uint64 // evictions of meters that a SetRules dropped
}

// windowGroup contains the window rules of one group key, grouped by window length, so that the
// aggregates of a key are computed once per window and shared by its rules.
type windowGroup struct {
	windows []*windowRules
}

type windowRules struct {
	seconds       uint32
	readsKey      bool
	readsBaseline bool // a rule reads baseline or profile_score
	readsGrowth   bool
	rules         []*ruleState
}

// New returns an Engine with cfg's rules.
func New(cfg Config) (*Engine, error) {
	if cfg.TickInterval == 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.TickInterval < time.Second || cfg.TickInterval%time.Second != 0 {
		return nil, fmt.Errorf("detector: tick interval %s is not a whole number of seconds", cfg.TickInterval)
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.MaxSources < 0 {
		return nil, fmt.Errorf("detector: max sources %d is negative", cfg.MaxSources)
	}
	if cfg.MaxHosts == 0 {
		cfg.MaxHosts = DefaultMaxHosts
	}
	if cfg.MaxHosts < 0 {
		return nil, fmt.Errorf("detector: max hosts %d is negative", cfg.MaxHosts)
	}
	if cfg.HostPointsTop == 0 {
		cfg.HostPointsTop = DefaultHostPointsTop
	}
	if err := cfg.Baseline.Validate(); err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	switch cfg.Language {
	case "", "en":
	case "zh":
	default:
		return nil, fmt.Errorf("detector: language %q is not supported (expected en or zh)", cfg.Language)
	}

	e := &Engine{
		cfg:     cfg,
		tickSec: int64(cfg.TickInterval / time.Second),
		chinese: cfg.Language == "zh",
		states:  map[string]*ruleState{},
		loc:     cfg.Location,
		baseCfg: cfg.Baseline.WithDefaults(),
		hosts:   newHostTable(cfg.MaxHosts),
	}
	e.SetRules(cfg.Rules)
	return e, nil
}

// SetRules replaces the rules. A rule whose name and fingerprint are unchanged keeps its alert
// state (firing keys and cooldowns); the state of other rules starts empty. Meters of a group
// key that no window rule uses any more are dropped.
func (e *Engine) SetRules(set *rules.Set) {
	states := map[string]*ruleState{}
	for _, rule := range set.Rules() {
		old := e.states[rule.Name]
		if old != nil && old.rule.Fingerprint() == rule.Fingerprint() {
			old.rule = rule
			states[rule.Name] = old
			continue
		}
		states[rule.Name] = newRuleState(rule)
	}
	if e.cfg.Extension != nil {
		e.cfg.Extension.SetRules(set)
	}
	e.rules = set
	e.states = states
	e.index = newRecordIndex(set, states)
	e.buildGroups(set)
	e.configureMeters(set)
}

func (e *Engine) buildGroups(set *rules.Set) {
	e.groups = map[rules.GroupBy]*windowGroup{}
	e.maxWindowSec = 0
	for _, rule := range set.Rules() {
		if rule.Kind != rules.KindWindow {
			continue
		}
		seconds := max(int64(rule.Window/time.Second), e.tickSec)
		e.maxWindowSec = max(e.maxWindowSec, seconds)

		g := e.groups[rule.GroupBy]
		if g == nil {
			g = &windowGroup{}
			e.groups[rule.GroupBy] = g
		}
		var ws *windowRules
		for _, w := range g.windows {
			if int64(w.seconds) == seconds {
				ws = w
			}
		}
		if ws == nil {
			ws = &windowRules{seconds: uint32(seconds)}
			g.windows = append(g.windows, ws)
		}
		rs := e.states[rule.Name]
		rs.taints = readsAny(rule, baselineReads...)
		ws.rules = append(ws.rules, rs)
		ws.readsKey = ws.readsKey || rule.Reads("key")
		ws.readsBaseline = ws.readsBaseline || readsAny(rule, "baseline", "profile_score")
		ws.readsGrowth = ws.readsGrowth || readsAny(rule, "growth")
	}
	e.lateLimit = max(e.maxWindowSec, e.tickSec)
}

// configureMeters creates the meters the window rules need, with the distinct counts their
// conditions, values or summaries mention.
func (e *Engine) configureMeters(set *rules.Set) {
	configs := map[rules.GroupBy]*meter.Config{}
	for _, rule := range set.Rules() {
		if rule.Kind != rules.KindWindow {
			continue
		}
		cfg := configs[rule.GroupBy]
		if cfg == nil {
			cfg = &meter.Config{
				MaxKeys:   e.cfg.MaxSources,
				Retention: uint32(e.maxWindowSec + e.tickSec),
			}
			if rule.GroupBy == rules.GroupHost {
				cfg.MaxKeys = e.cfg.MaxHosts
			}
			configs[rule.GroupBy] = cfg
		}
		text := rule.When + "\n" + rule.Value + "\n" + rule.Summary + "\n" + rule.SummaryZH
		if readsAny(rule, "growth") {
			// growth compares the window with the one before it.
			cfg.Retention = max(cfg.Retention, uint32(2*max(int64(rule.Window/time.Second), e.tickSec)+e.tickSec))
		}
		cfg.DstPorts = cfg.DstPorts || strings.Contains(text, "dst_ports")
		cfg.DstHosts = cfg.DstHosts || strings.Contains(text, "dst_hosts")
		cfg.SrcHosts = cfg.SrcHosts || strings.Contains(text, "src_hosts")
	}

	if e.src != nil && configs[rules.GroupSrcIP] == nil {
		e.pastEvictions += e.src.Evictions()
	}
	if e.dst != nil && configs[rules.GroupDstIP] == nil {
		e.pastEvictions += e.dst.Evictions()
	}
	e.src = configureMeter(e.src, configs[rules.GroupSrcIP])
	e.dst = configureMeter(e.dst, configs[rules.GroupDstIP])
	if e.host != nil && configs[rules.GroupHost] == nil {
		e.pastEvictions += e.host.Evictions()
	}
	e.gw = configureMeter(e.gw, configs[rules.GroupGateway])
	e.gwDir = configureMeter(e.gwDir, configs[rules.GroupGatewayDirection])
	e.host = configureMeter(e.host, configs[rules.GroupHost])
}

func configureMeter[K comparable](m *meter.Meter[K], cfg *meter.Config) *meter.Meter[K] {
	if cfg == nil {
		return nil
	}
	if m == nil {
		return meter.New[K](*cfg)
	}
	m.SetConfig(*cfg)
	return m
}

// Observe counts one event into the meters, evaluates the record rules it can match, and runs
// the ticks that the event's time passes. Events older than the clock count into the clock's
// current second, unless they are more than the longest window late. With a Sampler, Observe
// sets ev.Weight, and an event that sampling drops still moves the clock but is not counted.
func (e *Engine) Observe(ev *natlog.ConnEvent) {
	e.stats.Events++

	sec, ok := e.eventSecond(ev)
	if !ok {
		return
	}
	meters := true
	switch {
	case sec > e.clock:
		e.runTicks(sec)
		e.clock = sec
	case sec < e.clock && e.clock-sec > e.lateLimit:
		e.stats.LateDropped++
		meters = false
	case sec < e.clock:
		e.stats.LateEvents++
		sec = e.clock
	}

	if e.cfg.Sampler != nil {
		weight, keep := e.cfg.Sampler.Decide(ev)
		if !keep {
			e.stats.SampledOut++
			return
		}
		ev.Weight = weight
	}
	if meters {
		e.count(ev, sec)
	}
	if e.cfg.Extension != nil {
		e.cfg.Extension.Observe(ev)
	}
	e.matchRecordRules(ev)
}

// eventSecond returns the Unix second of ev, or the clock for an event without a time.
func (e *Engine) eventSecond(ev *natlog.ConnEvent) (int64, bool) {
	if ev.Time.IsZero() {
		if !e.started {
			e.stats.InvalidTime++
			return 0, false
		}
		return e.clock, true
	}
	sec := ev.Time.Unix()
	if sec <= 0 || sec > math.MaxUint32 {
		e.stats.InvalidTime++
		return 0, false
	}
	if !e.started {
		e.start(sec)
	}
	return sec, true
}

func (e *Engine) start(sec int64) {
	e.started = true
	e.clock = sec
	e.lastData = sec
	e.firstData = sec
	e.slot = baseline.SlotAt(sec, e.loc)
	e.nextTick = sec - sec%e.tickSec + e.tickSec
}

// Advance runs the ticks up to now, for an idle timer or the end of a replay. It does nothing
// before the first event or when now is not later than the clock.
func (e *Engine) Advance(now time.Time) {
	if !e.started {
		return
	}
	sec := now.Unix()
	if sec <= e.clock {
		return
	}
	e.runTicks(sec)
	e.clock = sec
}

// runTicks runs every tick with a boundary at or before upTo. After the meters have been idle
// for longer than the longest window, it jumps to the last boundary instead of running one tick
// per interval across the gap, so those ticks make no traffic points.
func (e *Engine) runTicks(upTo int64) {
	for e.nextTick <= upTo {
		idleUntil := e.lastData + e.maxWindowSec + 2*e.tickSec
		if e.nextTick > idleUntil {
			e.nextTick = max(e.nextTick, upTo-upTo%e.tickSec)
		}
		e.tick(e.nextTick)
		e.nextTick += e.tickSec
	}
}

// count adds ev to the traffic counters and meters at second sec.
func (e *Engine) count(ev *natlog.ConnEvent, sec int64) {
	gwID := e.gateways.lookup(ev.Gateway)
	gw := e.gateways.list[gwID]
	isConn := countsAsConnection(ev, gw)
	isDrop := isConn && (ev.Action == natlog.ActionDrop || ev.Action == natlog.ActionReject)

	dir := ev.Direction
	if int(dir) >= directionCount {
		dir = natlog.DirectionUnknown
	}
	isSYN := isConn && ev.SYNOnly()
	counts := weighedCounts(ev, dir, isConn, isSYN, isDrop)
	gw.traffic[dir].count(&counts)
	e.lastData = sec

	hostAddr := internalHost(ev, dir)
	if hostAddr.IsValid() {
		e.countHost(hostAddr, sec, gwID, &counts)
	}

	if e.src == nil && e.dst == nil && e.gw == nil && e.gwDir == nil && e.host == nil {
		return
	}
	s := &e.sample
	*s = meter.Sample{
		Second:     uint32(sec),
		Gateway:    gwID,
		Conns:      uint32(counts.conns),
		SYN:        uint32(counts.syn),
		Drops:      uint32(counts.drops),
		Bytes:      counts.bytes,
		Packets:    counts.packets,
		OutBytes:   counts.out,
		DstPort:    ev.DstPort,
		HasDstPort: ev.DstPort != 0,
		Src:        ev.Src,
		Dst:        ev.Dst,
		Sampled:    ev.Weight > 1,
	}

	if e.src != nil && ev.Src.IsValid() {
		e.src.Add(ev.Src, s)
	}
	if e.dst != nil && ev.Dst.IsValid() {
		e.dst.Add(ev.Dst, s)
	}
	if e.gw != nil {
		e.gw.Add(gwID, s)
	}
	if e.gwDir != nil {
		e.gwDir.Add(directionKey(gwID, dir), s)
	}
	if e.host != nil && hostAddr.IsValid() {
		e.host.Add(hostAddr, s)
	}
}

// weighedCounts returns what ev adds to the counters: one connection, SYN or drop as flagged,
// and the record's bytes and packets, each multiplied by the record's sampling weight.
func weighedCounts(ev *natlog.ConnEvent, dir natlog.Direction, isConn, isSYN, isDrop bool) recordCounts {
	weight := uint64(max(ev.Weight, 1))
	var c recordCounts
	if isConn {
		c.conns = weight
	}
	if isSYN {
		c.syn = weight
	}
	if isDrop {
		c.drops = weight
	}
	if ev.Counters != natlog.CountersNone {
		c.bytes = ev.Bytes() * weight
		c.packets = ev.Packets() * weight
	}
	out, in := directionBytes(ev, dir)
	c.out, c.in = out*weight, in*weight
	return c
}

// countsAsConnection reports whether ev stands for a new connection. Start, packet and
// unknown-kind records do, and interim records never do. An end record does unless its gateway
// has logged a start record in the same format, because that start counted the connection.
func countsAsConnection(ev *natlog.ConnEvent, gw *gateway) bool {
	switch ev.Kind {
	case natlog.KindStart:
		if !gw.hasStarts(ev.Format) {
			gw.startFormats = append(gw.startFormats, ev.Format)
		}
		return true
	case natlog.KindEnd:
		return !gw.hasStarts(ev.Format)
	case natlog.KindInterim:
		return false
	}
	return true
}

// matchRecordRules evaluates the record rules that the index admits for ev. The environment is
// filled and boxed once per event, and only when some rule passes its pins.
func (e *Engine) matchRecordRules(ev *natlog.ConnEvent) {
	anyPort, byPort := e.index.lookup(ev)
	if len(anyPort) == 0 && len(byPort) == 0 {
		return
	}
	var boxed any
	for _, candidates := range [2][]*recordRule{anyPort, byPort} {
		for _, rr := range candidates {
			if !rr.admits(ev) {
				continue
			}
			if boxed == nil {
				e.recEnv.Fill(ev)
				if e.cfg.Extension != nil {
					e.cfg.Extension.FillRecord(&e.recEnv, ev)
				}
				boxed = e.recEnv
			}
			e.evaluateRecordRule(rr.state, ev, boxed)
		}
	}
}

func (e *Engine) evaluateRecordRule(rs *ruleState, ev *natlog.ConnEvent, boxed any) {
	e.stats.RecordEvals++
	matched, err := rs.rule.Match(&e.machine, boxed)
	if err != nil {
		e.stats.EvalErrors++
		rs.logError(e.clock, ev.Src.String(), err)
		return
	}
	if !matched {
		return
	}

	var key alertKey
	switch rs.rule.GroupBy {
	case rules.GroupDstIP:
		key.addr = ev.Dst
	case rules.GroupGateway:
		key.gateway = e.gateways.lookup(ev.Gateway)
	case rules.GroupGatewayDirection:
		key.gateway = directionKey(e.gateways.lookup(ev.Gateway), ev.Direction)
	case rules.GroupHost:
		key.addr = internalHost(ev, ev.Direction)
	default:
		key.addr = ev.Src
	}
	fire, full := rs.allow(key, e.clock, e.cfg.MaxSources)
	if full {
		e.stats.Suppressed++
	}
	if !fire {
		return
	}

	value, err := rs.rule.Measure(&e.machine, boxed)
	if err != nil {
		e.stats.EvalErrors++
		rs.logError(e.clock, ev.Src.String(), err)
	}
	keyText := e.keyText(key, rs.rule.GroupBy)
	data := rules.SummaryData(rs.rule, ev.Gateway, keyText, value, addrText(ev.Src), addrText(ev.Dst))
	rules.AddRecordData(data, &e.recEnv)
	e.emit(rs, StateFiring, ev.Time, ev.Gateway, keyText, value, data)
}

// emit renders the summary and hands the anomaly to OnAnomaly.
func (e *Engine) emit(rs *ruleState, state string, at time.Time, gateway, key string, value float64, data map[string]any) {
	if state == StateFiring {
		e.stats.AnomaliesFired++
	} else {
		e.stats.AnomaliesResolved++
	}
	summary, err := rs.rule.RenderSummary(data, e.chinese)
	if err != nil {
		e.stats.EvalErrors++
		rs.logError(e.clock, key, fmt.Errorf("summary: %w", err))
	}
	src, _ := data["src"].(string)
	dst, _ := data["dst"].(string)

	if e.cfg.OnAnomaly == nil {
		return
	}
	e.cfg.OnAnomaly(Anomaly{
		Time:      at,
		Gateway:   gateway,
		Rule:      rs.rule.Name,
		Level:     rs.rule.Level,
		Severity:  rs.rule.Severity,
		State:     state,
		Key:       key,
		Value:     value,
		Threshold: rs.rule.Threshold,
		Summary:   summary,
		Src:       src,
		Dst:       dst,
		Labels:    rs.rule.Labels,
		Actions:   rs.rule.Actions,
	})
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	s := e.stats
	s.Gateways = len(e.gateways.list)
	if e.src != nil {
		s.Sources = e.src.Len()
	}
	if e.dst != nil {
		s.Destinations = e.dst.Len()
	}
	s.Evictions = e.evictions()
	s.Hosts = len(e.hosts.index)
	s.HostsExpired = e.hosts.expired
	if e.cfg.Sampler != nil {
		s.SampledOutByClass = e.cfg.Sampler.Dropped()
	}
	return s
}

// evictions adds the evictions of the meters that exist now to those of meters dropped by an
// earlier SetRules.
func (e *Engine) evictions() uint64 {
	n := e.pastEvictions
	if e.src != nil {
		n += e.src.Evictions()
	}
	if e.dst != nil {
		n += e.dst.Evictions()
	}
	if e.host != nil {
		n += e.host.Evictions()
	}
	return n + e.hosts.evictions
}
