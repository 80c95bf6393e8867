package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// H3C parses H3C Comware session and NAT flow logs in both shapes natwatch meets. The device's
// own syslog (`session log flow-begin`, `session log flow-end`, `nat log flow-begin` …) writes
// "Key(id)=value;" pairs:
//
//	<190>Mar 14 02:41:07 2025 FW-F1060-EDGE %%10SESSION/6/SESSION_IPV4_FLOW: Protocol(1001)=TCP;
//	SrcIPAddr(1003)=10.20.4.37;SrcPort(1004)=52144;NatSrcIPAddr(1005)=203.0.113.10;…;
//	InitPktCount(1044)=291877;InitByteCount(1046)=431877602;RplyPktCount(1045)=150233;
//	RplyByteCount(1047)=9913021;…;BeginTime_e(1013)=03132025180919;
//	EndTime_e(1014)=03132025184107;Event(1048)=(1)Normal over;
//
// and a flow-log collector (h3cflowd) prints one text line per record:
//
//	02:41:07 tcp 1 10.20.4.37(203.0.113.10):52144(41877)->198.51.100.23:443
//	291877/431877602 150233/9913021 TIME:1908
//
// with the NAT address and port in parentheses and the initiator's then the responder's
// packets/bytes. The event code (Event(1048) or the third word) gives the kind:
//
//	(8) session created                               KindStart, no counters
//	(6) active flow timeout, (5) no-PAT NAT record     KindInterim, no counters
//	(1) normal over, (2) aged, (3) reset or config change, (4) no resources, other
//	                                                  KindEnd, CountersTotal
//
// BeginTime_e and EndTime_e ("MMDDYYYYhhmmss") are UTC while the syslog header is local time:
// ev.Time is EndTime_e on an end record and BeginTime_e otherwise, else the header's time.
// BeginTime_c/EndTime_c ("YYYYMMDDhhmmss", local) are read when the _e fields are absent. The
// collector's line has only a time of day: it is taken on the reference day in
// ParseContext.Location, or the day before when that would put it more than an hour ahead.
//
// NOTE: whether Comware's active-timeout records carry counts since the previous record or since
// the flow began is not documented, so they are read without counters and only the end record
// counts bytes.
type H3C struct{}

func init() { Register(H3C{}) }

const h3cFormat = "h3c"

// Name returns "h3c".
func (H3C) Name() string { return h3cFormat }

// Detect reports whether line has Comware's "Protocol(1001)=" field, or is a collector line
// that starts with a time of day, a protocol word and a "->" tuple.
func (H3C) Detect(line []byte) bool {
	if bytes.Index(line, []byte("Protocol(1001)=")) >= 0 {
		return true
	}
	return isH3CFlowdLine(line)
}

func isH3CFlowdLine(line []byte) bool {
	if _, _, _, next, ok := parseClock(line, 0); !ok || next >= len(line) || line[next] != ' ' {
		return false
	}
	end := tokenEnd(line, 9)
	if _, ok := protoByName(line[9:end]); !ok {
		return false
	}
	return bytes.Index(line, []byte("->")) > 0
}

// Parse fills ev from one Comware flow log line or collector line.
func (H3C) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = h3cFormat
	ev.Action = ActionAccept
	if bytes.Index(line, []byte("Protocol(1001)=")) < 0 {
		return parseH3CFlowd(line, ctx, ev)
	}

	m := bytes.Index(line, []byte("%%"))
	if m < 0 {
		m = bytes.Index(line, []byte("Protocol(1001)="))
	}
	headerTime, host := parseDeviceHeader(line[:m], ctx)
	if ctx != nil {
		ctx.Host = host
	}
	colon := indexFrom(line, m, ": ")
	if colon < 0 || colon > bytes.Index(line, []byte("Protocol(1001)=")) {
		colon = bytes.Index(line, []byte("Protocol(1001)=")) - 2
	}

	var f h3cFields
	for i := colon + 2; ; {
		key, value, next, ok := nextPair(line, i, ';')
		if !ok {
			break
		}
		i = next
		f.set(stripKeyID(key), value)
	}
	if err := f.fill(ev, ctx); err != nil {
		// Comware ends every pair with ';': without it the line was cut short.
		trimmed := bytes.TrimRight(line, " \t\r")
		if skip, ok := err.(*SkipError); ok && len(trimmed) > 0 && trimmed[len(trimmed)-1] != ';' {
			skip.Reason = ReasonTruncated
		}
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = headerTime
	}
	return nil
}

// h3cFields holds the values of one Comware flow record.
type h3cFields struct {
	proto, src, dst, sport, dport, nsrc, ndst, nsport, ndport []byte
	initPkts, initBytes, rplyPkts, rplyBytes                  []byte
	beginE, endE, beginC, endC, event                         []byte
}

func (f *h3cFields) set(key, value []byte) {
	var lower [24]byte
	if len(key) > len(lower) {
		return
	}
	for i, c := range key {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(key)]) {
	case "protocol":
		f.proto = value
	case "srcipaddr", "srcipv6addr":
		f.src = value
	case "dstipaddr", "dstipv6addr":
		f.dst = value
	case "srcport":
		f.sport = value
	case "dstport":
		f.dport = value
	case "natsrcipaddr", "natsrcipv6addr":
		f.nsrc = value
	case "natdstipaddr", "natdstipv6addr":
		f.ndst = value
	case "natsrcport":
		f.nsport = value
	case "natdstport":
		f.ndport = value
	case "initpktcount":
		f.initPkts = value
	case "initbytecount":
		f.initBytes = value
	case "rplypktcount":
		f.rplyPkts = value
	case "rplybytecount":
		f.rplyBytes = value
	case "begintime_e":
		f.beginE = value
	case "endtime_e":
		f.endE = value
	case "begintime_c":
		f.beginC = value
	case "endtime_c":
		f.endC = value
	case "event":
		f.event = value
	}
}

// fill converts the collected values into ev.
func (f *h3cFields) fill(ev *ConnEvent, ctx *ParseContext) error {
	code := h3cEventCode(f.event)
	h3cKind(code, ev)

	var ok bool
	if f.src == nil || isAbsent(f.src) {
		return Skip(h3cFormat, ReasonMissingField, "SrcIPAddr", nil)
	}
	if ev.Src, ok = parseAddr(f.src); !ok {
		return Skip(h3cFormat, ReasonBadAddress, "SrcIPAddr", f.src)
	}
	if ev.Dst, ok = optionalAddr(f.dst); !ok {
		return Skip(h3cFormat, ReasonBadAddress, "DstIPAddr", f.dst)
	}
	if !ev.Dst.IsValid() && code != 5 {
		return Skip(h3cFormat, ReasonMissingField, "DstIPAddr", nil)
	}
	var ports [4]uint16
	for k, p := range [4][]byte{f.sport, f.dport, f.nsport, f.ndport} {
		if ports[k], ok = optionalPort(p); !ok {
			return Skip(h3cFormat, ReasonBadNumber, "port", p)
		}
	}
	ev.SrcPort, ev.DstPort = ports[0], ports[1]
	if p, byName := protoByName(f.proto); byName {
		ev.Proto = p
	} else if n, ok := parseUint8(f.proto); ok {
		ev.Proto = Proto(n)
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)

	natSrc, ok1 := optionalAddr(f.nsrc)
	natDst, ok2 := optionalAddr(f.ndst)
	if !ok1 || !ok2 {
		return Skip(h3cFormat, ReasonBadAddress, "NatSrcIPAddr", f.nsrc)
	}
	setSourceNAT(ev, natSrc, ports[2])
	setDestinationNAT(ev, natDst, ports[3])
	clearICMPPorts(ev)

	begin, hasBegin := h3cTime(f.beginE, f.beginC, ctx)
	end, hasEnd := h3cTime(f.endE, f.endC, ctx)
	switch {
	case ev.Kind == KindEnd && hasEnd:
		ev.Time = end
	case hasBegin:
		ev.Time = begin
	}
	if hasBegin && hasEnd && !end.Before(begin) {
		ev.Duration = end.Sub(begin)
	}
	if ev.Kind != KindEnd {
		return nil
	}

	counters := [4]struct {
		value []byte
		dst   *uint64
	}{
		{f.initPkts, &ev.OrigPackets}, {f.initBytes, &ev.OrigBytes},
		{f.rplyPkts, &ev.ReplyPackets}, {f.rplyBytes, &ev.ReplyBytes},
	}
	for _, c := range counters {
		n, present, ok := optionalUint(c.value)
		if !ok {
			return Skip(h3cFormat, ReasonBadNumber, "count", c.value)
		}
		if present {
			*c.dst = n
			ev.Counters = CountersTotal
		}
	}
	ev.State = reasonState(ev.Proto, f.event)
	finishState(ev)
	return nil
}

// h3cEventCode reads the number of "(8)Session created"; -1 when there is none.
func h3cEventCode(b []byte) int {
	if len(b) < 3 || b[0] != '(' {
		if n, ok := parseUint(b); ok && n < 1000 {
			return int(n)
		}
		return -1
	}
	closing := bytes.IndexByte(b, ')')
	if closing < 0 {
		return -1
	}
	n, ok := parseUint(b[1:closing])
	if !ok || n >= 1000 {
		return -1
	}
	return int(n)
}

// h3cKind sets the kind for an event code, as the H3C doc comment lists.
func h3cKind(code int, ev *ConnEvent) {
	switch code {
	case 8:
		ev.Kind = KindStart
	case 5, 6:
		ev.Kind = KindInterim
	default:
		ev.Kind = KindEnd
	}
}

// h3cTime reads BeginTime_e/EndTime_e ("03132025180919", UTC), else the _c form
// ("20250314020919", local).
func h3cTime(e, c []byte, ctx *ParseContext) (time.Time, bool) {
	if len(e) == 14 && isDigits(e) {
		mo, _ := digits(e, 0, 2)
		d, _ := digits(e, 2, 2)
		y, _ := digits(e, 4, 4)
		hh, _ := digits(e, 8, 2)
		mm, _ := digits(e, 10, 2)
		ss, _ := digits(e, 12, 2)
		if mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && hh < 24 && mm < 60 && ss < 61 {
			return time.Date(y, time.Month(mo), d, hh, mm, ss, 0, time.UTC), true
		}
	}
	if len(c) == 14 && isDigits(c) {
		y, _ := digits(c, 0, 4)
		mo, _ := digits(c, 4, 2)
		d, _ := digits(c, 6, 2)
		hh, _ := digits(c, 8, 2)
		mm, _ := digits(c, 10, 2)
		ss, _ := digits(c, 12, 2)
		if mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && hh < 24 && mm < 60 && ss < 61 {
			return time.Date(y, time.Month(mo), d, hh, mm, ss, 0, ctx.location()).UTC(), true
		}
	}
	return time.Time{}, false
}

// parseH3CFlowd reads a collector line: "hh:mm:ss proto event tuple init/bytes reply/bytes
// [TIME:seconds]".
func parseH3CFlowd(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	hh, mm, ss, next, ok := parseClock(line, 0)
	if !ok {
		return Skip(h3cFormat, ReasonBadTime, "time", line[:min(len(line), 8)])
	}
	ev.Time = timeOfDay(hh, mm, ss, ctx)

	i := skipSpaces(line, next)
	end := tokenEnd(line, i)
	ev.Proto, _ = protoByName(line[i:end])
	i = skipSpaces(line, end)
	end = tokenEnd(line, i)
	code, ok := parseUint(line[i:end])
	if !ok || code > 255 {
		return Skip(h3cFormat, ReasonBadNumber, "event", line[i:end])
	}
	h3cKind(int(code), ev)

	i = skipSpaces(line, end)
	end = tokenEnd(line, i)
	tuple := line[i:end]
	arrow := bytes.Index(tuple, []byte("->"))
	if arrow < 0 {
		return Skip(h3cFormat, ReasonTruncated, "tuple", tuple)
	}
	src, nsrc, sport, nsport, err := h3cEndpoint(tuple[:arrow], "source")
	if err != nil {
		return err
	}
	dst, ndst, dport, ndport, err := h3cEndpoint(tuple[arrow+2:], "destination")
	if err != nil {
		if end == len(line) {
			err.Reason = ReasonTruncated
		}
		return err
	}
	ev.Src, ev.SrcPort, ev.Dst, ev.DstPort = src, sport, dst, dport
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	setSourceNAT(ev, nsrc, nsport)
	setDestinationNAT(ev, ndst, ndport)
	clearICMPPorts(ev)

	var counts [2][2]uint64
	n := 0
	for i = skipSpaces(line, end); i < len(line); i = skipSpaces(line, end) {
		end = tokenEnd(line, i)
		word := line[i:end]
		if d, ok := bytes.CutPrefix(word, []byte("TIME:")); ok {
			if secs, ok := parseUint(d); ok && secs < 1<<32 {
				ev.Duration = time.Duration(secs) * time.Second
			}
			continue
		}
		slash := bytes.IndexByte(word, '/')
		if slash < 0 || n == 2 {
			continue
		}
		pkts, ok1 := parseUint(word[:slash])
		byteCount, ok2 := parseUint(word[slash+1:])
		if !ok1 || !ok2 {
			return Skip(h3cFormat, ReasonBadNumber, "count", word)
		}
		counts[n] = [2]uint64{pkts, byteCount}
		n++
	}
	if ev.Kind != KindEnd {
		return nil
	}
	if n < 2 {
		return Skip(h3cFormat, ReasonTruncated, "count", tail(line))
	}
	ev.Counters = CountersTotal
	ev.OrigPackets, ev.OrigBytes = counts[0][0], counts[0][1]
	ev.ReplyPackets, ev.ReplyBytes = counts[1][0], counts[1][1]
	if code == 1 {
		ev.State = reasonState(ev.Proto, []byte("normal over"))
	}
	finishState(ev)
	return nil
}

// h3cEndpoint reads "10.20.4.37(203.0.113.10):52144(41877)" or "198.51.100.23:443", the NAT
// address and port in parentheses being optional.
func h3cEndpoint(b []byte, field string) (addr, nat netip.Addr, port, natPort uint16, err *SkipError) {
	hostPart, portPart := b, []byte(nil)
	if open := bytes.IndexByte(b, '('); open >= 0 {
		closing := bytes.IndexByte(b[open:], ')')
		if closing < 0 {
			return addr, nat, 0, 0, Skip(h3cFormat, ReasonTruncated, field, b)
		}
		hostPart = b[:open]
		inner := b[open+1 : open+closing]
		rest := b[open+closing+1:]
		if len(rest) > 0 && rest[0] == ':' {
			portPart = rest[1:]
		}
		var ok bool
		if nat, ok = parseAddr(inner); !ok {
			return addr, nat, 0, 0, Skip(h3cFormat, ReasonBadAddress, field, inner)
		}
	} else {
		hostPart, portPart = splitHostPort(b, ':')
	}
	var ok bool
	if addr, ok = parseAddr(hostPart); !ok {
		return addr, nat, 0, 0, Skip(h3cFormat, ReasonBadAddress, field, hostPart)
	}
	if len(portPart) == 0 {
		return addr, nat, 0, 0, nil
	}
	if open := bytes.IndexByte(portPart, '('); open >= 0 && portPart[len(portPart)-1] == ')' {
		if natPort, ok = parsePort(portPart[open+1 : len(portPart)-1]); !ok {
			return addr, nat, 0, 0, Skip(h3cFormat, ReasonBadNumber, field, portPart)
		}
		portPart = portPart[:open]
	}
	if port, ok = parsePort(portPart); !ok {
		return addr, nat, 0, 0, Skip(h3cFormat, ReasonBadNumber, field, portPart)
	}
	return addr, nat, port, natPort, nil
}

// timeOfDay places a time of day without a date on the reference day (ParseContext.Now in
// ParseContext.Location), or on the day before when that puts it more than an hour ahead.
func timeOfDay(hh, mm, ss int, ctx *ParseContext) time.Time {
	loc := ctx.location()
	var now time.Time
	if ctx != nil {
		now = ctx.Now
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = now.In(loc)
	t := time.Date(now.Year(), now.Month(), now.Day(), hh, mm, ss, 0, loc)
	if t.Sub(now) > time.Hour {
		t = t.AddDate(0, 0, -1)
	}
	return t.UTC()
}
