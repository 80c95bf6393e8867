package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// Conntrack parses the event lines of `conntrack -E` (conntrack-tools), with or without the
// `-o timestamp`, `-o extended` and `-o id` options:
//
//	[1741889359.402211]	    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37
//	dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10
//	sport=443 dport=41877
//
// The first tuple is the connection as the initiator sent it, the second the reply as the gateway
// expects it after NAT. A reply destination other than the original source means source NAT
// (NATSrc, NATSrcPort), and a reply source other than the original destination means destination
// NAT (NATDst, NATDstPort). [NEW] gives KindStart, [UPDATE] KindInterim and [DESTROY] KindEnd.
// Time comes from the `-o timestamp` prefix only; without it ev.Time stays zero.
//
// With flow accounting on (net.netfilter.nf_conntrack_acct=1) each tuple is followed by
// packets= and bytes=. Only [DESTROY] counters are kept, as CountersTotal, because an [UPDATE]
// prints running totals that a meter summing records would count twice.
//
// State follows the TCP state word and the status flags:
//
//	[UNREPLIED] with SYN_SENT, or TCP with no state word   StateSYNOnly
//	[UNREPLIED] on any other protocol or TCP state         StateUnreplied
//	CLOSE (conntrack enters it on a RST)                   StateReset
//	SYN_RECV, ESTABLISHED, or [ASSURED] with no state word StateEstablished
//	FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT              StateClosed
//	UDP, ICMP and other protocols with a reply seen        StateEstablished
type Conntrack struct{}

func init() { Register(Conntrack{}) }

const conntrackFormat = "conntrack"

// Name returns "conntrack".
func (Conntrack) Name() string { return conntrackFormat }

// Detect reports whether line starts with a conntrack event tag, after the optional timestamp.
func (Conntrack) Detect(line []byte) bool {
	_, _, i, ok := conntrackPrefix(line)
	if !ok {
		return false
	}
	rest := line[i:]
	return bytes.HasPrefix(rest, []byte("[NEW]")) ||
		bytes.HasPrefix(rest, []byte("[UPDATE]")) ||
		bytes.HasPrefix(rest, []byte("[DESTROY]"))
}

// conntrackPrefix reads the optional "[1741889359.402211]" prefix and the spaces after it. It
// returns the time (zero without a prefix), whether a prefix was present, and where the event
// tag starts. ok is false when a prefix is present but malformed.
func conntrackPrefix(line []byte) (t time.Time, hasTime bool, next int, ok bool) {
	i := skipSpaces(line, 0)
	if i+1 < len(line) && line[i] == '[' && line[i+1] >= '0' && line[i+1] <= '9' {
		end := bytes.IndexByte(line[i:], ']')
		if end < 0 {
			return time.Time{}, false, i, false
		}
		t, ok = parseEpoch(line[i+1 : i+end])
		if !ok {
			return time.Time{}, false, i, false
		}
		return t, true, skipSpaces(line, i+end+1), true
	}
	return time.Time{}, false, i, true
}

// conntrackTuple is one direction's tuple and counters.
type conntrackTuple struct {
	src, dst         bool
	sport, dport     uint16
	packets, bytes   uint64
	hasCounters      bool
	srcAddr, dstAddr netip.Addr
}

// conntrackLine collects the parts of one event line.
type conntrackLine struct {
	tuple     [2]conntrackTuple
	tuples    int // tuples started so far (a "src=" starts one)
	state     []byte
	unreplied bool
	assured   bool
	deltaTime uint64
	hasDelta  bool
}

// Parse fills ev from one `conntrack -E` line.
func (Conntrack) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	t, _, i, ok := conntrackPrefix(line)
	if !ok {
		return Skip(conntrackFormat, ReasonBadTime, "timestamp", line[:min(len(line), 24)])
	}
	ev.Time = t
	ev.Format = conntrackFormat
	ev.Action = ActionAccept

	end := tokenEnd(line, i)
	switch string(line[i:end]) {
	case "[NEW]":
		ev.Kind = KindStart
	case "[UPDATE]":
		ev.Kind = KindInterim
	case "[DESTROY]":
		ev.Kind = KindEnd
	default:
		return Skip(conntrackFormat, ReasonNotConnection, "event", line[i:end])
	}

	var c conntrackLine
	i, err := parseConntrackHeader(line, end, &c, ev)
	if err != nil {
		return err
	}
	if err := parseConntrackFields(line, i, &c, ev); err != nil {
		return err
	}
	return finishConntrack(line, &c, ev)
}

// parseConntrackHeader reads "[ipv4 2] tcp 6 [120] [SYN_SENT]", the words between the event tag
// and the first tuple, and returns the index of the first key=value token.
func parseConntrackHeader(line []byte, i int, c *conntrackLine, ev *ConnEvent) (int, *SkipError) {
	var words [6][]byte
	n := 0
	for {
		i = skipSpaces(line, i)
		end := tokenEnd(line, i)
		if i >= len(line) || bytes.IndexByte(line[i:end], '=') >= 0 || line[i] == '[' {
			break
		}
		if n == len(words) {
			return i, Skip(conntrackFormat, ReasonNotConnection, "protocol", line[i:end])
		}
		words[n] = line[i:end]
		n++
		i = end
	}

	w := words[:n]
	if len(w) >= 2 && (string(w[0]) == "ipv4" || string(w[0]) == "ipv6") {
		w = w[2:]
	}
	if len(w) < 2 {
		return i, Skip(conntrackFormat, ReasonTruncated, "protocol", tail(line))
	}
	proto, ok := parseUint8(w[1])
	if !ok {
		return i, Skip(conntrackFormat, ReasonBadNumber, "protocol", w[1])
	}
	ev.Proto = Proto(proto)
	w = w[2:]

	// What remains is the timeout (absent on [DESTROY]) and the protocol state word.
	for _, word := range w {
		if _, isNumber := parseUint(word); !isNumber {
			c.state = word
		}
	}
	return i, nil
}

// parseConntrackFields reads the tuples, counters and flags from i to the end of the line.
func parseConntrackFields(line []byte, i int, c *conntrackLine, ev *ConnEvent) *SkipError {
	for {
		i = skipSeparators(line, i)
		if i >= len(line) {
			return nil
		}
		end := separatorTokenEnd(line, i)
		token := line[i:end]

		if token[0] == '[' {
			// A flag such as [UNREPLIED], or "[start=Fri Mar 14 02:09:19 2025]", which has spaces.
			if bytes.IndexByte(token, ']') < 0 {
				if j := bytes.IndexByte(line[end:], ']'); j >= 0 {
					end += j + 1
				} else {
					end = len(line)
				}
			}
			switch string(token) {
			case "[UNREPLIED]":
				c.unreplied = true
			case "[ASSURED]":
				c.assured = true
			}
			i = end
			continue
		}

		eq := bytes.IndexByte(token, '=')
		if eq < 0 {
			i = end
			continue
		}
		if err := readConntrackPair(token[:eq], token[eq+1:], c, ev); err != nil {
			if end == len(line) && (err.Reason == ReasonBadAddress || err.Reason == ReasonBadNumber) {
				err.Reason = ReasonTruncated // the line ends inside this value
			}
			return err
		}
		i = end
	}
}

// readConntrackPair handles one key=value token. Keys natlog does not use (mark, use, zone,
// secctx, labels, helper, the conntrack id) are ignored.
func readConntrackPair(key, value []byte, c *conntrackLine, ev *ConnEvent) *SkipError {
	if string(key) == "src" {
		if c.tuples == len(c.tuple) {
			return Skip(conntrackFormat, ReasonNotConnection, "src", value)
		}
		c.tuples++
	}
	if c.tuples == 0 {
		return nil
	}
	t := &c.tuple[c.tuples-1]

	var ok bool
	switch string(key) {
	case "src":
		t.srcAddr, ok = parseAddr(value)
		t.src = true
		return conntrackBadValue(ok, ReasonBadAddress, "src", value)
	case "dst":
		t.dstAddr, ok = parseAddr(value)
		t.dst = true
		return conntrackBadValue(ok, ReasonBadAddress, "dst", value)
	case "sport":
		t.sport, ok = parsePort(value)
		return conntrackBadValue(ok, ReasonBadNumber, "sport", value)
	case "dport":
		t.dport, ok = parsePort(value)
		return conntrackBadValue(ok, ReasonBadNumber, "dport", value)
	case "packets":
		t.packets, ok = parseUint(value)
		t.hasCounters = true
		return conntrackBadValue(ok, ReasonBadNumber, "packets", value)
	case "bytes":
		t.bytes, ok = parseUint(value)
		t.hasCounters = true
		return conntrackBadValue(ok, ReasonBadNumber, "bytes", value)
	case "delta-time":
		c.deltaTime, ok = parseUint(value)
		c.hasDelta = ok
		return conntrackBadValue(ok, ReasonBadNumber, "delta-time", value)
	}

	if c.tuples != 1 {
		return nil
	}
	switch string(key) {
	case "type":
		ev.ICMPType, ok = parseUint8(value)
		ev.HasICMP = ok
		return conntrackBadValue(ok, ReasonBadNumber, "type", value)
	case "code":
		ev.ICMPCode, ok = parseUint8(value)
		return conntrackBadValue(ok, ReasonBadNumber, "code", value)
	}
	return nil
}

func conntrackBadValue(ok bool, reason Reason, field string, value []byte) *SkipError {
	if ok {
		return nil
	}
	return Skip(conntrackFormat, reason, field, value)
}

// finishConntrack checks that both tuples are complete and derives NAT, state and counters.
func finishConntrack(line []byte, c *conntrackLine, ev *ConnEvent) error {
	orig, reply := &c.tuple[0], &c.tuple[1]
	switch {
	case c.tuples == 0:
		return Skip(conntrackFormat, ReasonTruncated, "src", tail(line))
	case !orig.dst:
		return Skip(conntrackFormat, ReasonTruncated, "dst", tail(line))
	case c.tuples < 2 || !reply.dst:
		return Skip(conntrackFormat, ReasonTruncated, "reply", tail(line))
	}

	ev.Src, ev.Dst = orig.srcAddr, orig.dstAddr
	ev.SrcPort, ev.DstPort = orig.sport, orig.dport
	if reply.dstAddr != orig.srcAddr || reply.dport != orig.sport {
		ev.NATSrc, ev.NATSrcPort = reply.dstAddr, reply.dport
	}
	if reply.srcAddr != orig.dstAddr || reply.sport != orig.dport {
		ev.NATDst, ev.NATDstPort = reply.srcAddr, reply.sport
	}

	ev.State = conntrackState(ev.Proto, c.state, c.unreplied, c.assured)

	if ev.Kind == KindEnd && (orig.hasCounters || reply.hasCounters) {
		ev.Counters = CountersTotal
		ev.OrigBytes, ev.OrigPackets = orig.bytes, orig.packets
		ev.ReplyBytes, ev.ReplyPackets = reply.bytes, reply.packets
	}
	if c.hasDelta {
		ev.Duration = time.Duration(c.deltaTime) * time.Second
	}
	return nil
}

// conntrackState maps the TCP state word and the status flags to a State, as the Conntrack doc
// comment lists.
func conntrackState(proto Proto, word []byte, unreplied, assured bool) State {
	if proto != ProtoTCP {
		if unreplied {
			return StateUnreplied
		}
		return StateEstablished
	}

	switch string(word) {
	case "":
		switch {
		case unreplied:
			return StateSYNOnly
		case assured:
			return StateEstablished
		}
		return StateUnknown
	case "SYN_SENT":
		if unreplied {
			return StateSYNOnly
		}
	case "CLOSE":
		return StateReset
	case "SYN_RECV", "ESTABLISHED":
		return StateEstablished
	case "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT":
		return StateClosed
	}
	if unreplied {
		return StateUnreplied
	}
	return StateUnknown
}
