package natlog

import (
	"time"
)

// syslogHeader is the part of a syslog line before the message.
type syslogHeader struct {
	Time    time.Time // zero when the line has no timestamp
	Host    []byte    // nil when absent or "-"
	Message int       // index in the line where the message starts
}

// parseSyslogHeader reads the header of a syslog line in any of the shapes that files, journald
// and relays write:
//
//	<4>Mar 14 02:17:43 edge-gw01 kernel: msg           RFC 3164, with or without the priority
//	Mar 14 02:17:43.113207 edge-gw01 kernel: msg       journalctl -o short-precise
//	2025-03-14T02:17:43.123456+08:00 edge-gw01 kernel: msg   rsyslog high precision, short-iso
//	<4>1 2025-03-14T02:17:43Z edge-gw01 kernel - - - msg     RFC 5424
//
// A line that starts with none of these has no header: Message is 0 and the whole line is the
// message. The tag ("kernel:", "kernel[0]:") is optional, and so is the host when a tag follows
// the timestamp directly.
func parseSyslogHeader(line []byte, ctx *ParseContext) syslogHeader {
	i := 0
	if len(line) > 2 && line[0] == '<' {
		j := 1
		for j < len(line) && j < 5 && line[j] >= '0' && line[j] <= '9' {
			j++
		}
		if j > 1 && j < len(line) && line[j] == '>' {
			i = j + 1
		}
	}

	if i+2 < len(line) && line[i] == '1' && line[i+1] == ' ' {
		if h, ok := parseRFC5424Header(line, i+2, ctx); ok {
			return h
		}
	}

	var h syslogHeader
	t, n, ok := parseBSDTime(line[i:], ctx)
	if !ok {
		t, n, ok = parseISOTime(line[i:], ctx.location())
	}
	if !ok || i+n >= len(line) || !isSpace(line[i+n]) {
		return syslogHeader{}
	}
	h.Time = t
	i = skipSpaces(line, i+n)

	// Host, then tag. A first token that ends in ':' is a tag without a host, and one that
	// starts with '[' or holds '=' already belongs to the message.
	end := tokenEnd(line, i)
	if looksLikeMessage(line[i:end]) {
		h.Message = i
		return h
	}
	if isTag(line[i:end]) {
		h.Message = skipSpaces(line, end)
		return h
	}
	h.Host = hostOrNil(line[i:end])
	i = skipSpaces(line, end)

	end = tokenEnd(line, i)
	if isTag(line[i:end]) {
		i = skipSpaces(line, end)
	}
	h.Message = i
	return h
}

// parseRFC5424Header reads "TIMESTAMP HOST APP PROCID MSGID SD " starting at i, just after the
// version.
func parseRFC5424Header(line []byte, i int, ctx *ParseContext) (syslogHeader, bool) {
	var h syslogHeader
	if i < len(line) && line[i] == '-' {
		i++
	} else {
		t, n, ok := parseISOTime(line[i:], ctx.location())
		if !ok {
			return h, false
		}
		h.Time = t
		i += n
	}
	if i >= len(line) || line[i] != ' ' {
		return h, false
	}

	// HOSTNAME, APP-NAME, PROCID, MSGID: one token each.
	for field := range 4 {
		i = skipSpaces(line, i)
		end := tokenEnd(line, i)
		if end == i {
			return h, false
		}
		if field == 0 {
			h.Host = hostOrNil(line[i:end])
		}
		i = end
	}

	// STRUCTURED-DATA: "-" or one or more "[id k="v" …]" elements, where "\]" escapes a bracket.
	i = skipSpaces(line, i)
	switch {
	case i < len(line) && line[i] == '-':
		i++
	case i < len(line) && line[i] == '[':
		for i < len(line) && line[i] == '[' {
			i++
			for i < len(line) && line[i] != ']' {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			i++ // past ']'
		}
	default:
		return h, false
	}
	h.Message = min(skipSpaces(line, i), len(line))
	return h, true
}

// isTag reports whether token is a syslog tag such as "kernel:" or "kernel[0]:".
func isTag(token []byte) bool {
	return len(token) > 1 && token[len(token)-1] == ':'
}

// looksLikeMessage reports whether token cannot be a host name or tag: a kernel uptime
// "[884512.113207]", a bracketed log prefix, or a key=value pair.
func looksLikeMessage(token []byte) bool {
	if len(token) == 0 || token[0] == '[' {
		return true
	}
	for _, c := range token {
		if c == '=' {
			return true
		}
	}
	return false
}

// hostOrNil returns the host name token, or nil for the "-" placeholder.
func hostOrNil(token []byte) []byte {
	if len(token) == 0 || (len(token) == 1 && token[0] == '-') {
		return nil
	}
	return token
}
