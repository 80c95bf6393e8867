package natlog

import (
	"bytes"
)

// IPTables parses packets logged by the Linux kernel's LOG target (iptables, ip6tables) and by
// nftables' log statement, which share one text layout:
//
//	Mar 14 02:17:43 edge-gw01 kernel: [884512.113207] DROP IN=eth0 OUT= MAC=… SRC=198.51.100.77
//	DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=3389
//	WINDOW=1024 RES=0x00 SYN URGP=0
//
// The syslog header, the kernel uptime and the free-text prefix are each optional, so a message
// that Fluent Bit's syslog parser already split off parses too. The prefix sets the action when it
// names one (see actionFromText). Each line is one packet: Kind is KindPacket, OrigBytes is the IP
// length and OrigPackets is 1. The parser reports the syslog host through ParseContext.Host.
type IPTables struct{}

func init() { Register(IPTables{}) }

const iptablesFormat = "iptables"

// Name returns "iptables".
func (IPTables) Name() string { return iptablesFormat }

// Detect reports whether line holds the "IN=… OUT=" pair that starts every kernel packet log.
func (IPTables) Detect(line []byte) bool {
	in := findIPTablesStart(line)
	return in >= 0 && bytes.Contains(line[in:], []byte(" OUT="))
}

// findIPTablesStart returns the index of the "IN=" token that starts the key=value part, or -1.
func findIPTablesStart(line []byte) int {
	if bytes.HasPrefix(line, []byte("IN=")) {
		return 0
	}
	i := bytes.Index(line, []byte(" IN="))
	if i < 0 {
		return -1
	}
	return i + 1
}

// Parse fills ev from one kernel LOG line.
func (IPTables) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	start := findIPTablesStart(line)
	if start < 0 {
		return Skip(iptablesFormat, ReasonMissingField, "IN", nil)
	}

	h := parseSyslogHeader(line[:start], ctx)
	ev.Time = h.Time
	if ctx != nil {
		ctx.Host = h.Host
	}
	ev.Action = actionFromText(logPrefix(line[h.Message:start]))
	ev.Format = iptablesFormat

	return parseIPTablesFields(line, start, ev)
}

// logPrefix returns the free-text prefix before "IN=", without the kernel uptime "[ 884512.113207]"
// that precedes it when printk timestamps are on.
func logPrefix(b []byte) []byte {
	i := skipSpaces(b, 0)
	if i < len(b) && b[i] == '[' {
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '.' || (b[j] >= '0' && b[j] <= '9')) {
			j++
		}
		if j < len(b) && b[j] == ']' {
			i = j + 1
		}
	}
	return bytes.TrimSpace(b[i:])
}

// iptablesFields collects what the key=value part of a line has shown so far.
type iptablesFields struct {
	src, dst, proto, length bool
	srcPort, dstPort        bool
	lastField               bool // URGP= (TCP) or the UDP LEN=, which the kernel prints last
	afterProto              bool // keys after PROTO= belong to the transport header
	fragment                bool // a non-first fragment carries no transport header
	incomplete              bool // the kernel logged "INCOMPLETE" for a short packet
}

// parseIPTablesFields reads the key=value part of a line from start.
func parseIPTablesFields(line []byte, start int, ev *ConnEvent) error {
	var seen iptablesFields
	i := start
	for {
		i = skipSeparators(line, i)
		if i >= len(line) || line[i] == '[' {
			// A '[' opens the header of the packet an ICMP error quotes, or the byte count after
			// INCOMPLETE. Neither describes this packet.
			break
		}
		end := separatorTokenEnd(line, i)
		token := line[i:end]
		i = end

		eq := bytes.IndexByte(token, '=')
		if eq < 0 {
			readIPTablesWord(token, &seen, ev)
			continue
		}
		if err := readIPTablesPair(token[:eq], token[eq+1:], &seen, ev); err != nil {
			if end == len(line) && (err.Reason == ReasonBadAddress || err.Reason == ReasonBadNumber) {
				err.Reason = ReasonTruncated // the line ends inside this value
			}
			return err
		}
	}

	return checkIPTablesFields(line, &seen, ev)
}

// readIPTablesWord handles a token without '=': a TCP flag, or a marker such as DF or INCOMPLETE.
func readIPTablesWord(word []byte, seen *iptablesFields, ev *ConnEvent) {
	if string(word) == "INCOMPLETE" {
		seen.incomplete = true
		return
	}
	if !seen.afterProto || ev.Proto != ProtoTCP {
		return // DF, MF and CE mark IP header bits
	}
	switch string(word) {
	case "FIN":
		ev.Flags |= FlagFIN
	case "SYN":
		ev.Flags |= FlagSYN
	case "RST":
		ev.Flags |= FlagRST
	case "PSH":
		ev.Flags |= FlagPSH
	case "ACK":
		ev.Flags |= FlagACK
	case "URG":
		ev.Flags |= FlagURG
	case "ECE":
		ev.Flags |= FlagECE
	case "CWR":
		ev.Flags |= FlagCWR
	}
}

// readIPTablesPair handles one key=value token. Keys natlog does not use are ignored.
func readIPTablesPair(key, value []byte, seen *iptablesFields, ev *ConnEvent) *SkipError {
	var ok bool
	switch string(key) {
	case "SRC":
		ev.Src, ok = parseAddr(value)
		seen.src = true
		return badValue(ok, ReasonBadAddress, "SRC", value)
	case "DST":
		ev.Dst, ok = parseAddr(value)
		seen.dst = true
		return badValue(ok, ReasonBadAddress, "DST", value)
	case "LEN":
		if seen.length {
			seen.lastField = seen.afterProto // the UDP header repeats LEN= with the datagram length
			return nil
		}
		seen.length = true
		ev.OrigBytes, ok = parseUint(value)
		return badValue(ok, ReasonBadNumber, "LEN", value)
	case "TTL":
		ev.TTL, ok = parseUint8(value)
		return badValue(ok, ReasonBadNumber, "TTL", value)
	case "HOPLIMIT":
		ev.TTL, ok = parseUint8(value)
		return badValue(ok, ReasonBadNumber, "HOPLIMIT", value)
	case "FRAG":
		offset, ok := parseUint(value)
		seen.fragment = offset != 0
		return badValue(ok, ReasonBadNumber, "FRAG", value)
	case "PROTO":
		ev.Proto, ok = parseIPTablesProto(value)
		seen.proto = true
		seen.afterProto = true
		return badValue(ok, ReasonBadNumber, "PROTO", value)
	}

	if !seen.afterProto {
		if string(key) == "ID" {
			var id uint64
			id, ok = parseUint(value)
			ev.IPID, ev.HasIPID = uint32(id), ok && id <= 0xffff
			return badValue(ev.HasIPID, ReasonBadNumber, "ID", value)
		}
		return nil
	}

	switch string(key) {
	case "URGP":
		seen.lastField = true
	case "SPT":
		ev.SrcPort, ok = parsePort(value)
		seen.srcPort = true
		return badValue(ok, ReasonBadNumber, "SPT", value)
	case "DPT":
		ev.DstPort, ok = parsePort(value)
		seen.dstPort = true
		return badValue(ok, ReasonBadNumber, "DPT", value)
	case "TYPE":
		if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
			ev.ICMPType, ok = parseUint8(value)
			ev.HasICMP = ok
			return badValue(ok, ReasonBadNumber, "TYPE", value)
		}
	case "CODE":
		if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
			ev.ICMPCode, ok = parseUint8(value)
			return badValue(ok, ReasonBadNumber, "CODE", value)
		}
	}
	return nil
}

// badValue returns a *SkipError for field when ok is false, else nil.
func badValue(ok bool, reason Reason, field string, value []byte) *SkipError {
	if ok {
		return nil
	}
	return Skip(iptablesFormat, reason, field, value)
}

// parseIPTablesProto reads the PROTO= value: a name the kernel prints, or a protocol number.
func parseIPTablesProto(b []byte) (Proto, bool) {
	switch string(b) {
	case "TCP":
		return ProtoTCP, true
	case "UDP":
		return ProtoUDP, true
	case "ICMP":
		return ProtoICMP, true
	case "ICMPv6":
		return ProtoICMPv6, true
	case "UDPLITE":
		return Proto(136), true
	case "ESP":
		return ProtoESP, true
	case "AH":
		return Proto(51), true
	case "SCTP":
		return ProtoSCTP, true
	case "GRE":
		return ProtoGRE, true
	}
	n, ok := parseUint8(b)
	return Proto(n), ok
}

// checkIPTablesFields rejects a line that lacks what every packet log has, and fills the fields
// that follow from the rest. The kernel ends a complete TCP header with URGP= and a UDP header
// with the datagram's LEN=, so a line without them was cut short even if its last port parsed.
func checkIPTablesFields(line []byte, seen *iptablesFields, ev *ConnEvent) error {
	switch {
	case !seen.src && !seen.dst:
		return Skip(iptablesFormat, ReasonNotConnection, "SRC", nil) // an ARP or bridge frame
	case !seen.src:
		return Skip(iptablesFormat, ReasonMissingField, "SRC", nil)
	case !seen.dst || !seen.proto:
		return Skip(iptablesFormat, ReasonTruncated, "PROTO", tail(line))
	}

	hasPorts := ev.Proto == ProtoTCP || ev.Proto == ProtoUDP || ev.Proto == Proto(136)
	if hasPorts && !seen.fragment && !seen.incomplete {
		switch {
		case !seen.srcPort:
			return Skip(iptablesFormat, ReasonTruncated, "SPT", tail(line))
		case !seen.dstPort:
			return Skip(iptablesFormat, ReasonTruncated, "DPT", tail(line))
		case !seen.lastField && ev.Proto == ProtoTCP:
			return Skip(iptablesFormat, ReasonTruncated, "URGP", tail(line))
		case !seen.lastField:
			return Skip(iptablesFormat, ReasonTruncated, "LEN", tail(line))
		}
	}

	ev.Kind = KindPacket
	ev.Counters = CountersPacket
	ev.OrigPackets = 1
	return nil
}

// tail returns the last bytes of line, for error values.
func tail(line []byte) []byte {
	if len(line) > 32 {
		return line[len(line)-32:]
	}
	return line
}
