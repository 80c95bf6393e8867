package natlog

import (
	"bytes"
	"time"
)

// Junos parses Juniper SRX RT_FLOW session logs in both of the forms the SRX writes. Structured
// (`set security log format sd-syslog`) puts the fields in RFC 5424 structured data:
//
//	<14>1 2025-03-14T02:41:07.912+08:00 srx-edge-01 RT_FLOW - RT_FLOW_SESSION_CLOSE
//	[junos@2636.1.1.1.2.129 reason="TCP FIN" source-address="10.20.4.37" source-port="52144" …
//	nat-source-address="203.0.113.10" nat-source-port="41877" … protocol-id="6" …
//	packets-from-client="291877" bytes-from-client="431877602" … elapsed-time="1908" …]
//
// The plain form (`format syslog`, the default) prints the same values by position:
//
//	Mar 14 02:41:07 srx-edge-02 RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN:
//	10.20.4.37/52144->198.51.100.23/443 0x0 junos-https 203.0.113.10/41877->198.51.100.23/443 0x0
//	source rule snat-lan-out N/A N/A 6 trust-to-untrust trust untrust 220481337
//	291877(431877602) 150233(9913021) 1908 …
//
// SESSION_CREATE gives KindStart, SESSION_CLOSE KindEnd with CountersTotal (client packets and
// bytes are Orig, server ones Reply) and SESSION_DENY KindPacket with ActionDrop. The close
// reason sets State ("TCP FIN" StateClosed, "TCP RST" StateReset, others from the counters). The
// nat-source and nat-destination tuple is the post-NAT tuple; equal to the original means no NAT.
//
// The plain form has a varying number of words before the protocol (the NAT rule type reads
// "source rule" or "N/A", and older releases lack the connection tags), so the protocol is found
// by counting back five words from the first "x(y)" word: the counters on CLOSE, the user and
// roles on CREATE. On DENY the first "x(y)" word is the protocol and the ICMP type.
type Junos struct{}

func init() { Register(Junos{}) }

const junosFormat = "junos"

// Name returns "junos".
func (Junos) Name() string { return junosFormat }

// Detect reports whether line holds an RT_FLOW tag.
func (Junos) Detect(line []byte) bool {
	return bytes.Index(line, []byte("RT_FLOW")) >= 0
}

// Parse fills ev from one RT_FLOW line.
func (Junos) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	h := parseSyslogHeader(line, ctx)
	ev.Time = h.Time
	if ctx != nil {
		ctx.Host = h.Host
	}
	ev.Format = junosFormat

	tag := bytes.Index(line, []byte("RT_FLOW_SESSION_"))
	if tag < 0 {
		return Skip(junosFormat, ReasonNotConnection, "event", nil)
	}
	i := tag + len("RT_FLOW_SESSION_")
	switch {
	case bytes.HasPrefix(line[i:], []byte("CREATE")):
		ev.Kind, ev.Action = KindStart, ActionAccept
	case bytes.HasPrefix(line[i:], []byte("CLOSE")):
		ev.Kind, ev.Action = KindEnd, ActionAccept
	case bytes.HasPrefix(line[i:], []byte("DENY")):
		ev.Kind, ev.Action = KindPacket, ActionDrop
	default:
		return Skip(junosFormat, ReasonNotConnection, "event", line[tag:min(len(line), tag+24)])
	}

	var err error
	if sd := bytes.Index(line, []byte("[junos@")); sd >= 0 {
		err = parseJunosStructured(line, sd, ev)
	} else {
		err = parseJunosPlain(line, i, ev)
	}
	if err != nil {
		return err
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	clearICMPPorts(ev)
	finishState(ev)
	return nil
}

// parseJunosStructured reads the key="value" pairs of the [junos@…] element at sd.
func parseJunosStructured(line []byte, sd int, ev *ConnEvent) error {
	var f struct {
		src, dst, sport, dport, nsrc, ndst, nsport, ndport, proto, icmpType []byte
		reason, cpkts, cbytes, spkts, sbytes, elapsed                       []byte
	}
	i := tokenEnd(line, sd) // past "[junos@2636…"
	for {
		key, value, next, ok := nextPair(line, i, ' ')
		if !ok || (len(key) > 0 && key[0] == ']') {
			break
		}
		i = next
		switch string(key) {
		case "source-address":
			f.src = value
		case "destination-address":
			f.dst = value
		case "source-port":
			f.sport = value
		case "destination-port":
			f.dport = value
		case "nat-source-address":
			f.nsrc = value
		case "nat-destination-address":
			f.ndst = value
		case "nat-source-port":
			f.nsport = value
		case "nat-destination-port":
			f.ndport = value
		case "protocol-id":
			f.proto = value
		case "icmp-type":
			f.icmpType = value
		case "reason":
			f.reason = value
		case "packets-from-client":
			f.cpkts = value
		case "bytes-from-client":
			f.cbytes = value
		case "packets-from-server":
			f.spkts = value
		case "bytes-from-server":
			f.sbytes = value
		case "elapsed-time":
			f.elapsed = value
		}
	}

	if f.src == nil || f.dst == nil {
		return Skip(junosFormat, ReasonMissingField, "source-address", nil)
	}
	if err := junosTuple(ev, f.src, f.sport, f.dst, f.dport, f.nsrc, f.nsport, f.ndst, f.ndport); err != nil {
		return err
	}
	if f.proto != nil {
		p, ok := parseUint8(f.proto)
		if !ok {
			return Skip(junosFormat, ReasonBadNumber, "protocol-id", f.proto)
		}
		ev.Proto = Proto(p)
	}
	if t, ok := parseUint8(f.icmpType); ok && (ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6) {
		ev.ICMPType, ev.HasICMP = t, true
	}
	if ev.Kind != KindEnd {
		return nil
	}
	ev.State = reasonState(ev.Proto, f.reason)
	counters := [4]struct {
		name  string
		value []byte
		dst   *uint64
	}{
		{"packets-from-client", f.cpkts, &ev.OrigPackets},
		{"bytes-from-client", f.cbytes, &ev.OrigBytes},
		{"packets-from-server", f.spkts, &ev.ReplyPackets},
		{"bytes-from-server", f.sbytes, &ev.ReplyBytes},
	}
	for _, c := range counters {
		n, present, ok := optionalUint(c.value)
		if !ok {
			return Skip(junosFormat, ReasonBadNumber, c.name, c.value)
		}
		if present {
			*c.dst = n
			ev.Counters = CountersTotal
		}
	}
	if d, present, ok := optionalUint(f.elapsed); ok && present && d < 1<<32 {
		ev.Duration = time.Duration(d) * time.Second
	}
	return nil
}

// junosTuple fills the original and NAT tuples from their text.
func junosTuple(ev *ConnEvent, src, sport, dst, dport, nsrc, nsport, ndst, ndport []byte) error {
	var ok bool
	if ev.Src, ok = parseAddr(src); !ok {
		return Skip(junosFormat, ReasonBadAddress, "source-address", src)
	}
	if ev.Dst, ok = parseAddr(dst); !ok {
		return Skip(junosFormat, ReasonBadAddress, "destination-address", dst)
	}
	if ev.SrcPort, ok = optionalPort(sport); !ok {
		return Skip(junosFormat, ReasonBadNumber, "source-port", sport)
	}
	if ev.DstPort, ok = optionalPort(dport); !ok {
		return Skip(junosFormat, ReasonBadNumber, "destination-port", dport)
	}
	natSrc, ok1 := optionalAddr(nsrc)
	natDst, ok2 := optionalAddr(ndst)
	natSport, ok3 := optionalPort(nsport)
	natDport, ok4 := optionalPort(ndport)
	if !ok1 || !ok2 {
		return Skip(junosFormat, ReasonBadAddress, "nat-source-address", nsrc)
	}
	if !ok3 || !ok4 {
		return Skip(junosFormat, ReasonBadNumber, "nat-source-port", nsport)
	}
	setSourceNAT(ev, natSrc, natSport)
	setDestinationNAT(ev, natDst, natDport)
	return nil
}

// junosMaxWords bounds the words read after a plain line's tuples; the fields natlog needs come
// well before it.
const junosMaxWords = 32

// parseJunosPlain reads the positional form from i, just after "RT_FLOW_SESSION_".
func parseJunosPlain(line []byte, i int, ev *ConnEvent) error {
	i = skipSpaces(line, tokenEnd(line, i)) // past "CLOSE:"
	// "session closed REASON: " — the reason runs to the ": " before the tuple.
	var reason []byte
	if ev.Kind == KindEnd {
		start := indexFrom(line, i, "session closed ")
		colon := indexFrom(line, i, ": ")
		if start < 0 || colon < 0 {
			return Skip(junosFormat, ReasonTruncated, "reason", tail(line))
		}
		reason = line[min(start+len("session closed "), colon):colon]
		i = colon + 2
	} else {
		word := "session created "
		if ev.Kind == KindPacket {
			word = "session denied "
		}
		start := indexFrom(line, i, word)
		if start < 0 {
			return Skip(junosFormat, ReasonTruncated, "session", tail(line))
		}
		i = start + len(word)
	}

	var words [junosMaxWords][]byte
	n := 0
	for i = skipSpaces(line, i); i < len(line) && n < len(words); i = skipSpaces(line, i) {
		end := tokenEnd(line, i)
		words[n] = line[i:end]
		n++
		i = end
	}
	w := words[:n]
	if len(w) == 0 {
		return Skip(junosFormat, ReasonTruncated, "tuple", tail(line))
	}
	src, sport, dst, dport, ok := splitJunosTuple(w[0])
	if !ok {
		return Skip(junosFormat, ReasonBadAddress, "tuple", w[0])
	}

	// The NAT tuple is the next word with "->" (CREATE and CLOSE only).
	var nsrc, nsport, ndst, ndport []byte
	rest := w[1:]
	if ev.Kind != KindPacket {
		found := false
		for k, word := range rest {
			if bytes.Index(word, []byte("->")) >= 0 {
				nsrc, nsport, ndst, ndport, ok = splitJunosTuple(word)
				if !ok {
					return Skip(junosFormat, ReasonBadAddress, "nat-tuple", word)
				}
				rest = rest[k+1:]
				found = true
				break
			}
		}
		if !found {
			return Skip(junosFormat, ReasonTruncated, "nat-tuple", tail(line))
		}
	}
	if err := junosTuple(ev, src, sport, dst, dport, nsrc, nsport, ndst, ndport); err != nil {
		return err
	}

	paren := -1
	for k, word := range rest {
		if bytes.IndexByte(word, '(') > 0 {
			paren = k
			break
		}
	}
	if paren < 0 {
		return Skip(junosFormat, ReasonTruncated, "protocol", tail(line))
	}

	if ev.Kind == KindPacket {
		proto, icmpType, ok := splitCount(rest[paren])
		if !ok || proto > 255 {
			return Skip(junosFormat, ReasonBadNumber, "protocol", rest[paren])
		}
		ev.Proto = Proto(proto)
		if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
			ev.ICMPType, ev.HasICMP = uint8(min(icmpType, 255)), true
		}
		return nil
	}

	if paren < 5 {
		return Skip(junosFormat, ReasonBadRecord, "protocol", rest[paren])
	}
	p, ok := parseUint8(rest[paren-5])
	if !ok {
		return Skip(junosFormat, ReasonBadNumber, "protocol", rest[paren-5])
	}
	ev.Proto = Proto(p)
	if ev.Kind != KindEnd {
		return nil
	}

	ev.State = reasonState(ev.Proto, reason)
	if paren+1 >= len(rest) {
		return Skip(junosFormat, ReasonTruncated, "packets-from-server", tail(line))
	}
	cp, cb, ok1 := splitCount(rest[paren])
	sp, sb, ok2 := splitCount(rest[paren+1])
	if !ok1 || !ok2 {
		return Skip(junosFormat, ReasonBadNumber, "packets", rest[paren])
	}
	ev.Counters = CountersTotal
	ev.OrigPackets, ev.OrigBytes, ev.ReplyPackets, ev.ReplyBytes = cp, cb, sp, sb
	if paren+2 < len(rest) {
		if d, ok := parseUint(rest[paren+2]); ok && d < 1<<32 {
			ev.Duration = time.Duration(d) * time.Second
		}
	}
	return nil
}

// splitJunosTuple splits "10.20.4.37/52144->198.51.100.23/443".
func splitJunosTuple(w []byte) (src, sport, dst, dport []byte, ok bool) {
	arrow := bytes.Index(w, []byte("->"))
	if arrow < 0 {
		return nil, nil, nil, nil, false
	}
	src, sport = splitHostPort(w[:arrow], '/')
	dst, dport = splitHostPort(w[arrow+2:], '/')
	return src, sport, dst, dport, len(src) > 0 && len(dst) > 0
}

// splitCount reads "291877(431877602)" as two numbers.
func splitCount(w []byte) (a, b uint64, ok bool) {
	open := bytes.IndexByte(w, '(')
	if open < 0 || w[len(w)-1] != ')' {
		return 0, 0, false
	}
	a, ok1 := parseUint(w[:open])
	b, ok2 := parseUint(w[open+1 : len(w)-1])
	return a, b, ok1 && ok2
}
