package natlog

import (
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/natwatch/natwatch/internal/chunk"
)

const (
	scanLine     = "Mar 14 02:17:43 edge-gw01 kernel: [884512.113207] DROP IN=eth0 OUT= MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00 SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0 "
	conntrackNew = "[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877"
)

func newTestNormalizer(t testing.TB, opts Options) *Normalizer {
	t.Helper()
	n, err := NewNormalizer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var officeNets = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("203.0.113.0/24")}

func TestNormalizerLine(t *testing.T) {
	n := newTestNormalizer(t, Options{Gateway: "default-gw", InternalNets: officeNets})

	tests := []struct {
		name      string
		line      string
		gateway   string
		time      time.Time
		direction Direction
		format    string
	}{
		{"iptables with syslog host", scanLine, "edge-gw01", utc("2025-03-14T02:17:43Z"), DirectionInbound, "iptables"},
		{"conntrack without host", conntrackNew, "default-gw", utc("2025-03-13T18:09:19.402211Z"), DirectionOutbound, "conntrack"},
		{"iptables without header", "IN=eth1 OUT=eth0 SRC=10.20.4.37 DST=10.20.9.9 LEN=60 TTL=64 ID=1 PROTO=UDP SPT=5000 DPT=53 LEN=40 ", "default-gw", testNow, DirectionInternal, "iptables"},
		{"transit traffic", "IN=eth0 OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=60 TTL=64 ID=1 PROTO=UDP SPT=5000 DPT=53 LEN=40 ", "default-gw", testNow, DirectionExternal, "iptables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev ConnEvent
			if err := n.Line([]byte(tt.line), testNow, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Gateway != tt.gateway {
				t.Errorf("Gateway = %q, want %q", ev.Gateway, tt.gateway)
			}
			if !ev.Time.Equal(tt.time) {
				t.Errorf("Time = %v, want %v", ev.Time, tt.time)
			}
			if ev.Direction != tt.direction {
				t.Errorf("Direction = %s, want %s", ev.Direction, tt.direction)
			}
			if ev.Format != tt.format {
				t.Errorf("Format = %q, want %q", ev.Format, tt.format)
			}
			if string(ev.Raw) != tt.line || ev.RawKind != RawLine {
				t.Errorf("Raw = %q (%d), want the line", ev.Raw, ev.RawKind)
			}
		})
	}
}

func TestNormalizerDirectionWithoutNets(t *testing.T) {
	n := newTestNormalizer(t, Options{})
	var ev ConnEvent
	if err := n.Line([]byte(scanLine), testNow, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Direction != DirectionUnknown {
		t.Errorf("Direction = %s, want unknown", ev.Direction)
	}
}

func TestNormalizerLineSkips(t *testing.T) {
	n := newTestNormalizer(t, Options{})
	tests := []struct {
		line   string
		reason Reason
	}{
		{"", ReasonUnknownFormat},
		{"   ", ReasonUnknownFormat},
		{"Mar 14 02:17:43 edge-gw01 sshd[811]: Accepted publickey for root from 192.0.2.4 port 50022", ReasonUnknownFormat},
		{"IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.11", ReasonTruncated},
		{"[NEW] tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED]", ReasonTruncated},
	}
	for _, tt := range tests {
		var ev ConnEvent
		err := n.Line([]byte(tt.line), testNow, &ev)
		skip, ok := err.(*SkipError)
		if !ok {
			t.Fatalf("Line(%q) error = %v, want *SkipError", tt.line, err)
		}
		if skip.Reason != tt.reason {
			t.Errorf("Line(%q) reason = %s, want %s", tt.line, skip.Reason, tt.reason)
		}
	}

	want := Stats{
		Read:    5,
		Parsed:  map[string]uint64{},
		Skipped: map[string]uint64{"unknown_format": 3, "truncated": 2},
		SkippedByFormat: map[string]map[string]uint64{
			"unknown":   {"unknown_format": 3},
			"iptables":  {"truncated": 1},
			"conntrack": {"truncated": 1},
		},
	}
	if got := n.Stats(); !reflect.DeepEqual(got, want) {
		t.Errorf("Stats = %+v\nwant %+v", got, want)
	}
}

func TestNormalizerRecord(t *testing.T) {
	recTime := utc("2025-03-14T05:00:00Z")
	tests := []struct {
		name    string
		opts    Options
		record  map[string]any
		tag     string
		gateway string
		time    time.Time
		format  string
		rawKind RawKind
	}{
		{
			name:    "raw line in log",
			record:  map[string]any{"log": scanLine},
			tag:     "kern.edge",
			gateway: "edge-gw01", time: utc("2025-03-14T02:17:43Z"), format: "iptables", rawKind: RawLine,
		},
		{
			name: "syslog parser output with host field",
			record: map[string]any{
				"pri": "4", "time": "Mar 14 02:17:43", "host": "edge-gw02", "ident": "kernel",
				"message": "[884512.113207] DROP IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 ID=1 PROTO=TCP SPT=61022 DPT=3389 SYN URGP=0 ",
			},
			tag:     "syslog",
			gateway: "edge-gw02", time: utc("2025-03-14T02:17:43Z"), format: "iptables", rawKind: RawLine,
		},
		{
			name:    "journald MESSAGE, time from the record",
			record:  map[string]any{"MESSAGE": conntrackNew[len("[1741889359.402211]\t"):]},
			tag:     "conntrack",
			gateway: "conntrack", time: recTime, format: "conntrack", rawKind: RawLine,
		},
		{
			name:    "parsed fields, gateway from options",
			opts:    Options{Gateway: "nat-1"},
			record:  map[string]any{"srcip": "10.20.4.37", "dstip": "198.51.100.23", "proto": 6},
			tag:     "fw",
			gateway: "nat-1", time: recTime, format: "fields", rawKind: RawMsgpack,
		},
		{
			name:    "parsed fields, gateway from tag",
			record:  map[string]any{"srcip": "10.20.4.37", "dstip": "198.51.100.23", "eventtime": 1741891267},
			tag:     "fortigate",
			gateway: "fortigate", time: utc("2025-03-13T18:41:07Z"), format: "fields", rawKind: RawMsgpack,
		},
		{
			name:    "message that no parser claims falls back to fields",
			record:  map[string]any{"message": "session closed", "src": "10.20.4.37", "dst": "198.51.100.23", "hostname": "srx-1"},
			tag:     "srx",
			gateway: "srx-1", time: recTime, format: "fields", rawKind: RawMsgpack,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNormalizer(t, tt.opts)
			rec := chunk.Event{Time: recTime, Record: chunk.AppendMap(nil, tt.record)}
			var ev ConnEvent
			if err := n.Record(rec, tt.tag, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Gateway != tt.gateway {
				t.Errorf("Gateway = %q, want %q", ev.Gateway, tt.gateway)
			}
			if !ev.Time.Equal(tt.time) {
				t.Errorf("Time = %v, want %v", ev.Time, tt.time)
			}
			if ev.Format != tt.format {
				t.Errorf("Format = %q, want %q", ev.Format, tt.format)
			}
			if ev.RawKind != tt.rawKind {
				t.Errorf("RawKind = %d, want %d", ev.RawKind, tt.rawKind)
			}
			if got := n.Stats().Parsed[tt.format]; got != 1 {
				t.Errorf("Stats.Parsed[%s] = %d, want 1", tt.format, got)
			}
		})
	}
}

func TestNormalizerRecordSkips(t *testing.T) {
	n := newTestNormalizer(t, Options{})
	records := []map[string]any{
		{"log": "GET /index.html 200"},
		{"level": "info", "msg": "started"},
		{"src": "10.0.0.1"},
		{"log": "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.11"},
	}
	for _, r := range records {
		var ev ConnEvent
		if err := n.Record(chunk.Event{Record: chunk.AppendMap(nil, r)}, "t", &ev); err == nil {
			t.Errorf("Record(%v) = nil error, want a skip", r)
		}
	}
	bad := chunk.AppendMap(nil, map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2"})
	var ev ConnEvent
	if err := n.Record(chunk.Event{Record: bad[:len(bad)-2]}, "t", &ev); err == nil {
		t.Error("Record(malformed) = nil error, want a skip")
	}

	want := map[string]map[string]uint64{
		"unknown":  {"unknown_format": 2},
		"fields":   {"missing_field": 1, "bad_record": 1},
		"iptables": {"truncated": 1},
	}
	if got := n.Stats().SkippedByFormat; !reflect.DeepEqual(got, want) {
		t.Errorf("SkippedByFormat = %v, want %v", got, want)
	}
}

func TestNormalizerInternsGateway(t *testing.T) {
	n := newTestNormalizer(t, Options{})
	var a, b ConnEvent
	line1 := []byte(scanLine)
	line2 := []byte(scanLine)
	if err := n.Line(line1, testNow, &a); err != nil {
		t.Fatal(err)
	}
	if err := n.Line(line2, testNow, &b); err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(a.Gateway) != unsafe.StringData(b.Gateway) {
		t.Error("two lines from edge-gw01 got separate gateway strings")
	}
	line1[16] = 'X' // the interned name must not share memory with the line
	if a.Gateway != "edge-gw01" {
		t.Errorf("Gateway = %q after the line changed, want edge-gw01", a.Gateway)
	}
}

func TestNormalizerZeroAllocs(t *testing.T) {
	n := newTestNormalizer(t, Options{InternalNets: officeNets})
	var ev ConnEvent
	lines := [][]byte{[]byte(scanLine), []byte(conntrackNew)}
	for _, line := range lines {
		allocs := testing.AllocsPerRun(200, func() {
			if err := n.Line(line, testNow, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Line(%.20q…) allocates %.1f times, want 0", line, allocs)
		}
	}

	rec := chunk.Event{Time: testNow, Record: chunk.AppendMap(nil, map[string]any{
		"srcip": "10.20.4.37", "dstip": "198.51.100.23", "srcport": 52144, "dstport": 443, "proto": 6,
		"sentbyte": 431877602, "rcvdbyte": 9913021, "action": "close", "devname": "FGT-EDGE-01",
	})}
	allocs := testing.AllocsPerRun(200, func() {
		if err := n.Record(rec, "fw", &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Record allocates %.1f times, want 0", allocs)
	}
}

func TestNormalizerConcurrent(t *testing.T) {
	n := newTestNormalizer(t, Options{InternalNets: officeNets})
	lines := [][]byte{
		[]byte(scanLine),
		[]byte(conntrackNew),
		[]byte("not a firewall line"),
		[]byte("2025-03-14T02:17:43+08:00 gw-b kernel: DROP IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=44 TTL=49 ID=1 PROTO=TCP SPT=1 DPT=22 SYN URGP=0 "),
	}
	rec := chunk.Event{Time: testNow, Record: chunk.AppendMap(nil, map[string]any{"src": "10.20.1.1", "dst": "192.0.2.1", "host": "gw-c"})}

	const workers, rounds = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ev ConnEvent
			for i := range rounds {
				line := lines[(i+w)%len(lines)]
				_ = n.Line(line, testNow, &ev)
				_ = n.Record(rec, "tag", &ev)
			}
		}()
	}
	wg.Wait()

	per := uint64(workers * rounds / len(lines))
	s := n.Stats()
	if s.Read != workers*rounds*2 {
		t.Errorf("Read = %d, want %d", s.Read, workers*rounds*2)
	}
	if s.Parsed["iptables"] != 2*per {
		t.Errorf("Parsed[iptables] = %d, want %d", s.Parsed["iptables"], 2*per)
	}
	if s.Parsed["conntrack"] != per {
		t.Errorf("Parsed[conntrack] = %d, want %d", s.Parsed["conntrack"], per)
	}
	if s.Parsed["fields"] != workers*rounds {
		t.Errorf("Parsed[fields] = %d, want %d", s.Parsed["fields"], workers*rounds)
	}
	if s.Skipped["unknown_format"] != per {
		t.Errorf("Skipped[unknown_format] = %d, want %d", s.Skipped["unknown_format"], per)
	}
}

func TestNewNormalizerErrors(t *testing.T) {
	if _, err := NewNormalizer(Options{FieldMap: map[string]string{"srcip": "x"}}); err == nil {
		t.Error("unknown field name: err = nil")
	}
	if _, err := NewNormalizer(Options{InternalNets: []netip.Prefix{{}}}); err == nil {
		t.Error("invalid prefix: err = nil")
	}
}
