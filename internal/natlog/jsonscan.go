package natlog

import "net/netip"

// A small JSON scanner for the cloud and flow-log formats that arrive as one JSON document per
// line. It walks objects and arrays in place and returns values as sub-slices of the line, so
// reading a record allocates nothing. It checks structure only as far as it walks: a value that
// no parser reads is skipped by bracket counting, and an invalid document ends the walk with
// an error flag instead of a panic.

// jsonKind is the type of a JSON value.
type jsonKind uint8

const (
	jsonInvalid jsonKind = iota
	jsonString
	jsonNumber
	jsonObject
	jsonArray
	jsonBool
	jsonNull
)

// jsonValue is one JSON value inside a line. For a string, raw is the text between the quotes,
// still escaped when escaped is set. For every other kind, raw is the value's whole text.
type jsonValue struct {
	raw     []byte
	kind    jsonKind
	escaped bool
}

// jsonMaxDepth bounds how deeply nested a skipped value may be. No format natlog reads nests
// deeper than 8 levels.
const jsonMaxDepth = 64

// jsonIter iterates the members of an object or the elements of an array.
type jsonIter struct {
	data []byte
	pos  int
	end  byte // '}' or ']'
	done bool
	err  bool
}

// jsonObjectIter returns an iterator over the object that b holds. Leading spaces are skipped;
// ok is false when b does not start with '{'.
func jsonObjectIter(b []byte) (it jsonIter, ok bool) {
	i := jsonSkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return jsonIter{done: true, err: true}, false
	}
	return jsonIter{data: b, pos: i + 1, end: '}'}, true
}

// iter returns an iterator over v's members (an object) or elements (an array). An iterator over
// any other kind yields nothing.
func (v jsonValue) iter() jsonIter {
	switch v.kind {
	case jsonObject:
		return jsonIter{data: v.raw, pos: 1, end: '}'}
	case jsonArray:
		return jsonIter{data: v.raw, pos: 1, end: ']'}
	}
	return jsonIter{done: true}
}

// nextMember returns the next key and value of an object. ok is false at the end of the object
// or at the first syntax error, which also sets it.err. The key is raw (still escaped).
func (it *jsonIter) nextMember() (key []byte, val jsonValue, ok bool) {
	if !it.advance() {
		return nil, jsonValue{}, false
	}
	b := it.data
	if it.pos >= len(b) || b[it.pos] != '"' {
		return it.fail()
	}
	end, _, ok := jsonStringEnd(b, it.pos+1)
	if !ok {
		return it.fail()
	}
	key = b[it.pos+1 : end]
	i := jsonSkipSpace(b, end+1)
	if i >= len(b) || b[i] != ':' {
		return it.fail()
	}
	val, next, ok := jsonReadValue(b, jsonSkipSpace(b, i+1))
	if !ok {
		return it.fail()
	}
	it.pos = next
	return key, val, true
}

// nextElement returns the next element of an array. ok is false at the end of the array or at
// the first syntax error, which also sets it.err.
func (it *jsonIter) nextElement() (val jsonValue, ok bool) {
	if !it.advance() {
		return jsonValue{}, false
	}
	val, next, ok := jsonReadValue(it.data, it.pos)
	if !ok {
		_, _, _ = it.fail()
		return jsonValue{}, false
	}
	it.pos = next
	return val, true
}

// advance moves past the comma between items and reports whether another item follows.
func (it *jsonIter) advance() bool {
	if it.done {
		return false
	}
	b := it.data
	i := jsonSkipSpace(b, it.pos)
	if i >= len(b) {
		it.done, it.err = true, true
		return false
	}
	if b[i] == it.end {
		it.done = true
		return false
	}
	if b[i] == ',' {
		if it.pos == 1 || jsonFirstItem(b, i) {
			it.done, it.err = true, true
			return false
		}
		i = jsonSkipSpace(b, i+1)
	}
	it.pos = i
	return true
}

// jsonFirstItem reports whether the comma at i comes right after the opening bracket, which is a
// syntax error.
func jsonFirstItem(b []byte, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch b[j] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return true
}

func (it *jsonIter) fail() ([]byte, jsonValue, bool) {
	it.done, it.err = true, true
	return nil, jsonValue{}, false
}

// jsonReadValue reads the value that starts at b[i] and returns it with the index after it.
func jsonReadValue(b []byte, i int) (jsonValue, int, bool) {
	if i >= len(b) {
		return jsonValue{}, i, false
	}
	switch c := b[i]; {
	case c == '"':
		end, escaped, ok := jsonStringEnd(b, i+1)
		if !ok {
			return jsonValue{}, i, false
		}
		return jsonValue{raw: b[i+1 : end], kind: jsonString, escaped: escaped}, end + 1, true
	case c == '{' || c == '[':
		end, ok := jsonContainerEnd(b, i)
		if !ok {
			return jsonValue{}, i, false
		}
		kind := jsonObject
		if c == '[' {
			kind = jsonArray
		}
		return jsonValue{raw: b[i:end], kind: kind}, end, true
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && jsonNumberByte(b[j]) {
			j++
		}
		return jsonValue{raw: b[i:j], kind: jsonNumber}, j, true
	case c == 't' || c == 'f' || c == 'n':
		for _, word := range [...]string{"true", "false", "null"} {
			if len(b)-i >= len(word) && string(b[i:i+len(word)]) == word {
				kind := jsonBool
				if c == 'n' {
					kind = jsonNull
				}
				return jsonValue{raw: b[i : i+len(word)], kind: kind}, i + len(word), true
			}
		}
	}
	return jsonValue{}, i, false
}

func jsonNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// jsonStringEnd returns the index of the quote that closes the string whose text starts at i,
// and whether the string holds escapes. Control characters inside a string are accepted, since
// they do no harm here.
func jsonStringEnd(b []byte, i int) (end int, escaped, ok bool) {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i, escaped, true
		case '\\':
			escaped = true
			i += 2
			continue
		}
		i++
	}
	return 0, false, false
}

// jsonContainerEnd returns the index after the object or array that starts at b[i], counting
// brackets outside strings.
func jsonContainerEnd(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _, ok := jsonStringEnd(b, i+1)
			if !ok {
				return 0, false
			}
			i = end
		case '{', '[':
			depth++
			if depth > jsonMaxDepth {
				return 0, false
			}
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}

func jsonSkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// text returns the value as text: a string unescaped into buf when it holds escapes, or the raw
// text of a number, boolean or null. It returns nil for a string whose escapes do not fit buf or
// are invalid, and for objects and arrays.
func (v jsonValue) text(buf []byte) []byte {
	switch v.kind {
	case jsonString:
		if !v.escaped {
			return v.raw
		}
		return jsonUnescape(v.raw, buf[:0])
	case jsonNumber, jsonBool:
		return v.raw
	}
	return nil
}

// jsonUnescape appends the unescaped form of s to dst, which must have room for it. It returns
// nil when it does not, or on an invalid escape. \u escapes outside ASCII become '?', because no
// field natlog reads holds non-ASCII text that it compares.
func jsonUnescape(s, dst []byte) []byte {
	for i := 0; i < len(s); i++ {
		if len(dst) == cap(dst) {
			return nil
		}
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+5 > len(s) {
				return nil
			}
			r := 0
			for _, h := range s[i+1 : i+5] {
				d := hexDigit(h)
				if d < 0 {
					return nil
				}
				r = r<<4 | d
			}
			if r < 0x80 {
				dst = append(dst, byte(r))
			} else {
				dst = append(dst, '?')
			}
			i += 4
		default:
			return nil
		}
	}
	return dst
}

// jsonPresent reports whether v holds a value, treating null and the placeholder strings ("",
// "-", "N/A", "None", "(null)" …) as absent.
func jsonPresent(v jsonValue) bool {
	switch v.kind {
	case jsonInvalid, jsonNull:
		return false
	case jsonString:
		return !isPlaceholder(trimSpaceBytes(v.raw))
	}
	return true
}

// jsonUint reads an unsigned integer given as a number or a decimal string. present is false
// for an absent value or a placeholder.
func jsonUint(v jsonValue) (n uint64, present, ok bool) {
	if !jsonPresent(v) {
		return 0, false, false
	}
	switch v.kind {
	case jsonNumber:
		n, ok = parseUint(v.raw)
		return n, true, ok
	case jsonString:
		n, ok = parseUint(trimSpaceBytes(v.raw))
		return n, true, ok
	}
	return 0, true, false
}

// jsonAddr reads an IP address string. present is false for an absent value or a placeholder.
func jsonAddr(v jsonValue) (a netip.Addr, present, ok bool) {
	if !jsonPresent(v) {
		return netip.Addr{}, false, false
	}
	if v.kind != jsonString {
		return netip.Addr{}, true, false
	}
	a, ok = parseAddr(trimSpaceBytes(v.raw))
	return a, true, ok
}
