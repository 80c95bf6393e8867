package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
)

// Encoder appends the fields of a snapshot payload: unsigned and signed varints, fixed-width
// floats, length-prefixed strings and addresses.
type Encoder struct {
	buf []byte
}

// Bytes returns the payload written so far.
func (e *Encoder) Bytes() []byte { return e.buf }

// Uint appends v as an unsigned varint.
func (e *Encoder) Uint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

// Int appends v as a signed varint.
func (e *Encoder) Int(v int64) { e.buf = binary.AppendVarint(e.buf, v) }

// Float appends v as 8 bytes.
func (e *Encoder) Float(v float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v))
}

// Bool appends v as one byte.
func (e *Encoder) Bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	e.buf = append(e.buf, b)
}

// String appends the length of s and s.
func (e *Encoder) String(s string) {
	e.Uint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// Raw appends the length of b and b.
func (e *Encoder) Raw(b []byte) {
	e.Uint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// Addr appends an address as its length (0, 4 or 16) and bytes. IPv6 zones are not kept.
func (e *Encoder) Addr(a netip.Addr) {
	switch {
	case !a.IsValid():
		e.buf = append(e.buf, 0)
	case a.Is4():
		b := a.As4()
		e.buf = append(e.buf, 4)
		e.buf = append(e.buf, b[:]...)
	default:
		b := a.As16()
		e.buf = append(e.buf, 16)
		e.buf = append(e.buf, b[:]...)
	}
}

// Decoder reads what an Encoder wrote. The first error sticks: later reads return zero values,
// and Err reports the error.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder over payload.
func NewDecoder(payload []byte) *Decoder { return &Decoder{buf: payload} }

// errTruncated is the error of a read past the end of the payload.
var errTruncated = errors.New("payload ends early")

// Err returns the first error of a read, wrapping ErrCorrupt.
func (d *Decoder) Err() error { return d.err }

// Fail records err as the decoder's error unless one is recorded already.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w at byte %d: %w", ErrCorrupt, d.off, err)
	}
}

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Uint reads an unsigned varint.
func (d *Decoder) Uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.Fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

// Count reads an unsigned varint that sizes what follows, and fails when it is larger than
// limit or than the bytes left, so that a damaged length cannot make the reader allocate
// without bound.
func (d *Decoder) Count(limit int) int {
	v := d.Uint()
	if v > uint64(limit) || v > uint64(d.Remaining()) {
		d.Fail(fmt.Errorf("count %d is out of range", v))
		return 0
	}
	return int(v)
}

// Int reads a signed varint.
func (d *Decoder) Int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.Fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

// Float reads 8 bytes as a float64.
func (d *Decoder) Float() float64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// Bool reads one byte.
func (d *Decoder) Bool() bool {
	b := d.take(1)
	return b != nil && b[0] != 0
}

// String reads a length-prefixed string.
func (d *Decoder) String() string {
	n := d.Count(math.MaxInt32)
	return string(d.take(n))
}

// Raw reads a length-prefixed byte string. The result aliases the payload.
func (d *Decoder) Raw() []byte {
	n := d.Count(math.MaxInt32)
	return d.take(n)
}

// Addr reads an address written by Encoder.Addr.
func (d *Decoder) Addr() netip.Addr {
	size := d.take(1)
	if size == nil {
		return netip.Addr{}
	}
	switch size[0] {
	case 0:
		return netip.Addr{}
	case 4:
		if b := d.take(4); b != nil {
			return netip.AddrFrom4([4]byte(b))
		}
	case 16:
		if b := d.take(16); b != nil {
			return netip.AddrFrom16([16]byte(b))
		}
	default:
		d.Fail(fmt.Errorf("invalid address length %d: expected 0, 4 or 16", size[0]))
	}
	return netip.Addr{}
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.Remaining() {
		d.Fail(errTruncated)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}
