package natlog

import (
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// benchLines runs parse over lines round-robin and reports lines per second.
func benchLines(b *testing.B, p Parser, lines []string) {
	raw := make([][]byte, len(lines))
	for i, l := range lines {
		raw[i] = []byte(l)
	}
	ctx := ParseContext{Now: testNow}
	var ev ConnEvent
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		line := raw[i%len(raw)]
		ev.Reset()
		if !p.Detect(line) {
			b.Fatalf("Detect(%q) = false", line)
		}
		if err := p.Parse(line, &ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
}

func BenchmarkIPTables(b *testing.B) {
	benchLines(b, IPTables{}, []string{
		scanLine,
		"Mar 14 02:44:40 edge-gw01 kernel: [885929.004411] OUT-LOG IN=eth1 OUT=eth0 SRC=10.20.7.12 DST=192.0.2.53 LEN=61 TOS=0x00 PREC=0x00 TTL=63 ID=40021 DF PROTO=UDP SPT=53011 DPT=53 LEN=41 ",
		"2025-03-14T03:12:00.004417+08:00 edge-gw01 kernel: [887569.004417] ip6-accept IN=eth1 OUT=eth0 SRC=2001:db8:1::37 DST=2001:db8:ff::23 LEN=1280 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=52144 DPT=443 WINDOW=501 RES=0x00 ACK PSH URGP=0 ",
		"Mar 14 03:10:02 edge-gw01 kernel: [887451.229817] ICMP-DROP IN=eth0 OUT= MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00 SRC=198.51.100.77 DST=203.0.113.10 LEN=84 TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=2931 SEQ=1 ",
	})
}

func BenchmarkConntrack(b *testing.B) {
	benchLines(b, Conntrack{}, []string{
		conntrackNew,
		"[1741891267.912254]\t[DESTROY] ipv4     2 tcp      6 src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 packets=291877 bytes=431877602 src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877 packets=150233 bytes=9913021 [ASSURED] mark=0 delta-time=1908 use=1",
		"[1741891450.118820]\t    [NEW] ipv4     2 udp      17 30 src=10.20.7.12 dst=192.0.2.53 sport=53011 dport=53 [UNREPLIED] src=192.0.2.53 dst=203.0.113.10 sport=53 dport=1031 id=3014560042",
	})
}

// BenchmarkNormalizerLine measures the whole raw-line path: detection, parsing, gateway
// interning and direction.
func BenchmarkNormalizerLine(b *testing.B) {
	n := newTestNormalizer(b, Options{InternalNets: officeNets})
	line := []byte(scanLine)
	var ev ConnEvent
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := n.Line(line, testNow, &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkRecordFields measures a FortiGate-style record that Fluent Bit already parsed,
// through Normalizer.Record and the default field mapping.
func BenchmarkRecordFields(b *testing.B) {
	n := newTestNormalizer(b, Options{InternalNets: officeNets})
	rec := chunk.Event{Time: testNow, Record: chunk.AppendMap(nil, map[string]any{
		"date": "2025-03-14", "time": "02:41:07", "devname": "FGT-EDGE-01", "devid": "FG100FTK23009999",
		"eventtime": uint64(1741891267381924511), "tz": "+0800", "logid": "0000000013", "type": "traffic",
		"subtype": "forward", "level": "notice", "vd": "root", "srcip": "10.20.4.37", "srcport": 52144,
		"srcintf": "port2", "dstip": "198.51.100.23", "dstport": 443, "dstintf": "wan1", "sessionid": 73120544,
		"proto": 6, "action": "close", "policyid": 12, "service": "HTTPS", "trandisp": "snat",
		"transip": "203.0.113.10", "transport": 41877, "duration": 1908, "sentbyte": 431877602,
		"rcvdbyte": 9913021, "sentpkt": 291877, "rcvdpkt": 150233,
	})}
	var ev ConnEvent
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := n.Record(rec, "fortigate", &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
