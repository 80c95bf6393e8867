package natlog

import (
	"bytes"
	"time"
)

// Hillstone parses the traffic logs of Hillstone StoneOS firewalls (`logging traffic session`
// and `logging traffic nat`). Session records carry the tuple and, at the session's end, its
// counters:
//
//	<190>Mar 14 02:41:07 2812019203004521(root) 44243624 Traffic@FLOW: SESSION:
//	10.20.4.37:52144->198.51.100.23:443(TCP), application HTTPS, interface ethernet0/2, vr trust-vr,
//	policy 12, user -@-, host -, send packets 291877,send bytes 431877602,receive packets 150233,
//	receive bytes 9913021,start time 2025-03-14 02:09:19,close time 2025-03-14 02:41:07,
//	session end,TCP FIN
//
// while the translation comes in a record of its own:
//
//	<190>Mar 14 02:09:19 2812019203004521(root) 46083623 Traffic@FLOW: NAT:
//	10.20.4.37:52144->198.51.100.23:443(TCP), snat to 203.0.113.10:41877, vr trust-vr, …, rule 4
//
// Each record becomes its own event. A session record with "session end" is KindEnd with
// CountersTotal (send is Orig, receive Reply), "session start" KindStart, "policy deny"
// KindPacket with ActionDrop. A NAT record is KindInterim with NATSrc ("snat to") or NATDst
// ("dnat to") set and no counters, so it neither counts as a connection nor adds traffic.
// Clauses are separated by commas; some releases use ". " or no separator before "host". Start and
// close times have no zone and are read in ParseContext.Location: ev.Time is the close time of an
// end record, the start time of a start record, else the header's time. The gateway is the
// device's serial number before "(root)".
//
// NOTE: natwatch does not join a NAT record with the session record of the same tuple, so rules
// see the translation and the counters in separate events. Joining them needs state keyed by the
// tuple, kept until the session ends.
type Hillstone struct{}

func init() { Register(Hillstone{}) }

const hillstoneFormat = "hillstone"

// Name returns "hillstone".
func (Hillstone) Name() string { return hillstoneFormat }

// Detect reports whether line holds a StoneOS "@FLOW: " module tag.
func (Hillstone) Detect(line []byte) bool {
	return bytes.Index(line, []byte("@FLOW: ")) >= 0
}

// Parse fills ev from one StoneOS traffic log line.
func (Hillstone) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	m := bytes.Index(line, []byte("@FLOW: "))
	if m < 0 {
		return Skip(hillstoneFormat, ReasonMissingField, "tag", nil)
	}
	start := m
	for start > 0 && !isSpace(line[start-1]) {
		start--
	}
	headerTime, _ := parseDeviceHeader(line[:start], ctx)
	host := hillstoneHost(line[:start])
	if ctx != nil {
		ctx.Host = host
	}
	ev.Format = hillstoneFormat
	ev.Action = ActionAccept

	i := skipSpaces(line, m+len("@FLOW: "))
	end := tokenEnd(line, i)
	record := line[i:end]
	isNAT := false
	switch string(record) {
	case "SESSION:":
	case "NAT:":
		isNAT = true
	default:
		return Skip(hillstoneFormat, ReasonNotConnection, "record", record)
	}

	i = skipSpaces(line, end)
	comma := indexFrom(line, i, ",")
	if comma < 0 {
		comma = tokenEnd(line, i)
	}
	if err := hillstoneTuple(line[i:comma], ev, comma == len(line)); err != nil {
		return err
	}

	var h hillstoneClauses
	for i = comma; i < len(line); {
		clause, next := nextClause(line, i)
		h.read(clause, ev)
		i = next
	}

	if isNAT {
		if !h.nat {
			return Skip(hillstoneFormat, ReasonMissingField, "snat to", nil)
		}
		ev.Kind = KindInterim
		ev.Time = headerTime
		clearICMPPorts(ev)
		return nil
	}
	return h.finish(ev, headerTime, ctx)
}

// hillstoneHost returns the device name of a header that ends "<serial>(<vsys>) <message id> ":
// the word before the hexadecimal message id, without the "(root)" suffix.
func hillstoneHost(h []byte) []byte {
	end := len(h)
	for end > 0 && isSpace(h[end-1]) {
		end--
	}
	start := end
	for start > 0 && !isSpace(h[start-1]) {
		start--
	}
	word := h[start:end]
	hexID := len(word) > 0
	for _, c := range word {
		if hexDigit(c) < 0 {
			hexID = false
		}
	}
	if hexID {
		end = start
		for end > 0 && isSpace(h[end-1]) {
			end--
		}
		start = end
		for start > 0 && !isSpace(h[start-1]) {
			start--
		}
		word = h[start:end]
	}
	if open := bytes.IndexByte(word, '('); open > 0 {
		word = word[:open]
	}
	if len(word) == 0 || word[len(word)-1] == ':' {
		return nil
	}
	return word
}

// nextClause returns the clause starting at i (after a separator) and the index past it.
// Clauses end at ',' or at ". " (a full stop followed by a space).
func nextClause(b []byte, i int) ([]byte, int) {
	for i < len(b) && (b[i] == ',' || b[i] == '.' || isSpace(b[i])) {
		i++
	}
	start := i
	for i < len(b) {
		if b[i] == ',' || (b[i] == '.' && (i+1 == len(b) || isSpace(b[i+1]))) {
			break
		}
		i++
	}
	return bytes.TrimRight(b[start:i], " \t"), i
}

// hillstoneTuple reads "10.20.4.37:52144->198.51.100.23:443(TCP)". cut reports that the line
// ends inside the tuple, which makes a bad address a truncation.
func hillstoneTuple(t []byte, ev *ConnEvent, cut bool) error {
	reason := ReasonBadAddress
	if cut {
		reason = ReasonTruncated
	}
	open := bytes.LastIndexByte(t, '(')
	if open < 0 || t[len(t)-1] != ')' {
		return Skip(hillstoneFormat, ReasonTruncated, "protocol", t)
	}
	proto := t[open+1 : len(t)-1]
	if p, ok := protoByName(proto); ok {
		ev.Proto = p
	} else if n, ok := parseUint8(proto); ok {
		ev.Proto = Proto(n)
	}
	t = t[:open]
	arrow := bytes.Index(t, []byte("->"))
	if arrow < 0 {
		return Skip(hillstoneFormat, reason, "tuple", t)
	}
	var ok bool
	src, sport := splitHostPort(t[:arrow], ':')
	dst, dport := splitHostPort(t[arrow+2:], ':')
	if ev.Src, ok = parseAddr(src); !ok {
		return Skip(hillstoneFormat, reason, "source", src)
	}
	if ev.Dst, ok = parseAddr(dst); !ok {
		return Skip(hillstoneFormat, reason, "destination", dst)
	}
	if ev.SrcPort, ok = optionalPort(sport); !ok {
		return Skip(hillstoneFormat, ReasonBadNumber, "source port", sport)
	}
	if ev.DstPort, ok = optionalPort(dport); !ok {
		return Skip(hillstoneFormat, ReasonBadNumber, "destination port", dport)
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	return nil
}

// hillstoneClauses holds the values read from the clauses after the tuple.
type hillstoneClauses struct {
	counters   bool
	ended      bool
	started    bool
	denied     bool
	nat        bool
	afterEnd   bool // the clause after "session end" is the close reason
	reason     []byte
	start, end []byte
	bad        *SkipError
}

// read handles one clause.
func (h *hillstoneClauses) read(c []byte, ev *ConnEvent) {
	if h.afterEnd {
		h.reason = c
		h.afterEnd = false
		return
	}
	number := func(prefix string, dst *uint64) bool {
		v, ok := bytes.CutPrefix(c, []byte(prefix))
		if !ok {
			return false
		}
		n, ok := parseUint(bytes.TrimSpace(v))
		if !ok {
			h.bad = Skip(hillstoneFormat, ReasonBadNumber, prefix, v)
			return true
		}
		*dst = n
		h.counters = true
		return true
	}
	switch {
	case number("send packets ", &ev.OrigPackets), number("send bytes ", &ev.OrigBytes),
		number("receive packets ", &ev.ReplyPackets), number("receive bytes ", &ev.ReplyBytes):
	case bytes.HasPrefix(c, []byte("start time ")):
		h.start = c[len("start time "):]
	case bytes.HasPrefix(c, []byte("close time ")):
		h.end = c[len("close time "):]
	case string(c) == "session end":
		h.ended, h.afterEnd = true, true
	case string(c) == "session start":
		h.started = true
	case string(c) == "policy deny":
		h.denied = true
	case bytes.HasPrefix(c, []byte("snat to ")), bytes.HasPrefix(c, []byte("dnat to ")):
		host, port := splitHostPort(c[len("snat to "):], ':')
		a, ok1 := parseAddr(host)
		p, ok2 := optionalPort(port)
		if !ok1 || !ok2 {
			h.bad = Skip(hillstoneFormat, ReasonBadAddress, string(c[:8]), c[8:])
			return
		}
		h.nat = true
		if c[0] == 's' {
			setSourceNAT(ev, a, p)
		} else {
			setDestinationNAT(ev, a, p)
		}
	}
}

// finish sets kind, counters, time and state of a session record.
func (h *hillstoneClauses) finish(ev *ConnEvent, headerTime time.Time, ctx *ParseContext) error {
	if h.bad != nil {
		return h.bad
	}
	clearICMPPorts(ev)
	start, hasStart := parseLocalDateTime(h.start, ctx.location())
	end, hasEnd := parseLocalDateTime(h.end, ctx.location())
	if hasStart && hasEnd && !end.Before(start) {
		ev.Duration = end.Sub(start)
	}
	ev.Time = headerTime

	switch {
	case h.denied:
		ev.Kind, ev.Action = KindPacket, ActionDrop
		ev.OrigBytes, ev.ReplyBytes, ev.OrigPackets, ev.ReplyPackets = 0, 0, 0, 0
		return nil
	case h.started:
		ev.Kind = KindStart
		ev.OrigBytes, ev.ReplyBytes, ev.OrigPackets, ev.ReplyPackets = 0, 0, 0, 0 // counted at the end
		if hasStart {
			ev.Time = start
		}
		return nil
	case h.ended || h.counters:
		ev.Kind = KindEnd
		if hasEnd {
			ev.Time = end
		}
	default:
		return Skip(hillstoneFormat, ReasonTruncated, "session end", nil)
	}
	if h.counters {
		ev.Counters = CountersTotal
	}
	ev.State = reasonState(ev.Proto, h.reason)
	finishState(ev)
	return nil
}
