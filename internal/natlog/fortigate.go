package natlog

import (
	"bytes"
	"time"
)

// FortiGate parses FortiOS traffic logs in their key=value syslog form:
//
//	<189>date=2025-03-14 time=02:41:07 devname="FGT-EDGE-01" eventtime=1741891267381924511
//	tz="+0800" logid="0000000013" type="traffic" subtype="forward" srcip=10.20.4.37 srcport=52144
//	dstip=198.51.100.23 dstport=443 proto=6 action="close" trandisp="snat" transip=203.0.113.10
//	transport=41877 duration=1908 sentbyte=431877602 rcvdbyte=9913021 sentpkt=291877 rcvdpkt=150233
//
// Values may be quoted and then hold spaces and commas. Lines of other log types (event, utm)
// are skipped with ReasonNotConnection.
//
// Time is eventtime (seconds, µs or ns since the epoch, by magnitude), else date and time in the
// tz offset, else in ParseContext.Location. The gateway is devname.
//
// transip/transport are the source NAT and tranip/tranport the destination NAT, whatever trandisp
// says; 0.0.0.0 means none. action decides the rest:
//
//	deny                       ActionDrop, KindPacket
//	start                      KindStart, no counters (`set log-traffic-start enable`)
//	close, timeout, client-rst, server-rst, accept, ip-conn, dns …
//	                           KindEnd: sentbyte/rcvdbyte and sentpkt/rcvdpkt as CountersTotal
//
// A record with sentdelta/rcvddelta (FortiOS 6.0 and later) carries the bytes since the session's
// previous log: those become CountersDelta, so interim logs of long sessions and the final log
// add up without double counting.
//
// NOTE: FortiOS writes interim logs of long sessions with action "accept", the same word it uses
// for the end of UDP and ICMP sessions, so an interim log counts as a connection of its own.
type FortiGate struct{}

func init() { Register(FortiGate{}) }

const fortigateFormat = "fortigate"

// Name returns "fortigate".
func (FortiGate) Name() string { return fortigateFormat }

// Detect reports whether line has FortiOS's logid= and type= keys and a date=, devname= or
// eventtime= key.
func (FortiGate) Detect(line []byte) bool {
	if bytes.Index(line, []byte("logid=")) < 0 || bytes.Index(line, []byte("type=")) < 0 {
		return false
	}
	return bytes.Index(line, []byte("date=")) >= 0 || bytes.Index(line, []byte("devname=")) >= 0 ||
		bytes.Index(line, []byte("eventtime=")) >= 0
}

// fortigateFields holds the values of one line that need each other to be read.
type fortigateFields struct {
	date, clock, tz, eventtime           []byte
	typ, action                          []byte
	src, dst, natSrc, natDst             []byte
	sport, dport, nsport, ndport         []byte
	sentByte, rcvdByte, sentPkt, rcvdPkt []byte
	sentDelta, rcvdDelta                 []byte
	duration, proto                      []byte
}

// Parse fills ev from one FortiOS log line.
func (FortiGate) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	var f fortigateFields
	for i := 0; ; {
		key, value, next, ok := nextPair(line, i, ' ')
		if !ok {
			break
		}
		i = next
		if value == nil {
			continue
		}
		if len(key) > 0 && key[0] == '<' { // "<189>date": the syslog priority
			if gt := bytes.IndexByte(key, '>'); gt >= 0 {
				key = key[gt+1:]
			}
		}
		switch string(key) {
		case "date":
			f.date = value
		case "time":
			f.clock = value
		case "tz":
			f.tz = value
		case "eventtime":
			f.eventtime = value
		case "devname":
			if ctx != nil && !isAbsent(value) {
				ctx.Host = value
			}
		case "type":
			f.typ = value
		case "action":
			f.action = value
		case "srcip":
			f.src = value
		case "dstip":
			f.dst = value
		case "srcport":
			f.sport = value
		case "dstport":
			f.dport = value
		case "transip":
			f.natSrc = value
		case "transport":
			f.nsport = value
		case "tranip":
			f.natDst = value
		case "tranport":
			f.ndport = value
		case "sentbyte":
			f.sentByte = value
		case "rcvdbyte":
			f.rcvdByte = value
		case "sentpkt":
			f.sentPkt = value
		case "rcvdpkt":
			f.rcvdPkt = value
		case "sentdelta":
			f.sentDelta = value
		case "rcvddelta":
			f.rcvdDelta = value
		case "duration":
			f.duration = value
		case "proto":
			f.proto = value
		}
	}
	ev.Format = fortigateFormat

	if string(f.typ) != "traffic" {
		if f.typ == nil {
			return Skip(fortigateFormat, ReasonMissingField, "type", nil)
		}
		return Skip(fortigateFormat, ReasonNotConnection, "type", f.typ)
	}
	ev.Time = fortigateTime(&f, ctx)
	if err := fortigateTuple(&f, ev); err != nil {
		return err
	}
	return fortigateAction(&f, ev)
}

// fortigateTime returns eventtime, else date and time in tz, else the zero time.
func fortigateTime(f *fortigateFields, ctx *ParseContext) time.Time {
	if n, ok := parseUint(f.eventtime); ok && n > 0 {
		return epochTime(n)
	}
	loc := ctx.location()
	tz := f.tz
	if len(tz) > 3 && (string(tz[:3]) == "UTC" || string(tz[:3]) == "GMT") {
		tz = tz[3:]
	}
	if offset, next, has, ok := parseZone(tz, 0); ok && has && next == len(tz) {
		loc = time.FixedZone("", offset)
	}
	t, _ := joinDateTime(f.date, f.clock, loc)
	return t
}

// fortigateTuple fills protocol, addresses, ports and NAT.
func fortigateTuple(f *fortigateFields, ev *ConnEvent) error {
	var ok bool
	if f.src == nil || isAbsent(f.src) {
		return Skip(fortigateFormat, ReasonMissingField, "srcip", nil)
	}
	if f.dst == nil || isAbsent(f.dst) {
		return Skip(fortigateFormat, ReasonMissingField, "dstip", nil)
	}
	if ev.Src, ok = parseAddr(f.src); !ok {
		return Skip(fortigateFormat, ReasonBadAddress, "srcip", f.src)
	}
	if ev.Dst, ok = parseAddr(f.dst); !ok {
		return Skip(fortigateFormat, ReasonBadAddress, "dstip", f.dst)
	}
	if ev.SrcPort, ok = optionalPort(f.sport); !ok {
		return Skip(fortigateFormat, ReasonBadNumber, "srcport", f.sport)
	}
	if ev.DstPort, ok = optionalPort(f.dport); !ok {
		return Skip(fortigateFormat, ReasonBadNumber, "dstport", f.dport)
	}
	if f.proto != nil {
		p, ok := parseUint8(f.proto)
		if !ok {
			return Skip(fortigateFormat, ReasonBadNumber, "proto", f.proto)
		}
		ev.Proto = icmpForFamily(Proto(p), ev.Src)
	}

	natSrc, ok := optionalAddr(f.natSrc)
	if !ok {
		return Skip(fortigateFormat, ReasonBadAddress, "transip", f.natSrc)
	}
	natSport, ok := optionalPort(f.nsport)
	if !ok {
		return Skip(fortigateFormat, ReasonBadNumber, "transport", f.nsport)
	}
	natDst, ok := optionalAddr(f.natDst)
	if !ok {
		return Skip(fortigateFormat, ReasonBadAddress, "tranip", f.natDst)
	}
	natDport, ok := optionalPort(f.ndport)
	if !ok {
		return Skip(fortigateFormat, ReasonBadNumber, "tranport", f.ndport)
	}
	setSourceNAT(ev, natSrc, natSport)
	setDestinationNAT(ev, natDst, natDport)
	clearICMPPorts(ev)
	return nil
}

// fortigateAction sets action, kind, counters, duration and state.
func fortigateAction(f *fortigateFields, ev *ConnEvent) error {
	if d, present, ok := optionalUint(f.duration); !ok {
		return Skip(fortigateFormat, ReasonBadNumber, "duration", f.duration)
	} else if present && d < 1<<32 {
		ev.Duration = time.Duration(d) * time.Second
	}

	ev.Action = ActionAccept
	ev.Kind = KindEnd
	switch string(f.action) {
	case "deny":
		ev.Action = ActionDrop
		ev.Kind = KindPacket
	case "start":
		ev.Kind = KindStart
		return nil
	case "close":
		if ev.Proto == ProtoTCP {
			ev.State = StateClosed
		}
	default:
		ev.State = reasonState(ev.Proto, f.action)
	}

	if f.sentDelta != nil || f.rcvdDelta != nil {
		sent, _, ok1 := optionalUint(f.sentDelta)
		rcvd, _, ok2 := optionalUint(f.rcvdDelta)
		if !ok1 || !ok2 {
			return Skip(fortigateFormat, ReasonBadNumber, "sentdelta", f.sentDelta)
		}
		ev.Counters = CountersDelta
		ev.OrigBytes, ev.ReplyBytes = sent, rcvd
		return nil
	}

	counters := [4]struct {
		name  string
		value []byte
		dst   *uint64
	}{
		{"sentbyte", f.sentByte, &ev.OrigBytes},
		{"rcvdbyte", f.rcvdByte, &ev.ReplyBytes},
		{"sentpkt", f.sentPkt, &ev.OrigPackets},
		{"rcvdpkt", f.rcvdPkt, &ev.ReplyPackets},
	}
	for _, c := range counters {
		n, present, ok := optionalUint(c.value)
		if !ok {
			return Skip(fortigateFormat, ReasonBadNumber, c.name, c.value)
		}
		if present {
			*c.dst = n
			ev.Counters = CountersTotal
		}
	}
	finishState(ev)
	return nil
}
