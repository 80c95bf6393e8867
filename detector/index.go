package detector

import (
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

const directionCount = int(natlog.DirectionExternal) + 1

// recordRule is a record rule with its list pins resolved to prefix sets.
type recordRule struct {
	state    *ruleState
	srcLists []*rules.PrefixSet
	dstLists []*rules.PrefixSet
}

// admits reports whether the record passes the rule's list pins and except lists, the checks
// that cost no expression evaluation.
func (r *recordRule) admits(ev *natlog.ConnEvent) bool {
	for _, set := range r.srcLists {
		if !set.Contains(ev.Src) {
			return false
		}
	}
	for _, set := range r.dstLists {
		if !set.Contains(ev.Dst) {
			return false
		}
	}
	rule := r.state.rule
	if rule.HasExcept() && (rule.Excepted(ev.Src) || rule.Excepted(ev.Dst)) {
		return false
	}
	return true
}

// indexCell lists the record rules that can match one protocol and direction: those that pin no
// destination port, and per port those that pin it.
type indexCell struct {
	anyPort []*recordRule
	byPort  map[uint16][]*recordRule
}

// recordIndex finds the record rules whose protocol, direction and port pins admit a record, so
// that a UDP/53 record never costs the evaluation of a rule that pins TCP port 25.
type recordIndex struct {
	cells [256][directionCount]indexCell
	rules []*recordRule
}

func newRecordIndex(set *rules.Set, states map[string]*ruleState) *recordIndex {
	idx := &recordIndex{}
	for _, rule := range set.Rules() {
		if rule.Kind != rules.KindRecord {
			continue
		}
		rr := &recordRule{state: states[rule.Name]}
		for _, name := range rule.Pins.SrcLists {
			rr.srcLists = append(rr.srcLists, set.List(name))
		}
		for _, name := range rule.Pins.DstLists {
			rr.dstLists = append(rr.dstLists, set.List(name))
		}
		idx.rules = append(idx.rules, rr)
		idx.add(rr, rule.Pins)
	}
	return idx
}

func (idx *recordIndex) add(rr *recordRule, pins rules.Pins) {
	protos := pins.Protos
	if protos == nil {
		protos = make([]natlog.Proto, 256)
		for i := range protos {
			protos[i] = natlog.Proto(i)
		}
	}
	dirs := pins.Directions
	if dirs == nil {
		for d := range directionCount {
			dirs = append(dirs, natlog.Direction(d))
		}
	}

	for _, p := range protos {
		for _, d := range dirs {
			cell := &idx.cells[p][d]
			if pins.DstPorts == nil {
				cell.anyPort = append(cell.anyPort, rr)
				continue
			}
			if cell.byPort == nil {
				cell.byPort = map[uint16][]*recordRule{}
			}
			for _, port := range pins.DstPorts {
				cell.byPort[port] = append(cell.byPort[port], rr)
			}
		}
	}
}

// lookup returns the rules pinned to no port and those pinned to the record's destination port.
func (idx *recordIndex) lookup(ev *natlog.ConnEvent) (anyPort, byPort []*recordRule) {
	dir := ev.Direction
	if int(dir) >= directionCount {
		dir = natlog.DirectionUnknown
	}
	cell := &idx.cells[ev.Proto][dir]
	if cell.byPort != nil {
		byPort = cell.byPort[ev.DstPort]
	}
	return cell.anyPort, byPort
}
