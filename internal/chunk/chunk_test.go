package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

var t0 = time.Date(2024, 12, 4, 19, 52, 1, 123456789, time.UTC)

// ext8Time encodes t as EventTime in the ext8 format (c7 08 00 ...), which some encoders use
// instead of fixext8.
func ext8Time(t time.Time) []byte {
	b := []byte{0xc7, 0x08, 0x00}
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func mustDecodeError(t *testing.T, err error) *DecodeError {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	return de
}

// readAll decodes every event of data.
func readAll(data []byte) ([]Event, error) {
	var evs []Event
	r := NewReader(data)
	var ev Event
	for r.Next(&ev) {
		evs = append(evs, ev)
	}
	return evs, r.Err()
}

func str(t *testing.T, m []byte, key string) string {
	t.Helper()
	v, ok := Lookup(m, key)
	if !ok {
		t.Fatalf("key %q not found", key)
	}
	if v.Type != TypeString {
		t.Fatalf("key %q: type %v, want string", key, v.Type)
	}
	return string(v.Str)
}

func TestReaderLayouts(t *testing.T) {
	rec := map[string]any{"log": "hello", "n": 7}
	recBytes := AppendMap(nil, rec)
	tSec := time.Unix(t0.Unix(), 0).UTC()

	tests := []struct {
		name     string
		data     []byte
		wantTime time.Time
		wantMeta string // "" = nil metadata; else a key that must be present with value "x"
	}{
		{"v2 fixext8", AppendEventV2(nil, t0, rec), t0, "-"},
		{"v2 ext8", cat([]byte{0x92, 0x92}, ext8Time(t0), []byte{0x80}, recBytes), t0, "-"},
		{"v2 int time", cat([]byte{0x92, 0x92}, msgp.AppendUint64(nil, uint64(t0.Unix())), []byte{0x80}, recBytes), tSec, "-"},
		{"v2 metadata", AppendEventV2Meta(nil, t0, map[string]any{"otel": "x"}, rec), t0, "otel"},
		{"v1 fixext8", AppendEventV1(nil, t0, rec), t0, ""},
		{"v1 ext8", cat([]byte{0x92}, ext8Time(t0), recBytes), t0, ""},
		{"v1 ext16", cat([]byte{0x92, 0xc8, 0x00, 0x08}, AppendTimestamp(nil, t0)[1:], recBytes), t0, ""},
		{"v1 ext32", cat([]byte{0x92, 0xc9, 0, 0, 0, 0x08}, AppendTimestamp(nil, t0)[1:], recBytes), t0, ""},
		{"v1 uint32", cat([]byte{0x92}, msgp.AppendUint64(nil, uint64(t0.Unix())), recBytes), tSec, ""},
		{"v1 int64", cat([]byte{0x92, 0xd3}, binary.BigEndian.AppendUint64(nil, uint64(t0.Unix())), recBytes), tSec, ""},
		{"v1 fixint", cat([]byte{0x92, 0x05}, recBytes), time.Unix(5, 0).UTC(), ""},
		{"v1 float64", cat([]byte{0x92}, msgp.AppendFloat64(nil, 1733341921.25), recBytes), time.Unix(1733341921, 250000000).UTC(), ""},
		{"v1 float32", cat([]byte{0x92}, msgp.AppendFloat32(nil, 1024.5), recBytes), time.Unix(1024, 500000000).UTC(), ""},
		{"map16 record", cat([]byte{0x92}, AppendTimestamp(nil, t0), []byte{0xde, 0x00, 0x02}, recBytes[1:]), t0, ""},
		{"array16 event", cat([]byte{0xdc, 0x00, 0x02}, AppendTimestamp(nil, t0), recBytes), t0, ""},
		{"ext time past 2038", AppendEventV2(nil, time.Unix(3000000000, 5).UTC(), rec), time.Unix(3000000000, 5).UTC(), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two copies back to back check that the reader advances exactly one event.
			data := cat(tt.data, tt.data)
			evs, err := readAll(data)
			if err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if len(evs) != 2 {
				t.Fatalf("got %d events, want 2", len(evs))
			}
			for i, ev := range evs {
				if !ev.Time.Equal(tt.wantTime) {
					t.Errorf("event %d: Time = %v, want %v", i, ev.Time, tt.wantTime)
				}
				if ev.Time.Location() != time.UTC {
					t.Errorf("event %d: Time location %v, want UTC", i, ev.Time.Location())
				}
				if want := i * len(tt.data); ev.Offset != want {
					t.Errorf("event %d: Offset = %d, want %d", i, ev.Offset, want)
				}
				switch tt.wantMeta {
				case "":
					if ev.Metadata != nil {
						t.Errorf("event %d: Metadata = % x, want nil", i, ev.Metadata)
					}
				case "-":
					if !bytes.Equal(ev.Metadata, []byte{0x80}) {
						t.Errorf("event %d: Metadata = % x, want empty map", i, ev.Metadata)
					}
				default:
					if got := str(t, ev.Metadata, tt.wantMeta); got != "x" {
						t.Errorf("metadata %s = %q", tt.wantMeta, got)
					}
				}
				// Compare without the map header, which differs for the map16 case.
				if !bytes.HasSuffix(ev.Record, recBytes[1:]) || len(ev.Record) > len(recBytes)+2 {
					t.Errorf("event %d: Record = % x, want % x", i, ev.Record, recBytes)
				}
				if got := str(t, ev.Record, "log"); got != "hello" {
					t.Errorf("log = %q", got)
				}
			}
		})
	}
}

// TestFluentBitBytes decodes a v2 event written out byte by byte as Fluent Bit 2.x/3.x emits it
// (msgpack-c: fixext8 EventTime, empty metadata map, str keys and values, unsigned integers).
func TestFluentBitBytes(t *testing.T) {
	data := []byte{
		0x92,       // [header, record]
		0x92,       // header: [time, metadata]
		0xd7, 0x00, // fixext8, type 0
		0x67, 0x50, 0xb2, 0xe1, // seconds 1733341921
		0x07, 0x5b, 0xcd, 0x15, // nanoseconds 123456789
		0x80,                                               // metadata {}
		0x83,                                               // record, 3 pairs
		0xa3, 'l', 'o', 'g', 0xa5, 'h', 'e', 'l', 'l', 'o', // "log": "hello"
		0xa8, 'd', 's', 't', '_', 'p', 'o', 'r', 't', 0xcd, 0x01, 0xbb, // "dst_port": 443 (uint16)
		0xa4, 'c', 'o', 'n', 'n', 0x81, 0xa6, 's', 'r', 'c', '_', 'i', 'p', 0xa8, '1', '0', '.', '0', '.', '0', '.', '1', // "conn": {"src_ip": "10.0.0.1"}
	}
	evs, err := readAll(data)
	if err != nil || len(evs) != 1 {
		t.Fatalf("readAll: %d events, err %v", len(evs), err)
	}
	ev := evs[0]
	if want := time.Unix(1733341921, 123456789).UTC(); !ev.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", ev.Time, want)
	}
	if str(t, ev.Record, "log") != "hello" || str(t, ev.Record, "conn.src_ip") != "10.0.0.1" {
		t.Error("wrong string fields")
	}
	v, ok := Lookup(ev.Record, "dst_port")
	if !ok || v.Type != TypeUint || v.Uint != 443 {
		t.Errorf("dst_port = %+v, %v", v, ok)
	}
	// The builder must produce the very same bytes.
	built := AppendEventV2(nil, time.Unix(1733341921, 123456789), map[string]any{
		"log": "hello", "dst_port": 443, "conn": map[string]any{"src_ip": "10.0.0.1"},
	})
	// The builder sorts keys, so compare decoded content rather than byte order of the record.
	if !bytes.Equal(built[:13], data[:13]) {
		t.Errorf("builder header % x, want % x", built[:13], data[:13])
	}
	if len(built) != len(data) {
		t.Errorf("builder length %d, want %d", len(built), len(data))
	}
}

func TestGroupMarkersSkipped(t *testing.T) {
	rec := map[string]any{"log": "x"}
	start := cat([]byte{0x92, 0x92, 0xd7, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, AppendMap(nil, map[string]any{"schema": "otlp"}), AppendMap(nil, map[string]any{"resource": "r"}))
	end := cat([]byte{0x92, 0x92, 0xfe}, []byte{0x80, 0x80}) // int -2
	data := cat(start, AppendEventV2(nil, t0, rec), AppendEventV2(nil, t0, rec), end)
	r := NewReader(data)
	var ev Event
	n := 0
	for r.Next(&ev) {
		n++
		if ev.Offset != len(start) && ev.Offset != len(start)+len(AppendEventV2(nil, t0, rec)) {
			t.Errorf("unexpected event at %d", ev.Offset)
		}
	}
	if r.Err() != nil || n != 2 || r.Skipped() != 2 {
		t.Fatalf("n=%d skipped=%d err=%v; want 2, 2, nil", n, r.Skipped(), r.Err())
	}
}

func TestReaderReset(t *testing.T) {
	r := NewReader([]byte{0x80})
	var ev Event
	if r.Next(&ev) || r.Err() == nil {
		t.Fatal("expected an error")
	}
	if r.Next(&ev) {
		t.Fatal("Next after error returned true")
	}
	r.Reset(AppendEventV1(nil, t0, map[string]any{"a": 1}))
	if !r.Next(&ev) || r.Next(&ev) || r.Err() != nil {
		t.Fatalf("after Reset: err %v", r.Err())
	}
	if r.Offset() != len(r.data) {
		t.Errorf("Offset() = %d, want %d", r.Offset(), len(r.data))
	}
	var zero Reader
	if zero.Next(&ev) || zero.Err() != nil {
		t.Error("zero Reader must be empty")
	}
}

func TestGarbage(t *testing.T) {
	good := AppendEventV2(nil, t0, map[string]any{"log": "ok"})
	tests := []struct {
		name    string
		data    []byte
		events  int
		offset  int
		message string
	}{
		{"map at top", []byte{0x80}, 0, 0, "expected array, got fixmap"},
		{"string at top", []byte{0xa1, 'x'}, 0, 0, "expected array, got fixstr"},
		{"nil at top", []byte{0xc0}, 0, 0, "expected array, got nil"},
		{"reserved byte", []byte{0xc1}, 0, 0, "expected array, got reserved byte 0xc1"},
		{"array of 1", []byte{0x91, 0x01}, 0, 0, "array of 1 elements, want 2"},
		{"array of 3", []byte{0x93, 0x01, 0x80, 0x80}, 0, 0, "array of 3 elements, want 2"},
		{"array32 absurd", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, 0, 0, "array declares 4294967295 elements but only 0 bytes remain"},
		{"array16 short header", []byte{0xdc, 0x00}, 0, 0, "truncated array header"},
		{"header of 3", []byte{0x92, 0x93, 0x01, 0x80, 0x80, 0x80}, 0, 1, "event header: array of 3 elements, want 2"},
		{"string time", []byte{0x92, 0xa1, 'x', 0x80}, 0, 1, "timestamp: expected ext, integer or float, got fixstr"},
		{"nil time", []byte{0x92, 0xc0, 0x80}, 0, 1, "got nil"},
		{"ext type 1", []byte{0x92, 0xd7, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0x80}, 0, 1, "ext type 1, want 0"},
		{"ext of 4 bytes", []byte{0x92, 0xd6, 0x00, 0, 0, 0, 1, 0x80}, 0, 1, "ext of 4 bytes, want 8"},
		{"ext8 of 4 bytes", []byte{0x92, 0xc7, 0x04, 0x00, 0, 0, 0, 1, 0x80}, 0, 1, "ext of 4 bytes, want 8"},
		{"ext8 type 5", []byte{0x92, 0xc7, 0x08, 0x05, 0, 0, 0, 1, 0, 0, 0, 0, 0x80}, 0, 1, "ext type 5, want 0"},
		{"short fixext8", []byte{0x92, 0xd7, 0x00, 0x01, 0x02}, 0, 1, "truncated timestamp ext: needs 10 bytes, 4 remain"},
		{"short ext8", []byte{0x92, 0xc7, 0x08, 0x00, 0x01}, 0, 1, "truncated timestamp ext: needs 11 bytes, 4 remain"},
		{"negative time", []byte{0x92, 0xf0, 0x80}, 0, 1, "negative seconds -16"},
		{"negative int32 time", []byte{0x92, 0xd2, 0xff, 0xff, 0xff, 0x00, 0x80}, 0, 1, "negative seconds -256"},
		{"huge uint time", []byte{0x92, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80}, 0, 1, "out of range"},
		{"NaN time", cat([]byte{0x92}, msgp.AppendFloat64(nil, math.NaN()), []byte{0x80}), 0, 1, "invalid float NaN"},
		{"Inf time", cat([]byte{0x92}, msgp.AppendFloat64(nil, math.Inf(1)), []byte{0x80}), 0, 1, "invalid float +Inf"},
		{"negative float time", cat([]byte{0x92}, msgp.AppendFloat64(nil, -1.5), []byte{0x80}), 0, 1, "invalid float -1.5"},
		{"record not map", []byte{0x92, 0x01, 0xa1, 'x'}, 0, 2, "record: expected map, got fixstr"},
		{"record array", []byte{0x92, 0x01, 0x90}, 0, 2, "record: expected map, got fixarray"},
		{"record missing", []byte{0x92, 0x92, 0x01, 0x80}, 0, 4, "truncated record"},
		{"event too short", []byte{0x92, 0x01}, 0, 0, "array declares 2 elements but only 1 bytes remain"},
		{"metadata not map", []byte{0x92, 0x92, 0x01, 0xc0, 0x80}, 0, 3, "metadata: expected map, got nil"},
		{"metadata missing", []byte{0x92, 0x92, 0xcc, 0x05}, 0, 4, "truncated metadata"},
		{"header too short", []byte{0x92, 0x92, 0x01}, 0, 1, "array declares 2 elements but only 1 bytes remain"},
		{"map16 absurd", []byte{0x92, 0x01, 0xde, 0xff, 0xff}, 0, 2, "map declares 131070 elements but only 0 bytes remain"},
		{"map32 absurd", []byte{0x92, 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'k', 0x01}, 0, 2, "map declares 4294967294 elements but only 3 bytes remain"},
		{"fixmap promises more", []byte{0x92, 0x01, 0x83, 0xa1, 'k', 0x01}, 0, 2, "map declares 6 elements but only 3 bytes remain"},
		{"nested promises more", []byte{0x92, 0x01, 0x82, 0xa1, 'a', 0x81, 0xa1, 'b', 0x92, 0x01, 0xa1, 'c'}, 0, 8, "nested values need at least 4 bytes but only 3 remain"},
		{"str32 absurd", []byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}, 0, 5, "truncated str: needs 4294967300 bytes, 6 remain"},
		{"bin8 truncated", []byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xc4, 0x05, 'x'}, 0, 5, "truncated bin: needs 7 bytes, 3 remain"},
		{"fixstr truncated", []byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xa5, 'x'}, 0, 5, "truncated fixstr: needs 6 bytes, 2 remain"},
		{"ext32 absurd", []byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, 5, "truncated ext"},
		{"invalid byte in record", []byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xc1}, 0, 5, "invalid msgpack byte 0xc1"},
		{"invalid byte as key", []byte{0x92, 0x01, 0x81, 0xc1, 0x01}, 0, 3, "invalid msgpack byte 0xc1"},
		{"garbage after event", cat(good, []byte{0x01}), 1, len(good), "expected array, got positive fixint"},
		{"truncated second event", cat(good, good[:len(good)-1]), 1, 2*len(good) - 3, "truncated fixstr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := readAll(tt.data)
			if len(evs) != tt.events {
				t.Errorf("got %d events, want %d", len(evs), tt.events)
			}
			if err == nil {
				t.Fatal("Err() = nil, want a DecodeError")
			}
			de := mustDecodeError(t, err)
			if de.Offset != tt.offset {
				t.Errorf("Offset = %d, want %d (%v)", de.Offset, tt.offset, de)
			}
			if !strings.Contains(de.Msg, tt.message) {
				t.Errorf("Msg = %q, want it to contain %q", de.Msg, tt.message)
			}
			if want := "chunk: offset "; !strings.HasPrefix(de.Error(), want) {
				t.Errorf("Error() = %q", de.Error())
			}
		})
	}
}

func TestDecodeErrorString(t *testing.T) {
	e := &DecodeError{Offset: 123, Msg: "bad thing"}
	if got, want := e.Error(), "chunk: offset 123: bad thing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// realChunk returns a chunk of three events in different layouts plus the byte offsets where
// each event ends.
func realChunk() ([]byte, []int) {
	var b []byte
	var ends []int
	b = AppendEventV2Meta(b, t0, map[string]any{"trace": "abc"}, map[string]any{
		"log":      "Dec  4 19:52:01 gw kernel: [12.3] NAT IN=eth1 OUT=eth0 SRC=10.1.2.3 DST=93.184.216.34 LEN=60 PROTO=TCP SPT=51234 DPT=443",
		"host":     "gw1",
		"pid":      -1,
		"nested":   map[string]any{"a": []any{1, "two", 3.5, nil, true}, "b": []byte{1, 2, 3}},
		"big":      uint64(1) << 40,
		"longtext": strings.Repeat("z", 300),
	})
	ends = append(ends, len(b))
	b = AppendEventV1(b, t0.Add(time.Second), map[string]any{"src_ip": "10.0.0.1", "dst_port": 443, "f": float32(0.5)})
	ends = append(ends, len(b))
	b = append(b, 0x92)
	b = msgp.AppendFloat64(b, 1733341921.5)
	b = AppendMap(b, map[string]any{"k": "v"})
	ends = append(ends, len(b))
	return b, ends
}

// TestTruncation cuts a real chunk at every length: at an event boundary the reader must end
// cleanly with the events before it; anywhere else it must return those events and then a
// DecodeError whose offset lies within the cut event.
func TestTruncation(t *testing.T) {
	data, ends := realChunk()
	for cut := 0; cut <= len(data); cut++ {
		// Copy to an exact-capacity slice so any read past the end would panic.
		part := append([]byte(nil), data[:cut]...)
		evs, err := readAll(part)
		complete, start := 0, 0
		for _, e := range ends {
			if e <= cut {
				complete++
				start = e
			}
		}
		if len(evs) != complete {
			t.Fatalf("cut %d: %d events, want %d", cut, len(evs), complete)
		}
		if cut == start {
			if err != nil {
				t.Fatalf("cut %d at boundary: unexpected error %v", cut, err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("cut %d: no error", cut)
		}
		de := mustDecodeError(t, err)
		if de.Offset < start || de.Offset > cut {
			t.Fatalf("cut %d: error offset %d outside [%d, %d]: %v", cut, de.Offset, start, cut, de)
		}
	}
}

// TestTruncatedFields cuts a record at every length and iterates it with Fields.
func TestTruncatedFields(t *testing.T) {
	data, ends := realChunk()
	evs, err := readAll(data[:ends[0]])
	if err != nil {
		t.Fatal(err)
	}
	rec := evs[0].Record
	for cut := 0; cut < len(rec); cut++ {
		part := append([]byte(nil), rec[:cut]...)
		err := walkMap(part, 0)
		if cut == 0 {
			if err != nil {
				t.Fatalf("empty map: %v", err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("cut %d: no error", cut)
		}
		de := mustDecodeError(t, err)
		if de.Offset < 0 || de.Offset > cut {
			t.Fatalf("cut %d: offset %d out of range", cut, de.Offset)
		}
	}
	if err := walkMap(rec, 0); err != nil {
		t.Fatal(err)
	}
}

// walkMap iterates every field of m recursively and returns the first error.
func walkMap(m []byte, depth int) error {
	f := NewFields(m)
	for f.Next() {
		_ = f.Key()
		if err := walkValue(f.Value(), depth); err != nil {
			return err
		}
	}
	return f.Err()
}

func walkArray(a []byte, depth int) error {
	it := NewArray(a)
	for it.Next() {
		if err := walkValue(it.Value(), depth); err != nil {
			return err
		}
	}
	return it.Err()
}

func walkValue(v Value, depth int) error {
	if len(v.Raw) == 0 {
		return errors.New("empty Raw")
	}
	switch v.Type {
	case TypeMap:
		return walkMap(v.Raw, depth+1)
	case TypeArray:
		return walkArray(v.Raw, depth+1)
	case TypeInvalid:
		return errors.New("TypeInvalid value")
	}
	return nil
}
