// Package chunk decodes the msgpack buffers that Fluent Bit hands to an output plugin, without
// copying and without allocating per record.
//
// A chunk is a plain concatenation of events. Fluent Bit 2.1 and later write each event as
//
//	[[timestamp, metadata], record]
//
// and older versions (and the forward protocol) as
//
//	[timestamp, record]
//
// where timestamp is the EventTime extension (ext type 0 with 8 bytes: seconds then nanoseconds,
// each a big-endian uint32, as fixext8 or ext8), or a msgpack integer or float of seconds. The
// metadata and the record are msgpack maps.
//
// Reader walks the events; Event.Record and Event.Metadata are sub-slices of the chunk, so they
// are only valid while the chunk buffer is. Fields iterates over the pairs of such a map, and
// Lookup finds one key (or a dotted path into nested maps). Keys and string values are also
// sub-slices of the chunk: copy them (string(b)) to keep them past the buffer's reuse.
//
// Fluent Bit writes non-negative integers with the unsigned msgpack formats (it uses msgpack-c),
// so a port number or byte count normally arrives as TypeUint; Value.Int64 and Value.Uint64
// accept either.
//
// Group markers (events whose timestamp seconds are -1 or -2, which Fluent Bit 3 and later use to
// open and close groups of OpenTelemetry records) carry no log record and are skipped, as Fluent
// Bit's own decoder does by default.
//
// Malformed input does not panic or read out of bounds (FuzzReader checks this). Reader.Err and
// Fields.Err return a *DecodeError with the byte offset of the problem.
package chunk

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
)

// Event is one decoded event. Record and Metadata are sub-slices of the chunk (zero-copy).
type Event struct {
	Time     time.Time // in UTC
	Metadata []byte    // raw msgpack map (v2 events), nil for the old layout
	Record   []byte    // raw msgpack map
	Offset   int       // byte offset of the event in the chunk
}

// DecodeError reports malformed data and where it starts. For Reader the offset counts from the
// start of the chunk. For Fields, Array and the map helpers it counts from the start of the map
// or array passed in.
type DecodeError struct {
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string {
	return "chunk: offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Reader iterates over the events of a chunk. The zero value is an empty reader; Reset gives it
// data. A Reader may be reused for many chunks, which is how the plugin avoids allocating one per
// flush.
type Reader struct {
	data    []byte
	off     int
	err     error
	skipped int
}

// NewReader returns a Reader over data.
func NewReader(data []byte) *Reader {
	return &Reader{data: data}
}

// Reset makes r read data from the start, clearing any error.
func (r *Reader) Reset(data []byte) {
	*r = Reader{data: data}
}

// Err returns nil after a clean end of the data, or the *DecodeError that stopped Next.
func (r *Reader) Err() error { return r.err }

// Offset returns the offset of the next byte Next will read: after a clean end it is len(data),
// after an error it is the start of the event that failed.
func (r *Reader) Offset() int { return r.off }

// Skipped returns how many group markers Next has skipped since the last Reset.
func (r *Reader) Skipped() int { return r.skipped }

// group marker timestamps (Fluent Bit's FLB_LOG_EVENT_GROUP_START and _END).
const (
	groupStart = -1
	groupEnd   = -2
)

// Next decodes the next event into ev. It returns false at the end of the data or on error, and
// Err returns nil in the first case. After an error Next keeps returning false until Reset.
func (r *Reader) Next(ev *Event) bool {
	for r.err == nil && r.off < len(r.data) {
		marker, err := r.decode(ev)
		if err != nil {
			r.err = err
			return false
		}
		if marker {
			r.skipped++
			continue
		}
		return true
	}
	return false
}

// decode reads the event at r.off. On success it advances r.off and reports whether the event
// was a group marker; on failure r.off stays at the start of the event.
func (r *Reader) decode(ev *Event) (marker bool, err *DecodeError) {
	b := r.data
	start := r.off
	c := b[start]
	if !isArray(c) {
		return false, errorf(start, "event: expected array, got %s", typeName(c))
	}
	n, _, off, err := containerHeader(b, start)
	if err != nil {
		return false, err
	}
	if n != 2 {
		return false, errorf(start, "event: array of %d elements, want 2", n)
	}

	var sec, nsec int64
	var meta []byte
	if off < len(b) && isArray(b[off]) { // v2: [[timestamp, metadata], record]
		hdr := off
		n, _, off, err = containerHeader(b, hdr)
		if err != nil {
			return false, err
		}
		if n != 2 {
			return false, errorf(hdr, "event header: array of %d elements, want 2", n)
		}
		if sec, nsec, off, err = readTime(b, off); err != nil {
			return false, err
		}
		if off >= len(b) {
			return false, truncated(off, "metadata", 1, 0)
		}
		if !isMap(b[off]) {
			return false, errorf(off, "metadata: expected map, got %s", typeName(b[off]))
		}
		m := off
		if off, err = skip(b, m); err != nil {
			return false, err
		}
		meta = b[m:off:off]
	} else { // v1: [timestamp, record]
		if sec, nsec, off, err = readTime(b, off); err != nil {
			return false, err
		}
	}

	if off >= len(b) {
		return false, truncated(off, "record", 1, 0)
	}
	if !isMap(b[off]) {
		return false, errorf(off, "record: expected map, got %s", typeName(b[off]))
	}
	rec := off
	if off, err = skip(b, rec); err != nil {
		return false, err
	}
	r.off = off
	if sec == groupStart || sec == groupEnd {
		return true, nil
	}
	ev.Time = time.Unix(sec, nsec).UTC()
	ev.Metadata = meta
	ev.Record = b[rec:off:off]
	ev.Offset = start
	return false, nil
}

// readTime decodes an event timestamp at off: EventTime ext (type 0, 8 bytes, in any ext
// format), an integer or a float of seconds. Seconds -1 and -2 (group markers) pass through; any
// other negative time is an error.
func readTime(b []byte, off int) (sec, nsec int64, next int, err *DecodeError) {
	if off >= len(b) {
		return 0, 0, off, truncated(off, "timestamp", 1, 0)
	}
	c := b[off]
	switch {
	case c <= 0x7f:
		return int64(c), 0, off + 1, nil
	case c >= 0xe0:
		return negTime(off, int64(int8(c)), off+1)
	}
	switch c {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9:
		return readEventTime(b, off)
	case 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb:
		var v Value
		next, err := readValue(b, off, &v)
		if err != nil {
			return 0, 0, off, err
		}
		switch v.Type {
		case TypeUint:
			if v.Uint > math.MaxInt64 {
				return 0, 0, off, errorf(off, "timestamp %d out of range", v.Uint)
			}
			return int64(v.Uint), 0, next, nil
		case TypeInt:
			if v.Int < 0 {
				return negTime(off, v.Int, next)
			}
			return v.Int, 0, next, nil
		default: // TypeFloat
			f := v.Float
			// 2^63 is exactly representable; anything at or above it overflows int64.
			if !(f >= 0 && f < 1<<63) {
				return 0, 0, off, errorf(off, "timestamp: invalid float %v", f)
			}
			s := math.Floor(f)
			ns := int64(math.Round((f - s) * 1e9))
			return int64(s), ns, next, nil
		}
	}
	return 0, 0, off, errorf(off, "timestamp: expected ext, integer or float, got %s", typeName(c))
}

func negTime(off int, s int64, next int) (int64, int64, int, *DecodeError) {
	if s == groupStart || s == groupEnd {
		return s, 0, next, nil
	}
	return 0, 0, off, errorf(off, "timestamp: negative seconds %d", s)
}

// readEventTime decodes the EventTime extension at off.
func readEventTime(b []byte, off int) (sec, nsec int64, next int, err *DecodeError) {
	rem := len(b) - off
	var typ byte
	var n, data int // payload length and its offset
	switch c := b[off]; c {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n, data = 1<<(c-0xd4), off+2
		if rem < 2 {
			return 0, 0, off, truncated(off, "timestamp ext", 2, uint64(rem))
		}
		typ = b[off+1]
	case 0xc7:
		if rem < 3 {
			return 0, 0, off, truncated(off, "timestamp ext", 3, uint64(rem))
		}
		n, typ, data = int(b[off+1]), b[off+2], off+3
	case 0xc8:
		if rem < 4 {
			return 0, 0, off, truncated(off, "timestamp ext", 4, uint64(rem))
		}
		n, typ, data = int(binary.BigEndian.Uint16(b[off+1:])), b[off+3], off+4
	default: // 0xc9
		if rem < 6 {
			return 0, 0, off, truncated(off, "timestamp ext", 6, uint64(rem))
		}
		n, typ, data = int(binary.BigEndian.Uint32(b[off+1:])), b[off+5], off+6
	}
	if typ != 0 {
		return 0, 0, off, errorf(off, "timestamp: ext type %d, want 0 (EventTime)", int8(typ))
	}
	if n != 8 {
		return 0, 0, off, errorf(off, "timestamp: ext of %d bytes, want 8", n)
	}
	if len(b)-data < 8 {
		return 0, 0, off, truncated(off, "timestamp ext", uint64(data-off+8), uint64(rem))
	}
	s := binary.BigEndian.Uint32(b[data:])
	ns := binary.BigEndian.Uint32(b[data+4:])
	// Fluent Bit reads the seconds as int32 to find its group markers. Apart from those two
	// values the field is treated as unsigned, which keeps times past 2038 working.
	switch int32(s) {
	case groupStart, groupEnd:
		return int64(int32(s)), 0, data + 8, nil
	}
	return int64(s), int64(ns), data + 8, nil
}
