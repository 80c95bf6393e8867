package natlog

import (
	"net/netip"
)

// Byte-level helpers shared by the raw-line parsers. They work on []byte without converting to
// string, so that parsing a line allocates nothing.

// parseUint parses a decimal number of at most 19 digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parsePort parses a decimal port number (0 to 65535).
func parsePort(b []byte) (uint16, bool) {
	if len(b) > 5 {
		return 0, false
	}
	n, ok := parseUint(b)
	if !ok || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// parseUint8 parses a decimal number from 0 to 255.
func parseUint8(b []byte) (uint8, bool) {
	if len(b) > 3 {
		return 0, false
	}
	n, ok := parseUint(b)
	if !ok || n > 255 {
		return 0, false
	}
	return uint8(n), true
}

// parseAddr parses an IPv4 address in dotted-decimal form or an IPv6 address without a zone.
// Unlike netip.ParseAddr it takes bytes and never allocates.
func parseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		switch c {
		case '.':
			return parseIPv4(b)
		case ':':
			return parseIPv6(b)
		}
	}
	return netip.Addr{}, false
}

// parseIPv4 parses a dotted-decimal IPv4 address. Leading zeros are rejected, as netip does.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var out [4]byte
	var ok bool
	if out, ok = parseIPv4Bytes(b); !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(out), true
}

func parseIPv4Bytes(b []byte) (out [4]byte, ok bool) {
	pos := 0
	for i := range 4 {
		if i > 0 {
			if pos >= len(b) || b[pos] != '.' {
				return out, false
			}
			pos++
		}
		start := pos
		val := 0
		for pos < len(b) && b[pos] >= '0' && b[pos] <= '9' {
			if pos > start && b[start] == '0' {
				return out, false
			}
			val = val*10 + int(b[pos]-'0')
			if val > 255 {
				return out, false
			}
			pos++
		}
		if pos == start {
			return out, false
		}
		out[i] = byte(val)
	}
	return out, pos == len(b)
}

// parseIPv6 parses an IPv6 address in RFC 4291 text form, including "::" and an embedded IPv4
// tail. Zones ("%eth0") are rejected, because no log field natlog reads carries one.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // index in ip where "::" is, or -1

	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		b = b[2:]
		if len(b) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}

	i := 0
	for i < 16 {
		// One group of up to four hex digits.
		off := 0
		acc := uint32(0)
		for off < len(b) {
			d := hexDigit(b[off])
			if d < 0 {
				break
			}
			if off >= 4 {
				return netip.Addr{}, false
			}
			acc = acc<<4 + uint32(d)
			off++
		}
		if off == 0 {
			return netip.Addr{}, false
		}

		// An embedded IPv4 address takes the last four bytes.
		if off < len(b) && b[off] == '.' {
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4Bytes(b)
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			b = b[len(b):]
			break
		}

		ip[i] = byte(acc >> 8)
		ip[i+1] = byte(acc)
		i += 2
		b = b[off:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			b = b[1:]
			if len(b) == 0 {
				break
			}
		}
	}
	if len(b) != 0 {
		return netip.Addr{}, false
	}

	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

// hexDigit returns the value of the hexadecimal digit c, or -1.
func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// equalFoldASCII reports whether b equals the lower-case ASCII word lower, ignoring case in b.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether b contains the upper-case ASCII word upper, ignoring case in b.
func containsFoldASCII(b []byte, upper string) bool {
	n := len(upper)
	for i := 0; i+n <= len(b); i++ {
		j := 0
		for ; j < n; j++ {
			c := b[i+j]
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != upper[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// actionFromText returns the action named by a free-text log prefix such as "[UFW BLOCK]" or
// "nft drop: ". DROP, BLOCK and DENY mean drop, REJECT means reject, ACCEPT, ALLOW and PERMIT
// mean accept, in any letter case. A prefix naming none of them gives ActionUnknown.
func actionFromText(b []byte) Action {
	drop, accept := false, false
	for i := range b {
		switch upperASCII(b[i]) {
		case 'R':
			if hasPrefixFoldASCII(b[i:], "REJECT") {
				return ActionReject
			}
		case 'D':
			drop = drop || hasPrefixFoldASCII(b[i:], "DROP") || hasPrefixFoldASCII(b[i:], "DENY")
		case 'B':
			drop = drop || hasPrefixFoldASCII(b[i:], "BLOCK")
		case 'A':
			accept = accept || hasPrefixFoldASCII(b[i:], "ACCEPT") || hasPrefixFoldASCII(b[i:], "ALLOW")
		case 'P':
			accept = accept || hasPrefixFoldASCII(b[i:], "PERMIT")
		}
	}
	switch {
	case drop:
		return ActionDrop
	case accept:
		return ActionAccept
	}
	return ActionUnknown
}

func upperASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// hasPrefixFoldASCII reports whether b starts with upper, comparing ASCII letters in any case.
func hasPrefixFoldASCII(b []byte, upper string) bool {
	if len(b) < len(upper) {
		return false
	}
	for j := range len(upper) {
		if upperASCII(b[j]) != upper[j] {
			return false
		}
	}
	return true
}

// cutAtNUL returns line up to its first NUL byte. Some syslog relays keep the C string
// terminator, and nothing after it belongs to the message.
func cutAtNUL(line []byte) []byte {
	for i, c := range line {
		if c == 0 {
			return line[:i]
		}
	}
	return line
}

// isSpace reports whether c separates tokens: a space or a tab.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// skipSpaces returns the index of the first byte at or after i that is not a space or tab.
func skipSpaces(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// tokenEnd returns the index of the first space or tab at or after i, or len(b).
func tokenEnd(b []byte, i int) int {
	for i < len(b) && !isSpace(b[i]) {
		i++
	}
	return i
}

// skipSeparators skips spaces, tabs and the "#012"-style octal escapes that rsyslog writes
// in place of control characters.
func skipSeparators(b []byte, i int) int {
	for i < len(b) {
		switch {
		case isSpace(b[i]):
			i++
		case isOctalEscape(b, i):
			i += 4
		default:
			return i
		}
	}
	return i
}

// separatorTokenEnd returns the end of the token at i: the next space, tab or octal escape.
func separatorTokenEnd(b []byte, i int) int {
	for i < len(b) && !isSpace(b[i]) && !isOctalEscape(b, i) {
		i++
	}
	return i
}

// isOctalEscape reports whether b[i:] starts with '#' and three octal digits, as rsyslog escapes
// control characters ("#012" for a line feed).
func isOctalEscape(b []byte, i int) bool {
	if i+4 > len(b) || b[i] != '#' {
		return false
	}
	for _, c := range b[i+1 : i+4] {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}
