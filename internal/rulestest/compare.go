package rulestest

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/natlog"
)

// defaultTolerance is how far an anomaly's time may be from an expected `at` without `tolerance`.
const defaultTolerance = time.Second

func (e *Event) connEvent(step map[string]int, k int, internal []netip.Prefix, gateway string) (natlog.ConnEvent, error) {
	ev := natlog.ConnEvent{Gateway: gateway, Format: "test", Kind: natlog.KindStart}
	if e.Gateway != "" {
		ev.Gateway = e.Gateway
	}

	var err error
	if ev.Src, err = stepAddr(e.Src, step["src"], k); err != nil {
		return ev, fmt.Errorf("src: %w", err)
	}
	if e.Dst != "" {
		if ev.Dst, err = stepAddr(e.Dst, step["dst"], k); err != nil {
			return ev, fmt.Errorf("dst: %w", err)
		}
	}
	ev.SrcPort = uint16(e.SrcPort + step["src_port"]*k)
	ev.DstPort = uint16(e.DstPort + step["dst_port"]*k)

	proto := strings.ToLower(e.Proto)
	if proto == "" {
		proto = "tcp"
	}
	found := false
	for i := range 256 {
		if natlog.Proto(i).String() == proto {
			ev.Proto, found = natlog.Proto(i), true
			break
		}
	}
	if !found {
		return ev, fmt.Errorf("proto %q is not a protocol name", e.Proto)
	}

	if ev.Action, err = lookupName(e.Action, "action", natlog.ActionAccept, natlog.Action.String, natlog.ActionUnknown, natlog.ActionReject); err != nil {
		return ev, err
	}
	if e.Kind != "" {
		if ev.Kind, err = lookupName(e.Kind, "kind", natlog.KindStart, natlog.Kind.String, natlog.KindUnknown, natlog.KindPacket); err != nil {
			return ev, err
		}
	}
	if ev.State, err = lookupName(e.State, "state", natlog.StateUnknown, natlog.State.String, natlog.StateUnknown, natlog.StateClosed); err != nil {
		return ev, err
	}
	if ev.State == natlog.StateSYNOnly {
		ev.Flags = natlog.FlagSYN
	}

	ev.OrigBytes = e.OrigBytes + uint64(step["orig_bytes"]*k)
	ev.ReplyBytes = e.ReplyBytes
	ev.OrigPackets, ev.ReplyPackets = e.OrigPackets, e.ReplyPackets
	if ev.OrigBytes+ev.ReplyBytes+ev.OrigPackets+ev.ReplyPackets > 0 {
		ev.Counters = natlog.CountersTotal
	}
	if e.TTL < 0 || e.TTL > 255 {
		return ev, fmt.Errorf("ttl %d is outside 0–255", e.TTL)
	}
	ev.TTL = uint8(max(0, min(255, e.TTL+step["ttl"]*k)))
	if e.IPID != nil {
		ev.HasIPID = true
		ev.IPID = uint32(*e.IPID + step["ip_id"]*k)
	}
	if e.Duration != "" {
		if ev.Duration, err = time.ParseDuration(e.Duration); err != nil {
			return ev, fmt.Errorf("duration %q is not a duration", e.Duration)
		}
	}
	ev.Direction = direction(ev.Src, ev.Dst, internal)
	return ev, nil
}

func stepAddr(text string, step, k int) (netip.Addr, error) {
	addr, err := netip.ParseAddr(text)
	if err != nil {
		return addr, err
	}
	for range step * k {
		addr = addr.Next()
	}
	return addr, nil
}

func lookupName[T ~uint8](name, what string, fallback T, str func(T) string, first, last T) (T, error) {
	if name == "" {
		return fallback, nil
	}
	for v := first; v <= last; v++ {
		if str(v) == name {
			return v, nil
		}
	}
	var names []string
	for v := first; v <= last; v++ {
		names = append(names, str(v))
	}
	return fallback, fmt.Errorf("%s %q is not one of %s", what, name, strings.Join(names, ", "))
}

func direction(src, dst netip.Addr, internal []netip.Prefix) natlog.Direction {
	if len(internal) == 0 || !src.IsValid() || !dst.IsValid() {
		return natlog.DirectionUnknown
	}
	in := func(a netip.Addr) bool {
		for _, p := range internal {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	switch s, d := in(src), in(dst); {
	case s && d:
		return natlog.DirectionInternal
	case s:
		return natlog.DirectionOutbound
	case d:
		return natlog.DirectionInbound
	}
	return natlog.DirectionExternal
}

func describe(a detector.Anomaly) string {
	return fmt.Sprintf("rule=%s key=%s state=%s at=%s value=%s", a.Rule, a.Key, a.State,
		a.Time.UTC().Format(time.RFC3339), formatValue(a.Value))
}

func formatValue(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

func describeExpect(e Expect) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule=%s", e.Rule)
	if e.Key != "" {
		fmt.Fprintf(&b, " key=%s", e.Key)
	}
	fmt.Fprintf(&b, " state=%s", stateOr(e.State))
	if e.At != "" {
		fmt.Fprintf(&b, " at=%s", e.At)
		if e.Tolerance != "" {
			fmt.Fprintf(&b, "±%s", e.Tolerance)
		}
	}
	return b.String()
}

func stateOr(s string) string {
	if s == "" {
		return detector.StateFiring
	}
	return s
}

// compare matches expected anomalies with those that happened. Each expectation consumes one
// anomaly. Anomalies of rules that the case names in expect, left over after matching, and
// firing anomalies of silent rules within their range are failures.
func compare(c Case, got []detector.Anomaly) []string {
	var diff []string
	used := make([]bool, len(got))
	checked := map[string]bool{}

	for _, e := range c.Expect {
		checked[e.Rule] = true
		tolerance, err := parseDuration(e.Tolerance, defaultTolerance)
		if err != nil {
			diff = append(diff, "expect: "+err.Error())
			continue
		}
		var at time.Time
		if e.At != "" {
			if at, err = parseTime(e.At); err != nil {
				diff = append(diff, "expect: "+err.Error())
				continue
			}
		}
		match := -1
		for i, a := range got {
			if used[i] || a.Rule != e.Rule || a.State != stateOr(e.State) || (e.Key != "" && a.Key != e.Key) {
				continue
			}
			if !at.IsZero() && (a.Time.Before(at.Add(-tolerance)) || a.Time.After(at.Add(tolerance))) {
				continue
			}
			if !labelsMatch(a, e.Labels) {
				continue
			}
			match = i
			break
		}
		if match < 0 {
			diff = append(diff, "- "+describeExpect(e))
			continue
		}
		used[match] = true
	}

	for _, s := range c.Silent {
		var from, to time.Time
		var err error
		if s.From != "" {
			if from, err = parseTime(s.From); err != nil {
				diff = append(diff, "silent: "+err.Error())
				continue
			}
		}
		if s.To != "" {
			if to, err = parseTime(s.To); err != nil {
				diff = append(diff, "silent: "+err.Error())
				continue
			}
		}
		for i, a := range got {
			if used[i] || a.Rule != s.Rule || a.State != detector.StateFiring {
				continue
			}
			if (!from.IsZero() && a.Time.Before(from)) || (!to.IsZero() && a.Time.After(to)) {
				continue
			}
			used[i] = true
			diff = append(diff, "+ "+describe(a)+" (rule must stay silent)")
		}
	}

	for i, a := range got {
		if !used[i] && checked[a.Rule] {
			diff = append(diff, "+ "+describe(a))
		}
	}
	return diff
}

func labelsMatch(a detector.Anomaly, want map[string]string) bool {
	for name, value := range want {
		if got, ok := a.Labels.Get(name); !ok || got != value {
			return false
		}
	}
	return true
}
