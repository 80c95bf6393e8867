package chunk

import (
	"math"
	"strings"
)

// ValueType is the kind of a decoded msgpack value.
type ValueType uint8

// Value types. The zero ValueType is TypeInvalid, so the zero Value (as returned by a failed
// Lookup) is never mistaken for a nil.
const (
	TypeInvalid ValueType = iota
	TypeNil
	TypeBool
	TypeInt    // negative fixint and the signed int formats
	TypeUint   // positive fixint and the unsigned uint formats (Fluent Bit's non-negative integers)
	TypeFloat  // float32 or float64
	TypeString // str or bin
	TypeMap
	TypeArray
	TypeExt
)

var typeNames = [...]string{"invalid", "nil", "bool", "int", "uint", "float", "string", "map", "array", "ext"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// Value is one decoded msgpack value. Its slices point into the buffer it was decoded from.
type Value struct {
	Type  ValueType
	Str   []byte  // TypeString
	Int   int64   // TypeInt
	Uint  uint64  // TypeUint
	Float float64 // TypeFloat
	Bool  bool    // TypeBool
	Raw   []byte  // the whole encoded value (always set); for TypeMap pass it to NewFields, for TypeArray to NewArray
}

// Int64 returns the value as an int64 if it is an integer that fits, or a float with no
// fractional part that fits.
func (v Value) Int64() (int64, bool) {
	switch v.Type {
	case TypeInt:
		return v.Int, true
	case TypeUint:
		if v.Uint <= math.MaxInt64 {
			return int64(v.Uint), true
		}
	case TypeFloat:
		if v.Float == math.Trunc(v.Float) && v.Float >= -(1<<63) && v.Float < 1<<63 {
			return int64(v.Float), true
		}
	}
	return 0, false
}

// Uint64 returns the value as a uint64 if it is a non-negative integer, or a non-negative float
// with no fractional part that fits.
func (v Value) Uint64() (uint64, bool) {
	switch v.Type {
	case TypeUint:
		return v.Uint, true
	case TypeInt:
		if v.Int >= 0 {
			return uint64(v.Int), true
		}
	case TypeFloat:
		if v.Float == math.Trunc(v.Float) && v.Float >= 0 && v.Float < 1<<64 {
			return uint64(v.Float), true
		}
	}
	return 0, false
}

// Fields iterates over the key/value pairs of a msgpack map without allocating.
//
//	f := chunk.NewFields(ev.Record)
//	for f.Next() {
//		k, v := f.Key(), f.Value()
//		...
//	}
//	if err := f.Err(); err != nil { ... }
type Fields struct {
	m   []byte
	off int
	n   uint64 // pairs not yet returned
	len int
	key []byte
	val Value
	err *DecodeError
}

// NewFields returns an iterator over m, a raw msgpack map (Event.Record, Event.Metadata or a
// nested Value.Raw). An empty m (such as the nil Metadata of an old-layout event) is an empty
// map; anything that is not a map makes Err return a *DecodeError. Bytes after the map are
// ignored.
func NewFields(m []byte) Fields {
	f := Fields{m: m}
	if len(m) == 0 {
		return f
	}
	if !isMap(m[0]) {
		f.err = errorf(0, "expected map, got %s", typeName(m[0]))
		return f
	}
	n, _, off, err := containerHeader(m, 0)
	if err != nil {
		f.err = err
		return f
	}
	f.n, f.len, f.off = n, int(n), off
	return f
}

// Len returns the number of pairs the map declares.
func (f *Fields) Len() int { return f.len }

// Next advances to the next pair. It returns false after the last pair or on error.
func (f *Fields) Next() bool {
	if f.n == 0 || f.err != nil {
		return false
	}
	key, off, err := readKey(f.m, f.off)
	if err != nil {
		f.fail(err)
		return false
	}
	if off, err = readValue(f.m, off, &f.val); err != nil {
		f.fail(err)
		return false
	}
	f.key, f.off = key, off
	f.n--
	return true
}

func (f *Fields) fail(err *DecodeError) {
	f.err, f.n, f.key, f.val = err, 0, nil, Value{}
}

// Key returns the current key. It is valid until the chunk buffer is reused. A key that is not a
// str or bin (msgpack allows any type; Fluent Bit never writes one) is returned as nil.
func (f *Fields) Key() []byte { return f.key }

// Value returns the current value.
func (f *Fields) Value() Value { return f.val }

// Err returns the *DecodeError that stopped Next (with the offset relative to m), or nil.
func (f *Fields) Err() error {
	if f.err == nil {
		return nil
	}
	return f.err
}

// Array iterates over the elements of a msgpack array without allocating.
type Array struct {
	a   []byte
	off int
	n   uint64
	len int
	val Value
	err *DecodeError
}

// NewArray returns an iterator over a, a raw msgpack array (a Value.Raw of TypeArray). An empty
// a is an empty array; anything that is not an array makes Err return a *DecodeError.
func NewArray(a []byte) Array {
	it := Array{a: a}
	if len(a) == 0 {
		return it
	}
	if !isArray(a[0]) {
		it.err = errorf(0, "expected array, got %s", typeName(a[0]))
		return it
	}
	n, _, off, err := containerHeader(a, 0)
	if err != nil {
		it.err = err
		return it
	}
	it.n, it.len, it.off = n, int(n), off
	return it
}

// Len returns the number of elements the array declares.
func (it *Array) Len() int { return it.len }

// Next advances to the next element. It returns false after the last element or on error.
func (it *Array) Next() bool {
	if it.n == 0 || it.err != nil {
		return false
	}
	off, err := readValue(it.a, it.off, &it.val)
	if err != nil {
		it.err, it.n, it.val = err, 0, Value{}
		return false
	}
	it.off = off
	it.n--
	return true
}

// Value returns the current element.
func (it *Array) Value() Value { return it.val }

// Err returns the *DecodeError that stopped Next (with the offset relative to a), or nil.
func (it *Array) Err() error {
	if it.err == nil {
		return nil
	}
	return it.err
}

// Lookup finds a key in a raw msgpack map. A dotted path ("connection.src_ip") descends into
// nested maps only if no flat key with the full name exists. Any dot may split the path: for
// "a.b.c" the flat key "a.b.c" is tried first, then every key that is a map and equals the path
// up to a dot ("a" or "a.b"), in map order, with the rest of the path ("b.c" or "c") looked up
// in it the same way. Lookup returns false if the key is missing, or if the map is malformed
// before the key is found. It does not allocate.
func Lookup(m []byte, path string) (Value, bool) {
	if len(m) == 0 || !isMap(m[0]) {
		return Value{}, false
	}
	n, _, off, err := containerHeader(m, 0)
	if err != nil {
		return Value{}, false
	}
	first := off
	// Pass 1: the flat key. Values of other keys are skipped, not decoded.
	for i := uint64(0); i < n; i++ {
		var key []byte
		if key, off, err = readKey(m, off); err != nil {
			return Value{}, false
		}
		if key != nil && string(key) == path {
			var v Value
			if _, err = readValue(m, off, &v); err != nil {
				return Value{}, false
			}
			return v, true
		}
		if off, err = skipValue(m, off); err != nil {
			return Value{}, false
		}
	}
	if strings.IndexByte(path, '.') < 0 {
		return Value{}, false
	}
	// Pass 2: nested maps whose key is the path up to a dot.
	off = first
	for i := uint64(0); i < n; i++ {
		var key []byte
		if key, off, err = readKey(m, off); err != nil {
			return Value{}, false
		}
		start := off
		if off, err = skipValue(m, off); err != nil {
			return Value{}, false
		}
		if key != nil && isMap(m[start]) && len(key) < len(path) && path[len(key)] == '.' && string(key) == path[:len(key)] {
			if v, ok := Lookup(m[start:off], path[len(key)+1:]); ok {
				return v, true
			}
		}
	}
	return Value{}, false
}
