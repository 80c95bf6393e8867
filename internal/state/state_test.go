package state

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.state")
	for _, payload := range [][]byte{[]byte("first"), []byte("second, longer payload")} {
		if err := WriteFile(path, 3, payload); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path, 3)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(payload) {
			t.Errorf("ReadFile = %q, want %q", got, payload)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after two writes, want only the snapshot", len(entries))
	}
}

func TestReadFileRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.state")
	if err := WriteFile(good, 1, []byte("payload bytes")); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	flipped := append([]byte(nil), valid...)
	flipped[headerSize+2] ^= 0x40
	tests := []struct {
		name string
		data []byte
	}{
		{"empty file", nil},
		{"not a snapshot", []byte("this is some other file entirely")},
		{"flipped payload bit", flipped},
		{"truncated", valid[:len(valid)-3]},
		{"trailing garbage", append(append([]byte(nil), valid...), 'x')},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "bad.state")
		if err := os.WriteFile(path, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path, 1)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ReadFile error = %v, want ErrCorrupt", tt.name, err)
		}
	}
}

func TestReadFileVersionAndMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "old.state")
	if err := WriteFile(path, 1, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path, 2)
	var verr *VersionError
	if !errors.As(err, &verr) || verr.Got != 1 || verr.Expected != 2 {
		t.Errorf("ReadFile of a version 1 file as version 2: %v, want a VersionError 1 vs 2", err)
	}

	_, err = ReadFile(filepath.Join(dir, "none.state"), 1)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestQuarantine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.state")
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	aside, err := Quarantine(path, time.Unix(1_772_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".bad-1772000000"; aside != want {
		t.Errorf("Quarantine moved the file to %s, want %s", aside, want)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the bad file is still at %s", path)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	var enc Encoder
	enc.Uint(1 << 40)
	enc.Int(-12345)
	enc.Float(3.25)
	enc.Bool(true)
	enc.String("edge-gw01")
	enc.Raw([]byte{1, 2, 3})
	enc.Addr(netip.MustParseAddr("10.20.0.5"))
	enc.Addr(netip.MustParseAddr("2001:db8::1"))
	enc.Addr(netip.Addr{})

	dec := NewDecoder(enc.Bytes())
	if v := dec.Uint(); v != 1<<40 {
		t.Errorf("Uint = %d", v)
	}
	if v := dec.Int(); v != -12345 {
		t.Errorf("Int = %d", v)
	}
	if v := dec.Float(); v != 3.25 {
		t.Errorf("Float = %v", v)
	}
	if v := dec.Bool(); !v {
		t.Error("Bool = false")
	}
	if v := dec.String(); v != "edge-gw01" {
		t.Errorf("String = %q", v)
	}
	if v := dec.Raw(); string(v) != "\x01\x02\x03" {
		t.Errorf("Raw = %v", v)
	}
	for _, want := range []string{"10.20.0.5", "2001:db8::1", "invalid IP"} {
		if got := dec.Addr(); got.String() != want {
			t.Errorf("Addr = %v, want %s", got, want)
		}
	}
	if err := dec.Err(); err != nil || dec.Remaining() != 0 {
		t.Errorf("Err = %v, Remaining = %d; want nil and 0", err, dec.Remaining())
	}

	// Reading past the end fails once and sticks.
	if dec.Uint() != 0 || !errors.Is(dec.Err(), ErrCorrupt) {
		t.Errorf("read past the end: Err = %v, want ErrCorrupt", dec.Err())
	}
	bad := NewDecoder([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	if n := bad.Count(100); n != 0 || bad.Err() == nil {
		t.Errorf("Count of a huge length = %d, Err = %v; want 0 and an error", n, bad.Err())
	}
}
