package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds the hand-written msgpack primitives the package is built on. They work on a
// buffer and an offset into it, so that every error can name the byte offset where the problem
// starts, and they never allocate on success.
//
// Every length read from the data is checked against the bytes that remain before it is used,
// so a declared length never causes a read out of bounds or an allocation of its size.

// errorf builds a *DecodeError. It is only called on failure, so its allocations do not count
// against the zero-allocation happy path.
func errorf(off int, format string, args ...any) *DecodeError {
	return &DecodeError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// truncated reports an object starting at off whose encoding needs need bytes in total while only
// have bytes remain.
func truncated(off int, what string, need, have uint64) *DecodeError {
	return errorf(off, "truncated %s: needs %d bytes, %d remain", what, need, have)
}

// typeName names the msgpack format of lead byte c for error messages.
func typeName(c byte) string {
	switch {
	case c <= 0x7f:
		return "positive fixint"
	case c <= 0x8f:
		return "fixmap"
	case c <= 0x9f:
		return "fixarray"
	case c <= 0xbf:
		return "fixstr"
	case c >= 0xe0:
		return "negative fixint"
	}
	switch c {
	case 0xc0:
		return "nil"
	case 0xc1:
		return "reserved byte 0xc1"
	case 0xc2, 0xc3:
		return "bool"
	case 0xc4, 0xc5, 0xc6:
		return "bin"
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return "ext"
	case 0xca:
		return "float32"
	case 0xcb:
		return "float64"
	case 0xcc, 0xcd, 0xce, 0xcf:
		return "uint"
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return "int"
	case 0xd9, 0xda, 0xdb:
		return "str"
	case 0xdc, 0xdd:
		return "array"
	case 0xde, 0xdf:
		return "map"
	}
	return fmt.Sprintf("byte 0x%02x", c) // unreachable: every byte is covered above
}

func isMap(c byte) bool   { return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf }
func isArray(c byte) bool { return (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd }

// lenField reads the big-endian length field of width w (1, 2 or 4) that follows the lead byte of
// the object at off. It returns the length and the offset just past the field.
func lenField(b []byte, off, w int) (uint64, int, *DecodeError) {
	rem := len(b) - off
	if rem < 1+w {
		return 0, off, truncated(off, typeName(b[off])+" header", uint64(1+w), uint64(rem))
	}
	var n uint64
	switch w {
	case 1:
		n = uint64(b[off+1])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[off+1:]))
	default:
		n = uint64(binary.BigEndian.Uint32(b[off+1:]))
	}
	return n, off + 1 + w, nil
}

// containerHeader reads a map or array header at off. For a map, n is the number of key/value
// pairs. It checks that the declared elements can fit in the remaining bytes (each element takes
// at least one byte), which rejects absurd counts before anything iterates over them.
func containerHeader(b []byte, off int) (n uint64, isMapHdr bool, next int, err *DecodeError) {
	if off >= len(b) {
		return 0, false, off, truncated(off, "value", 1, 0)
	}
	c := b[off]
	switch {
	case c >= 0x80 && c <= 0x8f:
		n, isMapHdr, next = uint64(c&0x0f), true, off+1
	case c >= 0x90 && c <= 0x9f:
		n, next = uint64(c&0x0f), off+1
	case c == 0xdc:
		n, next, err = lenField(b, off, 2)
	case c == 0xdd:
		n, next, err = lenField(b, off, 4)
	case c == 0xde:
		n, next, err = lenField(b, off, 2)
		isMapHdr = true
	case c == 0xdf:
		n, next, err = lenField(b, off, 4)
		isMapHdr = true
	default:
		return 0, false, off, errorf(off, "expected map or array, got %s", typeName(c))
	}
	if err != nil {
		return 0, false, off, err
	}
	elems := n
	if isMapHdr {
		elems = 2 * n
	}
	if rem := uint64(len(b) - next); elems > rem {
		kind := "array"
		if isMapHdr {
			kind = "map"
		}
		return 0, false, off, errorf(off, "%s declares %d elements but only %d bytes remain", kind, elems, rem)
	}
	return n, isMapHdr, next, nil
}

// scalarSize returns, for an object at off that is not a map or array, the offset just past it.
// It validates that the whole object is present.
func scalarSize(b []byte, off int) (int, *DecodeError) {
	c := b[off]
	rem := uint64(len(b) - off)
	var size uint64 // total encoded size including the lead byte
	switch {
	case c <= 0x7f || c >= 0xe0:
		return off + 1, nil
	case c >= 0xa0 && c <= 0xbf:
		size = 1 + uint64(c&0x1f)
	default:
		switch c {
		case 0xc0, 0xc2, 0xc3:
			return off + 1, nil
		case 0xcc, 0xd0:
			size = 2
		case 0xcd, 0xd1:
			size = 3
		case 0xce, 0xd2, 0xca:
			size = 5
		case 0xcf, 0xd3, 0xcb:
			size = 9
		case 0xd4:
			size = 3
		case 0xd5:
			size = 4
		case 0xd6:
			size = 6
		case 0xd7:
			size = 10
		case 0xd8:
			size = 18
		case 0xc4, 0xd9: // bin8, str8
			n, _, err := lenField(b, off, 1)
			if err != nil {
				return off, err
			}
			size = 2 + n
		case 0xc5, 0xda:
			n, _, err := lenField(b, off, 2)
			if err != nil {
				return off, err
			}
			size = 3 + n
		case 0xc6, 0xdb:
			n, _, err := lenField(b, off, 4)
			if err != nil {
				return off, err
			}
			size = 5 + n
		case 0xc7: // ext8: length, type, data
			n, _, err := lenField(b, off, 1)
			if err != nil {
				return off, err
			}
			size = 3 + n
		case 0xc8:
			n, _, err := lenField(b, off, 2)
			if err != nil {
				return off, err
			}
			size = 4 + n
		case 0xc9:
			n, _, err := lenField(b, off, 4)
			if err != nil {
				return off, err
			}
			size = 6 + n
		case 0xc1:
			return off, errorf(off, "invalid msgpack byte 0xc1")
		default:
			// Maps and arrays are handled by the callers.
			return off, errorf(off, "unexpected %s", typeName(c))
		}
	}
	if size > rem {
		return off, truncated(off, typeName(c), size, rem)
	}
	return off + int(size), nil
}

// skip returns the offset just past the complete object at off, validating the structure of
// every nested element. It is iterative: it keeps a count of the elements still owed instead of
// recursing, so deep nesting costs no stack, and a container that declares more elements than
// bytes remain is rejected at its header.
func skip(b []byte, off int) (int, *DecodeError) {
	pending := uint64(1)
	for pending > 0 {
		if off >= len(b) {
			return off, truncated(off, "value", 1, 0)
		}
		pending--
		c := b[off]
		if (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf) {
			n, m, next, err := containerHeader(b, off)
			if err != nil {
				return off, err
			}
			if m {
				n *= 2
			}
			pending += n
			if rem := uint64(len(b) - next); pending > rem {
				return off, errorf(off, "nested values need at least %d bytes but only %d remain", pending, rem)
			}
			off = next
			continue
		}
		next, err := scalarSize(b, off)
		if err != nil {
			return off, err
		}
		off = next
	}
	return off, nil
}

// skipValue is skip with fast paths for the scalars that dominate log records.
func skipValue(b []byte, off int) (int, *DecodeError) {
	if off < len(b) {
		c := b[off]
		if c >= 0xa0 && c <= 0xbf {
			if end := off + 1 + int(c&0x1f); end <= len(b) {
				return end, nil
			}
		} else if c <= 0x7f || c >= 0xe0 {
			return off + 1, nil
		}
	}
	return skip(b, off)
}

// readValue decodes the object at off into v and returns the offset just past it.
func readValue(b []byte, off int, v *Value) (int, *DecodeError) {
	if off >= len(b) {
		return off, truncated(off, "value", 1, 0)
	}
	c := b[off]
	// Fast paths for the shapes that dominate log records.
	if c >= 0xa0 && c <= 0xbf { // fixstr
		end := off + 1 + int(c&0x1f)
		if end > len(b) {
			return off, truncated(off, "fixstr", uint64(end-off), uint64(len(b)-off))
		}
		*v = Value{Type: TypeString, Str: b[off+1 : end : end], Raw: b[off:end:end]}
		return end, nil
	}
	if c <= 0x7f {
		*v = Value{Type: TypeUint, Uint: uint64(c), Raw: b[off : off+1 : off+1]}
		return off + 1, nil
	}
	if c >= 0xe0 {
		*v = Value{Type: TypeInt, Int: int64(int8(c)), Raw: b[off : off+1 : off+1]}
		return off + 1, nil
	}
	if isMap(c) || isArray(c) {
		end, err := skip(b, off)
		if err != nil {
			return off, err
		}
		t := TypeArray
		if isMap(c) {
			t = TypeMap
		}
		*v = Value{Type: t, Raw: b[off:end:end]}
		return end, nil
	}
	end, err := scalarSize(b, off)
	if err != nil {
		return off, err
	}
	raw := b[off:end:end] // capped, so that appending to a Value never writes into the chunk
	*v = Value{Raw: raw}
	switch c {
	case 0xc0:
		v.Type = TypeNil
	case 0xc2, 0xc3:
		v.Type = TypeBool
		v.Bool = c == 0xc3
	case 0xd9:
		v.Type, v.Str = TypeString, raw[2:]
	case 0xda:
		v.Type, v.Str = TypeString, raw[3:]
	case 0xdb:
		v.Type, v.Str = TypeString, raw[5:]
	case 0xc4:
		v.Type, v.Str = TypeString, raw[2:]
	case 0xc5:
		v.Type, v.Str = TypeString, raw[3:]
	case 0xc6:
		v.Type, v.Str = TypeString, raw[5:]
	case 0xcc:
		v.Type, v.Uint = TypeUint, uint64(raw[1])
	case 0xcd:
		v.Type, v.Uint = TypeUint, uint64(binary.BigEndian.Uint16(raw[1:]))
	case 0xce:
		v.Type, v.Uint = TypeUint, uint64(binary.BigEndian.Uint32(raw[1:]))
	case 0xcf:
		v.Type, v.Uint = TypeUint, binary.BigEndian.Uint64(raw[1:])
	case 0xd0:
		v.Type, v.Int = TypeInt, int64(int8(raw[1]))
	case 0xd1:
		v.Type, v.Int = TypeInt, int64(int16(binary.BigEndian.Uint16(raw[1:])))
	case 0xd2:
		v.Type, v.Int = TypeInt, int64(int32(binary.BigEndian.Uint32(raw[1:])))
	case 0xd3:
		v.Type, v.Int = TypeInt, int64(binary.BigEndian.Uint64(raw[1:]))
	case 0xca:
		v.Type, v.Float = TypeFloat, float64(math.Float32frombits(binary.BigEndian.Uint32(raw[1:])))
	case 0xcb:
		v.Type, v.Float = TypeFloat, math.Float64frombits(binary.BigEndian.Uint64(raw[1:]))
	default: // ext formats (scalarSize rejected everything else)
		v.Type = TypeExt
	}
	return end, nil
}

// readKey decodes a map key at off. String and bin keys return their bytes; any other key type
// returns a nil key (the key is still skipped correctly).
func readKey(b []byte, off int) ([]byte, int, *DecodeError) {
	if off >= len(b) {
		return nil, off, truncated(off, "map key", 1, 0)
	}
	c := b[off]
	if c >= 0xa0 && c <= 0xbf {
		end := off + 1 + int(c&0x1f)
		if end > len(b) {
			return nil, off, truncated(off, "fixstr", uint64(end-off), uint64(len(b)-off))
		}
		return b[off+1 : end : end], end, nil
	}
	var v Value
	end, err := readValue(b, off, &v)
	if err != nil {
		return nil, off, err
	}
	if v.Type == TypeString {
		return v.Str, end, nil
	}
	return nil, end, nil
}
