package natlog

import (
	"bytes"
	"time"
)

// PANOS parses Palo Alto Networks PAN-OS TRAFFIC logs: comma-separated values after a syslog
// header (BSD or IETF), in the column order PAN-OS has kept since 7.x:
//
//	Mar 14 02:41:08 PA-3220-EDGE 1,2025/03/14 02:41:08,013201009999,TRAFFIC,end,2561,
//	2025/03/14 02:41:07,10.20.4.37,198.51.100.23,203.0.113.10,198.51.100.23,lan-to-internet,,,
//	ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd-syslog,2025/03/14 02:41:07,118822,1,
//	52144,443,41877,443,0x400053,tcp,allow,441790623,431877602,9913021,442110,
//	2025/03/14 02:09:19,1908,…,291877,150233,tcp-fin,…
//
// Columns used (from 0): 3 type, 4 subtype, 6 generated time, 7 source, 8 destination, 9 NAT
// source, 10 NAT destination, 24–27 source, destination, NAT source and NAT destination port,
// 29 protocol, 30 action, 31 bytes, 32 bytes sent, 33 bytes received, 34 packets, 36 elapsed
// seconds, 44 packets sent, 45 packets received, 46 session end reason. PAN-OS 8.x to 11.x only
// add columns after these, so any line with at least 37 columns parses; the packet split and the
// end reason are used when present. Quoted fields may hold commas.
//
// NAT addresses of 0.0.0.0 (and ports of 0) mean no translation. The generated time has no zone
// and is read in ParseContext.Location. Subtype start gives KindStart without counters (the
// bytes it shows are counted again at the end), end gives KindEnd with CountersTotal, drop and deny
// give KindPacket with ActionDrop. Sent is the client's direction (Orig), received the server's.
type PANOS struct{}

func init() { Register(PANOS{}) }

const panosFormat = "panos"

// panosMinColumns is the number of columns a TRAFFIC line needs, up to elapsed time.
const panosMinColumns = 37

// Name returns "panos".
func (PANOS) Name() string { return panosFormat }

// Detect reports whether line has a ",TRAFFIC," column after a "yyyy/mm/dd hh:mm:ss,serial"
// pair, as every PAN-OS traffic log does.
func (PANOS) Detect(line []byte) bool {
	i := bytes.Index(line, []byte(",TRAFFIC,"))
	if i < 21 {
		return false
	}
	serialStart := bytes.LastIndexByte(line[:i], ',')
	if serialStart < 20 {
		return false
	}
	stamp := line[serialStart-19 : serialStart]
	return stamp[4] == '/' && stamp[7] == '/' && stamp[10] == ' ' && stamp[13] == ':'
}

// Parse fills ev from one PAN-OS traffic log line.
func (PANOS) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	h := parseSyslogHeader(line, ctx)
	if ctx != nil {
		ctx.Host = h.Host
	}
	ev.Format = panosFormat

	var cols [48][]byte
	n := splitCSV(line[h.Message:], cols[:])
	if n < 5 || string(cols[3]) != "TRAFFIC" {
		return Skip(panosFormat, ReasonNotConnection, "type", cols[min(n, 4)])
	}
	if n < panosMinColumns {
		return Skip(panosFormat, ReasonTruncated, panosColumnName(n), tail(line))
	}

	if t, ok := parseLocalDateTime(cols[6], ctx.location()); ok {
		ev.Time = t
	} else {
		ev.Time = h.Time
	}
	if err := panosTuple(&cols, ev); err != nil {
		return err
	}
	return panosCounters(&cols, n, ev)
}

// splitCSV splits b at commas into out and returns the number of fields (at most len(out)). A
// field in double quotes may hold commas; its value is the text between the quotes.
func splitCSV(b []byte, out [][]byte) int {
	n := 0
	i := 0
	for n < len(out) {
		if i < len(b) && b[i] == '"' {
			end := i + 1
			for end < len(b) {
				if b[end] == '"' {
					if end+1 < len(b) && b[end+1] == '"' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			out[n] = b[i+1 : min(end, len(b))]
			n++
			i = end + 1
			if i >= len(b) {
				return n
			}
			if b[i] == ',' {
				i++
			}
			continue
		}
		comma := bytes.IndexByte(b[i:], ',')
		if comma < 0 {
			out[n] = b[i:]
			return n + 1
		}
		out[n] = b[i : i+comma]
		n++
		i += comma + 1
	}
	return n
}

// panosColumnName names the first missing column of a short line.
func panosColumnName(n int) string {
	switch {
	case n <= 7:
		return "source"
	case n <= 24:
		return "source port"
	case n <= 29:
		return "protocol"
	case n <= 31:
		return "bytes"
	}
	return "elapsed"
}

// panosTuple fills protocol, addresses, ports and NAT from the columns.
func panosTuple(cols *[48][]byte, ev *ConnEvent) error {
	var ok bool
	if ev.Src, ok = parseAddr(cols[7]); !ok {
		return Skip(panosFormat, ReasonBadAddress, "source", cols[7])
	}
	if ev.Dst, ok = parseAddr(cols[8]); !ok {
		return Skip(panosFormat, ReasonBadAddress, "destination", cols[8])
	}
	natSrc, ok1 := optionalAddr(cols[9])
	natDst, ok2 := optionalAddr(cols[10])
	if !ok1 || !ok2 {
		return Skip(panosFormat, ReasonBadAddress, "NAT address", cols[9])
	}
	var ports [4]uint16
	for k := range ports {
		if ports[k], ok = optionalPort(cols[24+k]); !ok {
			return Skip(panosFormat, ReasonBadNumber, "port", cols[24+k])
		}
	}
	ev.SrcPort, ev.DstPort = ports[0], ports[1]

	switch p, byName := protoByName(cols[29]); {
	case byName:
		ev.Proto = p
	default:
		n, ok := parseUint8(cols[29])
		if !ok && !isAbsent(cols[29]) {
			return Skip(panosFormat, ReasonBadNumber, "protocol", cols[29])
		}
		ev.Proto = Proto(n)
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)

	setSourceNAT(ev, natSrc, ports[2])
	setDestinationNAT(ev, natDst, ports[3])
	clearICMPPorts(ev)
	return nil
}

// panosCounters sets kind, action, counters, duration and state.
func panosCounters(cols *[48][]byte, n int, ev *ConnEvent) error {
	switch string(cols[30]) {
	case "allow":
		ev.Action = ActionAccept
	case "reset-client", "reset-server", "reset-both":
		ev.Action = ActionReject
	default:
		ev.Action = actionFromText(cols[30])
		if ev.Action == ActionUnknown && len(cols[30]) >= 4 && string(cols[30][:4]) == "drop" {
			ev.Action = ActionDrop
		}
	}

	switch string(cols[4]) {
	case "start":
		ev.Kind = KindStart
		return nil
	case "end":
		ev.Kind = KindEnd
	case "drop", "deny":
		ev.Kind = KindPacket
		if ev.Action == ActionAccept || ev.Action == ActionUnknown {
			ev.Action = ActionDrop
		}
	default:
		return Skip(panosFormat, ReasonNotConnection, "subtype", cols[4])
	}

	values := [3]struct {
		name string
		col  int
		dst  *uint64
	}{
		{"bytes sent", 32, &ev.OrigBytes},
		{"bytes received", 33, &ev.ReplyBytes},
		{"packets sent", 44, &ev.OrigPackets},
	}
	for _, v := range values {
		if v.col >= n {
			continue
		}
		c, _, ok := optionalUint(cols[v.col])
		if !ok {
			return Skip(panosFormat, ReasonBadNumber, v.name, cols[v.col])
		}
		*v.dst = c
	}
	if n > 45 {
		c, _, ok := optionalUint(cols[45])
		if !ok {
			return Skip(panosFormat, ReasonBadNumber, "packets received", cols[45])
		}
		ev.ReplyPackets = c
	} else if total, ok := parseUint(cols[34]); ok {
		ev.OrigPackets = total // no split before PAN-OS 7: all packets count as sent
	}
	if ev.OrigBytes == 0 && ev.ReplyBytes == 0 {
		if total, ok := parseUint(cols[31]); ok {
			ev.OrigBytes = total
		}
	}
	ev.Counters = CountersTotal

	if d, ok := parseUint(cols[36]); ok && d < 1<<32 {
		ev.Duration = time.Duration(d) * time.Second
	}
	if n > 46 {
		ev.State = reasonState(ev.Proto, cols[46])
	}
	finishState(ev)
	return nil
}
