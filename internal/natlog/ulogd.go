package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// Ulogd parses the connection tracking events that ulogd2 writes from its NFCT input plugin, in
// two shapes. The JSON output plugin writes one object per event:
//
//	{"timestamp": "2025-03-14T02:41:07+0800", "orig.ip.protocol": 6, "orig.l4.sport": 52144,
//	 "orig.raw.pktlen": 431877602, "ct.event": 4, "flow.start.sec": 1741889359, "src_ip":
//	 "10.20.4.37", "dest_ip": "198.51.100.23", "reply.ip.daddr.str": "203.0.113.10", …}
//
// and the PRINTFLOW filter, through the LOGEMU or SYSLOG output, writes a line like the kernel's
// LOG target:
//
//	Mar 14 02:09:19 edge-gw01 [NEW] ORIG: SRC=10.20.4.37 DST=198.51.100.23 PROTO=TCP SPT=52144
//	DPT=443 PKTS=0 BYTES=0 , REPLY: SRC=198.51.100.23 DST=203.0.113.10 PROTO=TCP SPT=443 DPT=41877
//	PKTS=0 BYTES=0
//
// The original tuple is the connection as the initiator sent it and the reply tuple the answer
// as the gateway expects it after NAT, as in conntrack: a reply destination other than the
// original source means source NAT (NATSrc), a reply source other than the original destination
// destination NAT (NATDst). ct.event 1 or [NEW] gives KindStart, 2 or [UPDATE] KindInterim, 4 or
// [DESTROY] KindEnd. Only destroy events keep their counters, as CountersTotal, because an update
// repeats running totals and a new connection has counted nothing yet.
//
// State is known only from a destroy event with counters: no reply packet gives StateSYNOnly for
// TCP and StateUnreplied otherwise, and a reply gives StateEstablished.
//
// Time is flow.end for a destroy event and flow.start otherwise (seconds and microseconds), then
// the JSON "timestamp", then the syslog header of a PRINTFLOW line. The JSON "dvc" field names
// the gateway unless it holds ulogd's default, "Netfilter".
type Ulogd struct{}

func init() { Register(Ulogd{}) }

const ulogdFormat = "ulogd"

// Name returns "ulogd".
func (Ulogd) Name() string { return ulogdFormat }

// Detect reports whether line is a ulogd JSON object with NFCT keys or a PRINTFLOW line.
func (Ulogd) Detect(line []byte) bool {
	i := skipSpaces(line, 0)
	if i < len(line) && line[i] == '{' {
		return bytes.Contains(line, []byte(`"orig.ip.`)) || bytes.Contains(line, []byte(`"orig.l4.`)) ||
			bytes.Contains(line, []byte(`"ct.event"`))
	}
	return ulogdFlowStart(line) >= 0
}

// ulogdFlowStart returns the index of "ORIG: " in a PRINTFLOW line, or -1.
func ulogdFlowStart(line []byte) int {
	i := bytes.Index(line, []byte("ORIG: "))
	if i < 0 || (i > 0 && line[i-1] != ' ') {
		return -1
	}
	if !bytes.Contains(line[i:], []byte(", REPLY: ")) {
		return -1
	}
	return i
}

// ulogdTuple is one direction of a ulogd event.
type ulogdTuple struct {
	src, dst       netip.Addr
	sport, dport   uint16
	packets, bytes uint64
	hasCounters    bool
}

// ulogdEvent collects the parts of one event in either shape.
type ulogdEvent struct {
	orig, reply ulogdTuple
	event       uint64 // 1 new, 2 update, 4 destroy; 0 when absent
	start, end  time.Time
	logTime     time.Time
}

// Parse fills ev from one ulogd JSON object or PRINTFLOW line.
func (Ulogd) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = ulogdFormat
	ev.Action = ActionAccept

	var u ulogdEvent
	var err *SkipError
	if i := skipSpaces(line, 0); i < len(line) && line[i] == '{' {
		err = parseUlogdJSON(line, ctx, &u, ev)
	} else {
		err = parseUlogdFlow(line, ctx, &u, ev)
	}
	if err != nil {
		return err
	}
	return finishUlogd(line, &u, ev)
}

// parseUlogdJSON reads the keys of a JSON object that ulogd's JSON output wrote.
func parseUlogdJSON(line []byte, ctx *ParseContext, u *ulogdEvent, ev *ConnEvent) *SkipError {
	it, _ := jsonObjectIter(line)
	var startSec, startUsec, endSec, endUsec uint64
	var hasStart, hasEnd bool
	for {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		var err *SkipError
		switch string(key) {
		case "src_ip", "orig.ip.saddr.str", "orig.ip.saddr":
			err = ulogdAddr(&u.orig.src, "orig.ip.saddr", val)
		case "dest_ip", "orig.ip.daddr.str", "orig.ip.daddr":
			err = ulogdAddr(&u.orig.dst, "orig.ip.daddr", val)
		case "reply.ip.saddr.str", "reply.ip.saddr":
			err = ulogdAddr(&u.reply.src, "reply.ip.saddr", val)
		case "reply.ip.daddr.str", "reply.ip.daddr":
			err = ulogdAddr(&u.reply.dst, "reply.ip.daddr", val)
		case "orig.ip.protocol":
			var n uint64
			n, err = ulogdNumber("orig.ip.protocol", val, 255)
			ev.Proto = Proto(n)
		case "orig.l4.sport":
			err = ulogdPort(&u.orig.sport, "orig.l4.sport", val)
		case "orig.l4.dport":
			err = ulogdPort(&u.orig.dport, "orig.l4.dport", val)
		case "reply.l4.sport":
			err = ulogdPort(&u.reply.sport, "reply.l4.sport", val)
		case "reply.l4.dport":
			err = ulogdPort(&u.reply.dport, "reply.l4.dport", val)
		case "orig.raw.pktlen":
			err = ulogdCounter(&u.orig, &u.orig.bytes, "orig.raw.pktlen", val)
		case "orig.raw.pktcount":
			err = ulogdCounter(&u.orig, &u.orig.packets, "orig.raw.pktcount", val)
		case "reply.raw.pktlen":
			err = ulogdCounter(&u.reply, &u.reply.bytes, "reply.raw.pktlen", val)
		case "reply.raw.pktcount":
			err = ulogdCounter(&u.reply, &u.reply.packets, "reply.raw.pktcount", val)
		case "icmp.type":
			var n uint64
			n, err = ulogdNumber("icmp.type", val, 255)
			ev.ICMPType, ev.HasICMP = uint8(n), jsonPresent(val)
		case "icmp.code":
			var n uint64
			n, err = ulogdNumber("icmp.code", val, 255)
			ev.ICMPCode = uint8(n)
		case "ct.event":
			u.event, err = ulogdNumber("ct.event", val, 255)
		case "flow.start.sec":
			startSec, err = ulogdNumber("flow.start.sec", val, 1<<40)
			hasStart = jsonPresent(val)
		case "flow.start.usec":
			startUsec, err = ulogdNumber("flow.start.usec", val, 999_999)
		case "flow.end.sec":
			endSec, err = ulogdNumber("flow.end.sec", val, 1<<40)
			hasEnd = jsonPresent(val)
		case "flow.end.usec":
			endUsec, err = ulogdNumber("flow.end.usec", val, 999_999)
		case "timestamp":
			if val.kind == jsonString {
				t, n, ok := parseISOTime(val.raw, ctx.location())
				if !ok || n != len(val.raw) {
					return Skip(ulogdFormat, ReasonBadTime, "timestamp", val.raw)
				}
				u.logTime = t
			}
		case "dvc":
			if val.kind == jsonString && !val.escaped && !isPlaceholder(val.raw) && string(val.raw) != "Netfilter" {
				ctx.Host = val.raw
			}
		}
		if err != nil {
			return err
		}
	}
	if it.err {
		return Skip(ulogdFormat, ReasonTruncated, "json", tail(line))
	}
	if hasStart && startSec > 0 {
		u.start = time.Unix(int64(startSec), int64(startUsec)*1000).UTC()
	}
	if hasEnd && endSec > 0 {
		u.end = time.Unix(int64(endSec), int64(endUsec)*1000).UTC()
	}
	return nil
}

func ulogdAddr(dst *netip.Addr, field string, val jsonValue) *SkipError {
	a, present, ok := jsonAddr(val)
	if !present {
		return nil
	}
	if !ok {
		return Skip(ulogdFormat, ReasonBadAddress, field, val.raw)
	}
	*dst = a
	return nil
}

func ulogdNumber(field string, val jsonValue, limit uint64) (uint64, *SkipError) {
	n, present, ok := jsonUint(val)
	if !present {
		return 0, nil
	}
	if !ok || n > limit {
		return 0, Skip(ulogdFormat, ReasonBadNumber, field, val.raw)
	}
	return n, nil
}

func ulogdPort(dst *uint16, field string, val jsonValue) *SkipError {
	n, err := ulogdNumber(field, val, 65535)
	*dst = uint16(n)
	return err
}

func ulogdCounter(t *ulogdTuple, dst *uint64, field string, val jsonValue) *SkipError {
	n, err := ulogdNumber(field, val, 1<<63)
	if err == nil && jsonPresent(val) {
		*dst, t.hasCounters = n, true
	}
	return err
}

// parseUlogdFlow reads a PRINTFLOW line: an optional syslog header, the event tag, then the
// ORIG and REPLY parts.
func parseUlogdFlow(line []byte, ctx *ParseContext, u *ulogdEvent, ev *ConnEvent) *SkipError {
	flow := ulogdFlowStart(line)
	if flow < 0 {
		return Skip(ulogdFormat, ReasonTruncated, "REPLY", tail(line))
	}
	h := parseSyslogHeader(line[:flow], ctx)
	u.logTime = h.Time
	ctx.Host = h.Host

	// The event tag is the last word before "ORIG: ", such as "[DESTROY]".
	head := bytes.TrimRight(line[h.Message:flow], " ")
	if j := bytes.LastIndexByte(head, ' '); j >= 0 {
		head = head[j+1:]
	}
	switch string(head) {
	case "[NEW]":
		u.event = 1
	case "[UPDATE]":
		u.event = 2
	case "[DESTROY]":
		u.event = 4
	}

	rest := line[flow+len("ORIG: "):]
	sep := bytes.Index(rest, []byte(", REPLY: "))
	if err := parseUlogdFlowTuple(rest[:sep], &u.orig, ev, true); err != nil {
		return err
	}
	return parseUlogdFlowTuple(rest[sep+len(", REPLY: "):], &u.reply, ev, false)
}

// parseUlogdFlowTuple reads the KEY=value words of one direction.
func parseUlogdFlowTuple(b []byte, t *ulogdTuple, ev *ConnEvent, orig bool) *SkipError {
	for i := skipSpaces(b, 0); i < len(b); i = skipSpaces(b, i) {
		end := tokenEnd(b, i)
		token := b[i:end]
		i = end
		eq := bytes.IndexByte(token, '=')
		if eq < 0 {
			continue
		}
		key, value := token[:eq], token[eq+1:]

		var ok bool
		switch string(key) {
		case "SRC":
			t.src, ok = parseAddr(value)
			if !ok {
				return Skip(ulogdFormat, ReasonBadAddress, "SRC", value)
			}
		case "DST":
			t.dst, ok = parseAddr(value)
			if !ok {
				return Skip(ulogdFormat, ReasonBadAddress, "DST", value)
			}
		case "PROTO":
			if orig {
				p, ok := protoByName(value)
				if !ok {
					n, isNumber := parseUint8(value)
					if !isNumber {
						return Skip(ulogdFormat, ReasonBadNumber, "PROTO", value)
					}
					p = Proto(n)
				}
				ev.Proto = p
			}
		case "SPT", "DPT":
			port, ok := parsePort(value)
			if !ok {
				return Skip(ulogdFormat, ReasonBadNumber, string(key), value)
			}
			if key[0] == 'S' {
				t.sport = port
			} else {
				t.dport = port
			}
		case "TYPE", "CODE":
			n, ok := parseUint8(value)
			if !ok {
				return Skip(ulogdFormat, ReasonBadNumber, string(key), value)
			}
			// printflow.c in ulogd2 prints icmp.code after TYPE= and icmp.type after CODE=, so
			// an echo request reads TYPE=0 CODE=8.
			if orig && key[0] == 'C' {
				ev.ICMPType, ev.HasICMP = n, true
			} else if orig {
				ev.ICMPCode = n
			}
		case "PKTS", "BYTES":
			n, ok := parseUint(value)
			if !ok {
				return Skip(ulogdFormat, ReasonBadNumber, string(key), value)
			}
			if key[0] == 'P' {
				t.packets = n
			} else {
				t.bytes = n
			}
			t.hasCounters = true
		}
	}
	return nil
}

// finishUlogd checks the tuples and derives kind, time, NAT, state and counters.
func finishUlogd(line []byte, u *ulogdEvent, ev *ConnEvent) error {
	orig, reply := &u.orig, &u.reply
	switch {
	case !orig.src.IsValid():
		return Skip(ulogdFormat, ReasonMissingField, "orig.ip.saddr", nil)
	case !orig.dst.IsValid():
		return Skip(ulogdFormat, ReasonMissingField, "orig.ip.daddr", nil)
	case ev.Proto == ProtoUnknown:
		return Skip(ulogdFormat, ReasonMissingField, "orig.ip.protocol", nil)
	}
	ev.Src, ev.Dst = orig.src, orig.dst
	ev.SrcPort, ev.DstPort = orig.sport, orig.dport

	if reply.dst.IsValid() && (reply.dst != orig.src || reply.dport != orig.sport) {
		ev.NATSrc, ev.NATSrcPort = reply.dst, reply.dport
	}
	if reply.src.IsValid() && (reply.src != orig.dst || reply.sport != orig.dport) {
		ev.NATDst, ev.NATDstPort = reply.src, reply.sport
	}

	switch u.event {
	case 1:
		ev.Kind = KindStart
		ev.Time = u.start
	case 2:
		ev.Kind = KindInterim
		ev.Time = u.start
	case 4:
		ev.Kind = KindEnd
		ev.Time = u.end
	default:
		return Skip(ulogdFormat, ReasonNotConnection, "ct.event", tail(line))
	}
	if ev.Time.IsZero() {
		ev.Time = u.logTime
	}
	if !u.start.IsZero() && !u.end.IsZero() && u.end.After(u.start) {
		ev.Duration = u.end.Sub(u.start)
	}

	if ev.Kind == KindEnd && (orig.hasCounters || reply.hasCounters) {
		ev.Counters = CountersTotal
		ev.OrigBytes, ev.OrigPackets = orig.bytes, orig.packets
		ev.ReplyBytes, ev.ReplyPackets = reply.bytes, reply.packets
		switch {
		case reply.packets > 0:
			ev.State = StateEstablished
		case ev.Proto == ProtoTCP:
			ev.State = StateSYNOnly
		default:
			ev.State = StateUnreplied
		}
	}
	return nil
}
