package natlog

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/natwatch/natwatch/internal/chunk"
)

// addGoldenSeeds adds every line of testdata/natlog/name.log to the fuzz corpus.
func addGoldenSeeds(f *testing.F, name string) {
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".log"))
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f.Add(bytes.Clone(sc.Bytes()))
	}
}

// checkParsed checks what must hold for any event or error a parser returns.
func checkParsed(t *testing.T, format string, err error, ev *ConnEvent) {
	t.Helper()
	if err != nil {
		skip, ok := err.(*SkipError)
		if !ok {
			t.Fatalf("error %v is %T, want *SkipError", err, err)
		}
		if skip.Format != format || skip.Reason == ReasonNone || int(skip.Reason) >= ReasonCount {
			t.Fatalf("bad SkipError %+v", skip)
		}
		return
	}
	if !ev.Src.IsValid() || !ev.Dst.IsValid() {
		t.Fatalf("parsed event without addresses: %+v", ev)
	}
	if ev.Format != format {
		t.Fatalf("Format = %q, want %q", ev.Format, format)
	}
}

func FuzzIPTables(f *testing.F) {
	addGoldenSeeds(f, "iptables")
	f.Add([]byte("IN= OUT= SRC=::ffff:1.2.3.4 DST=1::2 PROTO=UDP SPT=1 DPT=2 LEN=8"))
	f.Add([]byte("<4>1 - - - - - [x=\"]\\]\"] IN=a OUT= SRC=1.2.3.4"))
	f.Fuzz(func(t *testing.T, line []byte) {
		ctx := ParseContext{Now: testNow}
		var ev ConnEvent
		p := IPTables{}
		if !p.Detect(line) {
			return
		}
		err := p.Parse(line, &ctx, &ev)
		checkParsed(t, "iptables", err, &ev)
		if err == nil && (ev.Kind != KindPacket || ev.OrigPackets != 1) {
			t.Fatalf("packet event with Kind %s, OrigPackets %d", ev.Kind, ev.OrigPackets)
		}
	})
}

func FuzzConntrack(f *testing.F) {
	addGoldenSeeds(f, "conntrack")
	f.Add([]byte("[1.5] [DESTROY] x 6 src=1.2.3.4 dst=::1 sport=1 packets=1 bytes=2 src=:: dst=1.1.1.1 [start=Fri"))
	f.Fuzz(func(t *testing.T, line []byte) {
		ctx := ParseContext{Now: testNow}
		var ev ConnEvent
		p := Conntrack{}
		if !p.Detect(line) {
			return
		}
		err := p.Parse(line, &ctx, &ev)
		checkParsed(t, "conntrack", err, &ev)
		if err == nil && ev.Kind != KindStart && ev.Kind != KindInterim && ev.Kind != KindEnd {
			t.Fatalf("Kind = %s", ev.Kind)
		}
	})
}

func FuzzFieldMap(f *testing.F) {
	seeds := []map[string]any{
		{"srcip": "10.20.4.37", "dstip": "198.51.100.23", "srcport": 52144, "dstport": 443, "proto": 6, "sentbyte": 431877602, "eventtime": uint64(1741891267381924511)},
		{"id.orig_h": "10.20.4.37", "id.resp_h": "2001:db8::1", "ts": 1741889359.402211, "duration": 1.5, "proto": "tcp"},
		{"jsonPayload": map[string]any{"connection": map[string]any{"src_ip": "10.0.0.1", "dest_ip": "10.0.0.2", "nat_port": "41877"}}, "timestamp": "2025-03-13T18:09:19.402211903Z"},
		{"log": "IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=1 PROTO=ICMP TYPE=8 CODE=0", "host": "gw"},
		{"src": "-", "dst": nil, "bytes": "N/A", "action": []any{"drop"}},
	}
	for _, s := range seeds {
		f.Add(chunk.AppendMap(nil, s))
	}
	m, err := NewFieldMap(map[string]string{"src": "a.b", "dport": "p"})
	if err != nil {
		f.Fatal(err)
	}
	n, err := NewNormalizer(Options{InternalNets: officeNets})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, record []byte) {
		var ev ConnEvent
		err := m.Apply(record, &ParseContext{Now: testNow}, &ev)
		if err != nil {
			if _, ok := err.(*SkipError); !ok {
				t.Fatalf("error %v is %T, want *SkipError", err, err)
			}
		} else if !ev.Src.IsValid() || !ev.Dst.IsValid() {
			t.Fatalf("mapped event without addresses: %+v", ev)
		}
		_ = n.Record(chunk.Event{Time: testNow, Record: record}, "tag", &ev)
	})
}

// FuzzParseAddr checks the allocation-free address parser against net/netip.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::", "::1", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "01.2.3.4", "1::2::3", "fe80::1%eth0", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if err != nil && want.Zone() == "" {
			want = netip.Addr{}
		}
		if want.Zone() != "" {
			return // zones are rejected on purpose
		}
		if ok != (err == nil) || got != want {
			t.Fatalf("parseAddr(%q) = %v, %v; netip.ParseAddr = %v, %v", s, got, ok, want, err)
		}
	})
}
