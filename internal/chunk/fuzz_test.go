package chunk

import (
	"errors"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// FuzzReader decodes arbitrary bytes as a chunk, iterates every event and every field
// recursively, and checks that nothing panics, that errors are *DecodeError with an offset inside
// the input, and that the structural validation agrees with tinylib/msgp's Skip.
//
//	go test -run '^$' -fuzz FuzzReader -fuzztime 30s ./internal/chunk/
func FuzzReader(f *testing.F) {
	real, ends := realChunk()
	f.Add(real)
	f.Add(real[:ends[0]])
	f.Add(real[:ends[0]-7])
	f.Add(benchChunk(4))
	f.Add(goldenChunk())
	f.Add([]byte{})
	f.Add([]byte{0x92, 0x01, 0x80})
	f.Add([]byte{0x92, 0x92, 0xfe, 0x80, 0x80})
	f.Add([]byte{0x92, 0xc7, 0x08, 0x00, 0, 0, 0, 1, 0, 0, 0, 2, 0x81, 0xa1, 'k', 0xc4, 0x01, 'v'})
	f.Add([]byte{0x92, 0xcb, 0x41, 0xd9, 0xd3, 0xd8, 0xb8, 0x60, 0x00, 0x00, 0x81, 0xa3, 'a', '.', 'b', 0x91, 0xc0})
	f.Add([]byte{0x92, 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'k', 0x01})
	f.Add([]byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'})
	f.Add([]byte{0x92, 0x01, 0x81, 0xa1, 'a', 0x81, 0xa1, 'b', 0x81, 0xa1, 'c', 0xd4, 0x00, 0x01})
	f.Add([]byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xc1})

	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr := func(what string, err error, limit int) {
			if err == nil {
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%s: error %v (%T) is not a *DecodeError", what, err, err)
			}
			if de.Offset < 0 || de.Offset > limit {
				t.Fatalf("%s: offset %d outside [0, %d]: %v", what, de.Offset, limit, err)
			}
		}

		r := NewReader(data)
		var ev Event
		prev := -1
		for r.Next(&ev) {
			if ev.Offset <= prev || ev.Offset >= len(data) {
				t.Fatalf("event offset %d after %d (len %d)", ev.Offset, prev, len(data))
			}
			prev = ev.Offset
			if len(ev.Record) == 0 || !isMap(ev.Record[0]) {
				t.Fatalf("record % x is not a map", ev.Record)
			}
			// The reader validated the record's structure, so msgp must see exactly one object
			// and iterating it must not fail.
			if rest, err := msgp.Skip(ev.Record); err != nil || len(rest) != 0 {
				t.Fatalf("msgp.Skip(record) = %d bytes left, %v", len(rest), err)
			}
			if err := walkMap(ev.Record, 0); err != nil {
				t.Fatalf("walking a validated record: %v", err)
			}
			if err := walkMap(ev.Metadata, 0); err != nil {
				t.Fatalf("walking validated metadata: %v", err)
			}
			Lookup(ev.Record, "log")
			Lookup(ev.Record, "a.b")
		}
		checkErr("Reader", r.Err(), len(data))
		if r.Err() == nil && r.Offset() != len(data) {
			t.Fatalf("clean end at offset %d of %d", r.Offset(), len(data))
		}

		// The raw input as a map and as an array.
		checkErr("Fields", walkMap(data, 0), len(data))
		checkErr("Array", walkArray(data, 0), len(data))
		Lookup(data, "a.b.c")

		// Differential check of the validator against tinylib/msgp.
		if len(data) > 0 {
			end, err := skip(data, 0)
			rest, merr := msgp.Skip(data)
			if (err == nil) != (merr == nil) {
				t.Fatalf("skip error %v, msgp.Skip error %v", err, merr)
			}
			if err == nil && end != len(data)-len(rest) {
				t.Fatalf("skip ends at %d, msgp.Skip at %d", end, len(data)-len(rest))
			}
			if err != nil {
				checkErr("skip", err, len(data))
			}
		}
	})
}
