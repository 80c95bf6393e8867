package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string, maxBytes int64) *Spool {
	t.Helper()
	s, err := Open(Options{Dir: dir, MaxBytes: maxBytes, SegmentBytes: 256, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendAll(t *testing.T, s *Spool, kind Stream, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if err := s.Append(kind, []byte(p), 1); err != nil {
			t.Fatalf("append %q: %v", p, err)
		}
	}
}

// drain reads and acknowledges up to n records and returns their payloads.
func drain(t *testing.T, s *Spool, n int) []string {
	t.Helper()
	var got []string
	for range n {
		rec, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(rec.Payload))
		if err := s.Ack(rec); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestSpoolOrderEventsFirst(t *testing.T) {
	s := openTest(t, t.TempDir(), 1<<20)
	appendAll(t, s, Metrics, "m1", "m2")
	appendAll(t, s, Events, "e1", "e2")
	appendAll(t, s, Metrics, "m3")

	got := strings.Join(drain(t, s, 10), ",")
	if got != "e1,e2,m1,m2,m3" {
		t.Errorf("read order %s, want e1,e2,m1,m2,m3", got)
	}
	stats := s.Stats()
	if stats.Bytes != 0 {
		t.Errorf("%d bytes left after everything was acknowledged, want 0", stats.Bytes)
	}
	if _, ok, _ := s.Next(); ok {
		t.Errorf("Next returned a record from an empty spool")
	}
}

func TestSpoolNextRepeatsUntilAck(t *testing.T) {
	s := openTest(t, t.TempDir(), 1<<20)
	appendAll(t, s, Events, "a", "b")

	first, _, _ := s.Next()
	again, _, _ := s.Next()
	if string(first.Payload) != "a" || string(again.Payload) != "a" {
		t.Fatalf("Next returned %q then %q, want a twice", first.Payload, again.Payload)
	}
	if err := s.Ack(first); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(first); err != nil {
		t.Fatalf("second Ack of the same record: %v", err)
	}
	if got := drain(t, s, 5); strings.Join(got, ",") != "b" {
		t.Errorf("after acknowledging a twice, read %v, want [b]", got)
	}
}

func TestSpoolReopenResumes(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		appendAll(t, s, Events, fmt.Sprintf("event-%02d", i))
	}
	appendAll(t, s, Metrics, "metric-00")
	if got := drain(t, s, 7); len(got) != 7 {
		t.Fatalf("read %d records, want 7", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, 1<<20)
	stats := s.Stats()
	if stats.Records[Events] != 13 || stats.Records[Metrics] != 1 {
		t.Errorf("after reopening: %v unacknowledged records, want [13 1]", stats.Records)
	}
	got := drain(t, s, 100)
	if len(got) != 14 || got[0] != "event-07" || got[12] != "event-19" || got[13] != "metric-00" {
		t.Errorf("after reopening read %v, want event-07 … event-19, metric-00", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(left) != 0 {
		t.Errorf("segment files left after everything was acknowledged: %v", left)
	}
}

func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, Events, "one", "two", "three")
	s.Close()

	segs, _ := filepath.Glob(filepath.Join(dir, "events-*.seg"))
	if len(segs) != 1 {
		t.Fatalf("found segments %v, want one", segs)
	}
	// A crash in the middle of the fourth append leaves half a record.
	half := appendRecord(nil, []byte("four"), 1, time.Now())[:headerSize+2]
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(half)
	f.Close()

	s = openTest(t, dir, 1<<20)
	if got := s.Stats().CorruptBytes; got != uint64(len(half)) {
		t.Errorf("CorruptBytes = %d, want %d", got, len(half))
	}
	appendAll(t, s, Events, "five")
	if got := strings.Join(drain(t, s, 10), ","); got != "one,two,three,five" {
		t.Errorf("read %s, want one,two,three,five", got)
	}
}

func TestSpoolFlippedByte(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, Events, "alpha", "bravo", "charlie")
	s.Close()

	segs, _ := filepath.Glob(filepath.Join(dir, "events-*.seg"))
	data, _ := os.ReadFile(segs[0])
	i := bytes.Index(data, []byte("bravo"))
	data[i] ^= 0x01
	os.WriteFile(segs[0], data, 0o600)

	s = openTest(t, dir, 1<<20)
	if got := strings.Join(drain(t, s, 10), ","); got != "alpha" {
		t.Errorf("read %s, want alpha: records from the invalid one on are skipped", got)
	}
	if s.Stats().CorruptBytes == 0 {
		t.Errorf("CorruptBytes = 0 after a flipped payload byte")
	}
}

func TestSpoolCapDropsMetricsFirst(t *testing.T) {
	s := openTest(t, t.TempDir(), 1024)
	payload := strings.Repeat("m", 80) // 100 bytes encoded

	for range 30 {
		if err := s.Append(Metrics, []byte(payload), 3); err != nil {
			t.Fatalf("metrics append into a full spool: %v", err)
		}
	}
	stats := s.Stats()
	if stats.Bytes > 1024 {
		t.Errorf("spool holds %d bytes, above its maximum of 1024", stats.Bytes)
	}
	if stats.DroppedRecords == 0 || stats.DroppedItems != 3*stats.DroppedRecords {
		t.Errorf("DroppedRecords = %d, DroppedItems = %d, want some records with 3 items each", stats.DroppedRecords, stats.DroppedItems)
	}
	if kept := uint64(stats.Records[Metrics]) + stats.DroppedRecords; kept != 30 {
		t.Errorf("kept %d + dropped %d records, want 30 in all", stats.Records[Metrics], stats.DroppedRecords)
	}

	var events int
	var err error
	for events = 0; events < 30; events++ {
		if err = s.Append(Events, []byte(payload), 1); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("events append into a full spool: error %v, want ErrFull", err)
	}
	var full *FullError
	if !errors.As(err, &full) || !strings.Contains(err.Error(), "raise the spool's maximum size") {
		t.Errorf("error %q does not say what to do", err)
	}
	stats = s.Stats()
	if stats.Records[Metrics] != 0 {
		t.Errorf("%d metrics records kept while events were rejected, want 0", stats.Records[Metrics])
	}
	if stats.Records[Events] != events {
		t.Errorf("%d events kept, want the %d appended", stats.Records[Events], events)
	}
	if got := drain(t, s, 100); len(got) != events {
		t.Errorf("read back %d events, want %d", len(got), events)
	}
}

func TestSpoolAckOfDroppedRecord(t *testing.T) {
	s := openTest(t, t.TempDir(), 600)
	appendAll(t, s, Metrics, strings.Repeat("x", 200))
	rec, _, _ := s.Next()

	// The in-flight record's segment is deleted to make room for events.
	appendAll(t, s, Events, strings.Repeat("e", 200), strings.Repeat("f", 200))
	if err := s.Ack(rec); err != nil {
		t.Fatalf("Ack of a deleted record: %v", err)
	}
	if got := s.Stats().Records; got != [2]int{2, 0} {
		t.Errorf("unacknowledged records %v, want [2 0]", got)
	}
}

func TestSpoolLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, 1<<20)
	_, err := Open(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open of one directory: error %v, want one saying it is in use", err)
	}
}

func TestSpoolStatsOldest(t *testing.T) {
	s := openTest(t, t.TempDir(), 1<<20)
	if !s.Stats().Oldest.IsZero() {
		t.Errorf("empty spool reports an oldest record")
	}
	before := time.Now()
	appendAll(t, s, Metrics, "m")
	appendAll(t, s, Events, "e")
	oldest := s.Stats().Oldest
	if oldest.Before(before.Add(-time.Second)) || oldest.After(time.Now()) {
		t.Errorf("Oldest = %v, want the time of the first append (%v)", oldest, before)
	}
}

func TestSpoolInvalidAppend(t *testing.T) {
	s := openTest(t, t.TempDir(), 1<<20)
	if err := s.Append(Stream(7), []byte("x"), 1); err == nil {
		t.Errorf("append to stream 7 succeeded")
	}
	if err := s.Append(Events, []byte("x"), -1); err == nil {
		t.Errorf("append with -1 items succeeded")
	}
}

func TestSpoolForeignSegment(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "events-0000000000000003.seg"), []byte("not a segment"), 0o600)
	s := openTest(t, dir, 1<<20)
	if s.Stats().CorruptBytes != uint64(len("not a segment")) {
		t.Errorf("CorruptBytes = %d, want the foreign file's size", s.Stats().CorruptBytes)
	}
	if _, err := os.Stat(filepath.Join(dir, "events-0000000000000003.seg.corrupt")); err != nil {
		t.Errorf("foreign segment not renamed to .corrupt: %v", err)
	}
	appendAll(t, s, Events, "after")
	if got := drain(t, s, 5); len(got) != 1 || got[0] != "after" {
		t.Errorf("read %v, want [after]", got)
	}
}

func FuzzScanSegment(f *testing.F) {
	valid := []byte(segmentMagic)
	valid = appendRecord(valid, []byte("natwatch_anomaly,gateway=gw1 value=1 1"), 1, time.Unix(1, 0))
	valid = appendRecord(valid, nil, 0, time.Unix(2, 0))
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add([]byte(segmentMagic))
	f.Add([]byte("NWSPOOL1\xff\xff\xff\xff"))

	f.Fuzz(func(t *testing.T, data []byte) {
		scan, err := scanSegment(data)
		if err != nil {
			return
		}
		if scan.validEnd < int64(len(segmentMagic)) || scan.validEnd > int64(len(data)) {
			t.Fatalf("validEnd %d outside [%d, %d]", scan.validEnd, len(segmentMagic), len(data))
		}
		if scan.validEnd < int64(len(data)) && scan.firstErr == nil {
			t.Fatalf("scan stopped at %d of %d bytes without an error", scan.validEnd, len(data))
		}

		// Re-encoding the valid records reproduces the valid prefix byte for byte.
		out := []byte(segmentMagic)
		rest := data[len(segmentMagic):scan.validEnd]
		for len(rest) > 0 {
			rec, n, err := decodeRecord(rest)
			if err != nil {
				t.Fatalf("record inside the valid prefix fails to decode: %v", err)
			}
			out = appendRecord(out, rec.payload, rec.items, rec.time)
			rest = rest[n:]
		}
		if !bytes.Equal(out, data[:scan.validEnd]) {
			t.Fatalf("re-encoded records differ from the valid prefix")
		}
	})
}
