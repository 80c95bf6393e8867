package natlog

import (
	"net/netip"
	"time"
)

// Helpers shared by the firewall and NAT device parsers (asa.go, fortigate.go, junos.go and the
// rest): a key=value scanner, placeholder handling, NAT assignment and close-reason states. Like
// scan.go they work on bytes and allocate nothing.

// nextPair reads the key=value pair at or after i in b. Pairs are separated by sep, spaces, tabs
// and rsyslog's "#012"-style escapes. A value that starts with a double quote runs to the closing
// quote (a backslash escapes the next byte) and may hold spaces and separators; the quotes are
// not part of the value. An unquoted value runs to the next sep (or space when sep is ' '), with
// trailing spaces cut. A token without '=' comes back as a key with a nil value. ok is false when
// no token is left.
func nextPair(b []byte, i int, sep byte) (key, value []byte, next int, ok bool) {
	for i < len(b) && (b[i] == sep || isSpace(b[i]) || isOctalEscape(b, i)) {
		if isOctalEscape(b, i) {
			i += 4
		} else {
			i++
		}
	}
	if i >= len(b) {
		return nil, nil, i, false
	}

	start := i
	for i < len(b) && b[i] != '=' && b[i] != sep && !isSpace(b[i]) {
		i++
	}
	key = b[start:i]
	if i >= len(b) || b[i] != '=' {
		return key, nil, i, true
	}
	i++ // past '='

	if i < len(b) && b[i] == '"' {
		i++
		vstart := i
		for i < len(b) && b[i] != '"' {
			if b[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(b) {
			return key, b[vstart:], len(b), true // unterminated: the line was cut
		}
		return key, b[vstart:i], i + 1, true
	}

	vstart := i
	for i < len(b) && b[i] != sep && !(sep == ' ' && b[i] == '\t') && !isOctalEscape(b, i) {
		i++
	}
	end := i
	for end > vstart && isSpace(b[end-1]) {
		end--
	}
	return key, b[vstart:end], i, true
}

// isAbsent reports whether a field value is a placeholder for "no value": those isPlaceholder
// accepts plus "--", "NONE", "NULL" and all-zero dates ("0000/00/00 00:00:00").
func isAbsent(b []byte) bool {
	if isPlaceholder(b) {
		return true
	}
	switch string(b) {
	case "--", "NONE", "NULL", "Null", "null(null)", "N/A(N/A)", "-/-":
		return true
	}
	if len(b) >= 10 && string(b[:4]) == "0000" && (b[4] == '/' || b[4] == '-') {
		return true
	}
	return false
}

// optionalAddr parses an address field that may be a placeholder. A placeholder gives the zero
// Addr and ok.
func optionalAddr(b []byte) (netip.Addr, bool) {
	if isAbsent(b) {
		return netip.Addr{}, true
	}
	return parseAddr(b)
}

// optionalPort parses a port field that may be a placeholder, which reads as 0.
func optionalPort(b []byte) (uint16, bool) {
	if isAbsent(b) {
		return 0, true
	}
	return parsePort(b)
}

// optionalUint parses a counter that may be a placeholder. present is false for a placeholder.
func optionalUint(b []byte) (n uint64, present, ok bool) {
	if isAbsent(b) {
		return 0, false, true
	}
	n, ok = parseUint(b)
	return n, true, ok
}

// isUnspecified reports whether a is absent or the all-zero address, which devices print for
// "no translation".
func isUnspecified(a netip.Addr) bool {
	return !a.IsValid() || a.IsUnspecified()
}

// setSourceNAT records a translated source, unless it is absent, all zeros, or repeats the
// pre-NAT source (with the same port or no port).
func setSourceNAT(ev *ConnEvent, a netip.Addr, port uint16) {
	if isUnspecified(a) || (a == ev.Src && (port == ev.SrcPort || port == 0)) {
		return
	}
	ev.NATSrc, ev.NATSrcPort = a, port
}

// setDestinationNAT records a translated destination under the same rules as setSourceNAT.
func setDestinationNAT(ev *ConnEvent, a netip.Addr, port uint16) {
	if isUnspecified(a) || (a == ev.Dst && (port == ev.DstPort || port == 0)) {
		return
	}
	ev.NATDst, ev.NATDstPort = a, port
}

// clearICMPPorts zeroes the port fields of an ICMP event: devices print the ICMP identifier, or
// the type and code, where TCP and UDP have ports, and port rules must not match them.
func clearICMPPorts(ev *ConnEvent) {
	if ev.Proto != ProtoICMP && ev.Proto != ProtoICMPv6 {
		return
	}
	ev.SrcPort, ev.DstPort, ev.NATSrcPort, ev.NATDstPort = 0, 0, 0, 0
}

// icmpForFamily returns ICMPv6 for an ICMP event whose addresses are IPv6: some devices name
// both protocols "icmp".
func icmpForFamily(p Proto, src netip.Addr) Proto {
	if p == ProtoICMP && src.Is6() && !src.Is4In6() {
		return ProtoICMPv6
	}
	return p
}

// reasonState maps a vendor's close reason to a State: FIN closes give StateClosed, resets
// StateReset, a SYN or handshake timeout StateSYNOnly (TCP) or StateUnreplied, and anything else
// (ageing, idle timeouts, policy changes) StateUnknown for finishState to refine.
func reasonState(proto Proto, reason []byte) State {
	switch {
	case len(reason) == 0:
		return StateUnknown
	case containsFoldASCII(reason, "SYN TIMEOUT"), containsFoldASCII(reason, "SYN-TIMEOUT"),
		containsFoldASCII(reason, "HALF OPEN"), containsFoldASCII(reason, "UNREPLIED"):
		if proto == ProtoTCP {
			return StateSYNOnly
		}
		return StateUnreplied
	case containsWordFold(reason, "RST"), containsWordFold(reason, "RESET"):
		return StateReset
	case containsWordFold(reason, "FIN"), containsFoldASCII(reason, "NORMAL OVER"):
		return StateClosed
	}
	return StateUnknown
}

// containsWordFold reports whether b contains the upper-case ASCII word upper as a word of its
// own (a plural "s" allowed), ignoring case in b: "TCP FINs" and "tcp-rst-from-client" match,
// "FIRST" does not.
func containsWordFold(b []byte, upper string) bool {
	isLetter := func(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
	n := len(upper)
	for i := 0; i+n <= len(b); i++ {
		if !equalFoldUpper(b[i:i+n], upper) || (i > 0 && isLetter(b[i-1])) {
			continue
		}
		end := i + n
		if end < len(b) && (b[end]|0x20) == 's' {
			end++
		}
		if end == len(b) || !isLetter(b[end]) {
			return true
		}
	}
	return false
}

// equalFoldUpper reports whether b equals the upper-case ASCII word upper, ignoring case in b.
func equalFoldUpper(b []byte, upper string) bool {
	for i := range len(b) {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// finishState refines an unknown state from the counters of a record that carries totals: no
// packet back means a SYN without reply (TCP) or an unreplied flow. Packets both ways mean the
// connection was established.
func finishState(ev *ConnEvent) {
	if ev.State != StateUnknown || ev.Counters != CountersTotal || ev.OrigPackets == 0 {
		return
	}
	switch {
	case ev.ReplyPackets > 0:
		ev.State = StateEstablished
	case ev.Proto == ProtoTCP:
		ev.State = StateSYNOnly
	default:
		ev.State = StateUnreplied
	}
}

// parseHMS reads a duration written "h:mm:ss" (hours may exceed 24), as ASA prints it.
func parseHMS(b []byte) (time.Duration, bool) {
	first := -1
	for i, c := range b {
		if c == ':' {
			first = i
			break
		}
	}
	if first < 1 || len(b) != first+6 || b[first+3] != ':' {
		return 0, false
	}
	h, ok1 := parseUint(b[:first])
	m, ok2 := digits(b, first+1, 2)
	s, ok3 := digits(b, first+4, 2)
	if !ok1 || !ok2 || !ok3 || h > 1_000_000 || m > 59 || s > 59 {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second, true
}

// parseLocalDateTime reads "2025-03-14 02:41:07" or "2025/03/14 02:41:07" (the whole of b) in loc.
func parseLocalDateTime(b []byte, loc *time.Location) (time.Time, bool) {
	if len(b) < 19 || (b[4] != '-' && b[4] != '/') || b[7] != b[4] {
		return time.Time{}, false
	}
	var buf [40]byte
	if len(b) > len(buf) {
		return time.Time{}, false
	}
	n := copy(buf[:], b)
	buf[4], buf[7] = '-', '-'
	t, used, ok := parseISOTime(buf[:n], loc)
	if !ok || used != n {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// joinDateTime parses a date field ("2025-03-14") and a time field ("02:41:07") in loc, as
// FortiGate writes them.
func joinDateTime(date, clock []byte, loc *time.Location) (time.Time, bool) {
	var buf [40]byte
	if len(date) != 10 || len(clock) < 8 || len(date)+1+len(clock) > len(buf) {
		return time.Time{}, false
	}
	n := copy(buf[:], date)
	buf[n] = ' '
	n++
	n += copy(buf[n:], clock)
	return parseLocalDateTime(buf[:n], loc)
}

// stripKeyID cuts the "(1003)" field number from an H3C key such as "SrcIPAddr(1003)".
func stripKeyID(key []byte) []byte {
	if n := len(key); n > 2 && key[n-1] == ')' {
		for i := n - 2; i > 0; i-- {
			if key[i] == '(' {
				return key[:i]
			}
			if key[i] < '0' || key[i] > '9' {
				break
			}
		}
	}
	return key
}

// indexFrom returns the index of sub in b at or after i, or -1.
func indexFrom(b []byte, i int, sub string) int {
	if i < 0 || i > len(b) {
		return -1
	}
	n := len(sub)
	for j := i; j+n <= len(b); j++ {
		if b[j] == sub[0] && string(b[j:j+n]) == sub {
			return j
		}
	}
	return -1
}

// splitHostPort splits an endpoint such as "10.20.4.37:52144" or "[2001:db8::1]:443" at the last
// sep into host and port (nil when there is none). An IPv6 address without brackets and sep ':'
// is split only when the part before the last colon is itself an IPv6 address and the part after
// it a port number: "2001:db8::37:52144" gives "2001:db8::37" and "52144".
func splitHostPort(b []byte, sep byte) (host, port []byte) {
	if len(b) > 0 && b[0] == '[' {
		for i := 1; i < len(b); i++ {
			if b[i] == ']' {
				if i+1 < len(b) && b[i+1] == sep {
					return b[1:i], b[i+2:]
				}
				return b[1:i], nil
			}
		}
		return b, nil
	}
	last, colons := -1, 0
	for i, c := range b {
		if c == sep {
			last = i
		}
		if c == ':' {
			colons++
		}
	}
	if last < 0 {
		return b, nil
	}
	if sep == ':' && colons > 1 {
		_, hostOK := parseIPv6(b[:last])
		_, portOK := parsePort(b[last+1:])
		if !hostOK || !portOK {
			return b, nil
		}
	}
	return b[:last], b[last+1:]
}
