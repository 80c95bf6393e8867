package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// NatlogTool parses the connection summaries of the natlog daemon (Debian package natlog, which
// follows conntrack and logs each source-NATed connection when it ends) and of home-grown scripts
// in the same spirit:
//
//	Mar 14 02:41:07 edge-gw01 natlog[1730]: NATLOG: from 1741889359:402211 thru
//	1741891267:912254 (UTC): tcp 10.20.4.37:52144 (via: 203.0.113.10:41877) to
//	198.51.100.23:443; sent: 431877602, received: 9913021
//
// "from"/"thru" are seconds:microseconds since the epoch (the microseconds unpadded), or with
// natlog's --time option a "Jun  6 13:29:11:55588" stamp in UTC when "(UTC)" follows and in
// ParseContext.Location otherwise. "via" is the translated source (absent with --no-via), "to"
// the destination (absent with --no-dst, which makes the record unusable), and sent/received the
// byte counts (absent with --no-bytes). Each line is one finished connection: KindEnd, ev.Time the
// "thru" time, Duration thru minus from, CountersTotal when the counts are there.
//
// The ad-hoc shape is a syslog line whose message names its fields with words:
//
//	Mar 14 02:41:07 edge-gw01 natscript: tcp src 10.20.4.37:52144 nat 203.0.113.10:41877
//	dst 198.51.100.23:443 bytes 441790623
//
// src, dst and bytes are required; proto (or a bare protocol word), nat or via, sent, received,
// packets and duration (seconds) are read when present. "bytes" without "sent"/"received" is
// counted as OrigBytes. Such a line is KindEnd with CountersTotal and the header's time.
type NatlogTool struct{}

func init() { Register(NatlogTool{}) }

const natlogToolFormat = "natlog"

// Name returns "natlog".
func (NatlogTool) Name() string { return natlogToolFormat }

// Detect reports whether line holds natlog's "NATLOG: " tag, or has the words src, dst and bytes
// and no other vendor's tag.
func (NatlogTool) Detect(line []byte) bool {
	if bytes.Index(line, []byte("NATLOG: ")) >= 0 {
		return true
	}
	return isAdHocLine(line)
}

func isAdHocLine(line []byte) bool {
	if bytes.Index(line, []byte(" src ")) < 0 || bytes.Index(line, []byte(" dst ")) < 0 ||
		bytes.Index(line, []byte(" bytes ")) < 0 {
		return false
	}
	return bytes.IndexByte(line, '=') < 0 && bytes.Index(line, []byte("%ASA-")) < 0 &&
		bytes.Index(line, []byte("%FTD-")) < 0
}

// Parse fills ev from one natlog or ad-hoc line.
func (NatlogTool) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = natlogToolFormat
	ev.Action = ActionAccept
	ev.Kind = KindEnd
	tag := bytes.Index(line, []byte("NATLOG: "))
	if tag < 0 {
		return parseAdHoc(line, ctx, ev)
	}
	h := parseSyslogHeader(line[:tag], ctx)
	if ctx != nil {
		ctx.Host = h.Host
	}

	p := asaLine{b: line, i: tag + len("NATLOG: ")}
	if w := p.word(); !equalFoldASCII(w, "from") {
		return Skip(natlogToolFormat, ReasonMissingField, "from", w)
	}
	thru := indexFrom(line, p.i, " thru ")
	if thru < 0 {
		return Skip(natlogToolFormat, ReasonTruncated, "thru", tail(line))
	}
	rest := line[thru+len(" thru "):]
	colon := bytes.Index(rest, []byte("): "))
	if colon < 0 {
		colon = bytes.Index(rest, []byte(": "))
	} else {
		colon++ // past ')'
	}
	if colon < 0 {
		return Skip(natlogToolFormat, ReasonTruncated, "thru", tail(line))
	}
	utc := bytes.Contains(rest[:colon], []byte("(UTC)"))
	from, ok1 := natlogStamp(line[p.i:thru], utc, ctx)
	until, ok2 := natlogStamp(rest[:colon], utc, ctx)
	if !ok1 || !ok2 {
		return Skip(natlogToolFormat, ReasonBadTime, "from", line[p.i:thru])
	}
	ev.Time = until
	if !until.Before(from) {
		ev.Duration = until.Sub(from)
	}

	p.i = thru + len(" thru ") + colon + 1
	proto := p.word()
	if pr, ok := protoByName(proto); ok {
		ev.Proto = pr
	} else {
		return Skip(natlogToolFormat, ReasonBadNumber, "protocol", proto)
	}
	src := p.word()
	var err *SkipError
	if ev.Src, ev.SrcPort, err = natlogEndpoint(src, "source"); err != nil {
		return err
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)

	if p.expect("(via:") {
		via := bytes.TrimRight(p.word(), ");,")
		nat, port, err := natlogEndpoint(via, "via")
		if err != nil {
			return err
		}
		setSourceNAT(ev, nat, port)
	}
	if !p.expect("to") {
		return Skip(natlogToolFormat, ReasonMissingField, "to", nil)
	}
	dst := bytes.TrimRight(p.word(), ";")
	if ev.Dst, ev.DstPort, err = natlogEndpoint(dst, "destination"); err != nil {
		if p.i >= len(line) {
			err.Reason = ReasonTruncated
		}
		return err
	}
	clearICMPPorts(ev)

	for {
		w := p.word()
		if len(w) == 0 {
			break
		}
		var dstCount *uint64
		switch string(w) {
		case "sent:":
			dstCount = &ev.OrigBytes
		case "received:":
			dstCount = &ev.ReplyBytes
		default:
			continue
		}
		v := bytes.TrimRight(p.word(), ",;")
		n, ok := parseUint(v)
		if !ok {
			return Skip(natlogToolFormat, ReasonBadNumber, string(w[:len(w)-1]), v)
		}
		*dstCount = n
		ev.Counters = CountersTotal
	}
	return nil
}

// natlogStamp reads "1741889359:402211" or "Jun  6 13:29:11:55588", followed by an optional
// "(UTC)".
func natlogStamp(b []byte, utc bool, ctx *ParseContext) (time.Time, bool) {
	b = bytes.TrimSpace(b)
	if open := bytes.IndexByte(b, '('); open >= 0 {
		b = bytes.TrimSpace(b[:open])
	}
	colon := bytes.LastIndexByte(b, ':')
	if colon < 0 {
		return time.Time{}, false
	}
	usec, ok := parseUint(b[colon+1:])
	if !ok || usec >= 1_000_000 {
		return time.Time{}, false
	}
	if sec, ok := parseUint(b[:colon]); ok && sec < 1<<40 {
		return time.Unix(int64(sec), int64(usec)*1000).UTC(), true
	}
	var local ParseContext
	if ctx != nil {
		local = *ctx
	}
	if utc {
		local.Location = time.UTC
	}
	t, n, ok := parseBSDTime(b[:colon], &local)
	if !ok || n != colon {
		return time.Time{}, false
	}
	return t.Add(time.Duration(usec) * time.Microsecond).UTC(), true
}

// natlogEndpoint reads "10.20.4.37:52144", "[2001:db8::1]:443" or an address without a port.
func natlogEndpoint(b []byte, field string) (addr netip.Addr, port uint16, err *SkipError) {
	host, p := splitHostPort(b, ':')
	a, ok := parseAddr(host)
	if !ok {
		if a, ok = parseAddr(b); !ok {
			return a, 0, Skip(natlogToolFormat, ReasonBadAddress, field, b)
		}
		return a, 0, nil
	}
	if port, ok = optionalPort(p); !ok {
		return a, 0, Skip(natlogToolFormat, ReasonBadNumber, field, p)
	}
	return a, port, nil
}

// parseAdHoc reads the word-named shape: "… src A:p dst B:p … bytes N".
func parseAdHoc(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	h := parseSyslogHeader(line, ctx)
	ev.Time = h.Time
	if ctx != nil {
		ctx.Host = h.Host
	}
	p := asaLine{b: line, i: h.Message}
	var hasSrc, hasDst, hasBytes bool
	var total, sent, received uint64
	var hasSplit bool
	for {
		w := p.word()
		if len(w) == 0 {
			break
		}
		if pr, ok := protoByName(w); ok && ev.Proto == ProtoUnknown {
			ev.Proto = pr
			continue
		}
		switch string(w) {
		case "src", "dst", "nat", "via":
			v := bytes.TrimRight(p.word(), ",;")
			if isAbsent(v) {
				continue
			}
			a, port, err := natlogEndpoint(v, string(w))
			if err != nil {
				if p.i >= len(line) {
					err.Reason = ReasonTruncated
				}
				return err
			}
			switch w[0] {
			case 's':
				ev.Src, ev.SrcPort, hasSrc = a, port, true
			case 'd':
				ev.Dst, ev.DstPort, hasDst = a, port, true
			default:
				ev.NATSrc, ev.NATSrcPort = a, port
			}
		case "proto":
			if pr, ok := protoByName(p.word()); ok {
				ev.Proto = pr
			}
		case "bytes", "sent", "received", "packets", "duration":
			v := bytes.TrimRight(p.word(), ",;")
			n, ok := parseUint(v)
			if !ok {
				if p.i >= len(line) {
					return Skip(natlogToolFormat, ReasonTruncated, string(w), v)
				}
				return Skip(natlogToolFormat, ReasonBadNumber, string(w), v)
			}
			switch string(w) {
			case "bytes":
				total, hasBytes = n, true
			case "sent":
				sent, hasSplit = n, true
			case "received":
				received, hasSplit = n, true
			case "packets":
				ev.OrigPackets = n
			case "duration":
				if n < 1<<32 {
					ev.Duration = time.Duration(n) * time.Second
				}
			}
		}
	}
	switch {
	case !hasSrc:
		return Skip(natlogToolFormat, ReasonMissingField, "src", nil)
	case !hasDst:
		return Skip(natlogToolFormat, ReasonMissingField, "dst", nil)
	case !hasBytes && !hasSplit:
		return Skip(natlogToolFormat, ReasonMissingField, "bytes", nil)
	}
	nat, natPort := ev.NATSrc, ev.NATSrcPort
	ev.NATSrc, ev.NATSrcPort = netip.Addr{}, 0
	setSourceNAT(ev, nat, natPort)
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	clearICMPPorts(ev)
	ev.Counters = CountersTotal
	if hasSplit {
		ev.OrigBytes, ev.ReplyBytes = sent, received
	} else {
		ev.OrigBytes = total
	}
	return nil
}
