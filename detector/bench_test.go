package detector

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

// benchRules adds seven rules to the shipped ones: record rules on DNS, Telnet and RDP,
// and window rules per source, destination and gateway.
const benchRules = `rules:
  - name: bench_dns_to_outside_resolver
    severity: low
    kind: record
    when: proto == "udp" && dst_port == 53 && direction == "outbound" && !in_list(dst_ip, "office_nets")
    summary: "{{ .src }} asked {{ .dst }} for DNS"
  - name: bench_telnet_inbound
    severity: high
    kind: record
    when: proto == "tcp" && dst_port == 23 && direction == "inbound"
    summary: "{{ .src }} opened Telnet to {{ .dst }}"
  - name: bench_rdp_inbound_accepted
    severity: high
    kind: record
    when: proto == "tcp" && dst_port == 3389 && direction == "inbound" && action == "accept"
    summary: "{{ .src }} reached RDP on {{ .dst }}"
  - name: bench_port_scan_horizontal
    severity: high
    kind: window
    window: 5m
    when: dst_hosts > 100
    summary: "{{ .key }} reached {{ .value }} hosts"
  - name: bench_connection_burst
    severity: medium
    kind: window
    window: 10s
    when: conns_per_s > 500
    summary: "{{ .key }} opened {{ .value }} connections per second"
  - name: bench_ddos_target
    severity: critical
    kind: window
    group_by: dst_ip
    window: 1m
    when: src_hosts > 1000 && syn_per_s > 1000
    summary: "{{ .key }} received SYN from {{ .src_hosts }} sources"
  - name: bench_gateway_drop_storm
    severity: medium
    kind: window
    group_by: gateway
    window: 1m
    when: drops_per_s > 5000
    summary: "{{ .key }} dropped {{ .value }} per second"
`

// benchStream returns n events from 10 000 internal sources: web traffic, DNS, a few SMTP
// records and dropped inbound probes.
func benchStream(n int) []natlog.ConnEvent {
	events := make([]natlog.ConnEvent, n)
	for i := range events {
		src := netip.AddrFrom4([4]byte{10, 20, byte(i % 10000 / 250), byte(i % 250)})
		dst := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 200)})
		ev := natlog.ConnEvent{
			Gateway: "gw-edge-1", Format: "conntrack", Proto: natlog.ProtoTCP,
			Src: src, Dst: dst, SrcPort: uint16(30000 + i%30000), DstPort: 443,
			Direction: natlog.DirectionOutbound, Action: natlog.ActionAccept, Kind: natlog.KindEnd,
			State: natlog.StateClosed, Counters: natlog.CountersTotal,
			OrigBytes: 1200, ReplyBytes: 48000, OrigPackets: 12, ReplyPackets: 40,
		}
		switch {
		case i%10 == 1:
			ev.Proto, ev.DstPort, ev.Dst = natlog.ProtoUDP, 53, netip.MustParseAddr("10.20.0.53")
			ev.Direction = natlog.DirectionInternal
		case i%20 == 2:
			ev.Src, ev.Dst = dst, src
			ev.DstPort, ev.Direction, ev.Action = 22, natlog.DirectionInbound, natlog.ActionDrop
			ev.Kind, ev.State, ev.Flags = natlog.KindPacket, natlog.StateSYNOnly, natlog.FlagSYN
		case i%1000 == 3:
			ev.DstPort = 25
		}
		events[i] = ev
	}
	return events
}

// BenchmarkObserve feeds 100 000 events per second of event time through 10 rules, so every
// 100 000 events cross one tick.
func BenchmarkObserve(b *testing.B) {
	f, errs := rules.ParseFile("bench.yaml", []byte(benchRules))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	shipped := shippedRules(b)
	var files []*rules.File
	names, err := filepath.Glob("../rules.d/*.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		files = append(files, mustParseFile(b, name))
	}
	set, err := rules.Compile(append(files, f)...)
	if err != nil {
		b.Fatal(err)
	}
	if set.Len() != shipped.Len()+7 {
		b.Fatalf("got %d rules, want %d", set.Len(), shipped.Len()+7)
	}

	e, err := New(Config{Rules: set, OnAnomaly: func(Anomaly) {}, OnTraffic: func(TrafficPoint) {}})
	if err != nil {
		b.Fatal(err)
	}
	events := benchStream(1 << 16)
	const gap = 10 * time.Microsecond

	// Warm up: every source key exists and the first tick has run.
	for i := range 200_000 {
		ev := events[i%len(events)]
		ev.Time = t0.Add(time.Duration(i) * gap)
		e.Observe(&ev)
	}
	base := t0.Add(200_000 * gap)
	before := e.Stats()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	mallocs := mem.Mallocs

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := events[i%len(events)]
		ev.Time = base.Add(time.Duration(i) * gap)
		e.Observe(&ev)
	}
	b.StopTimer()

	runtime.ReadMemStats(&mem)
	after := e.Stats()
	b.ReportMetric(float64(mem.Mallocs-mallocs)/float64(b.N), "mallocs/event")
	b.ReportMetric(float64(after.RecordEvals-before.RecordEvals)/float64(b.N), "record-evals/event")
	b.ReportMetric(float64(after.WindowEvals-before.WindowEvals)/float64(b.N), "window-evals/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mevents/s")
}

func mustParseFile(b *testing.B, path string) *rules.File {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	f, errs := rules.ParseFile(path, data)
	if len(errs) > 0 {
		b.Fatal(fmt.Errorf("%s: %w", path, errs))
	}
	return f
}

// BenchmarkMemoryMillionSources inserts 1 000 000 distinct external sources, each probing one
// internal host, through the shipped rules at the default Max_Sources, and reports the heap in
// use after a garbage collection. Run it with -benchtime=1x.
func BenchmarkMemoryMillionSources(b *testing.B) {
	const sources = 1_000_000
	for range b.N {
		b.StopTimer()
		e, err := New(Config{Rules: shippedRules(b), OnAnomaly: func(Anomaly) {}, OnTraffic: func(TrafficPoint) {}})
		if err != nil {
			b.Fatal(err)
		}
		before := heapInUse()
		b.StartTimer()

		for i := range sources {
			ev := synProbe(t0.Add(time.Duration(i)*time.Millisecond/4), "100.0.0.1", "10.20.0.1", 443)
			ev.Src = netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
			ev.Dst = netip.AddrFrom4([4]byte{10, 20, 0, byte(i % 200)})
			e.Observe(&ev)
		}

		b.StopTimer()
		after := heapInUse()
		stats := e.Stats()
		b.ReportMetric(float64(after-before)/(1<<20), "MB-heap")
		b.ReportMetric(float64(after-before)/float64(stats.Sources), "B/source")
		b.ReportMetric(float64(stats.Sources), "sources")
		runtime.KeepAlive(e)
	}
}

// BenchmarkMemoryHostBaselines tracks 10 000 internal hosts and fills every slot of every day
// of their baselines, then reports the heap in use per host. Run it with -benchtime=1x.
func BenchmarkMemoryHostBaselines(b *testing.B) {
	const hosts = 10_000
	for range b.N {
		b.StopTimer()
		e, err := New(Config{Rules: shippedRules(b), OnAnomaly: func(Anomaly) {}, OnTraffic: func(TrafficPoint) {}})
		if err != nil {
			b.Fatal(err)
		}
		before := heapInUse()
		b.StartTimer()

		for i := range hosts {
			ev := smtpEvent(t0, "10.20.0.1", "203.0.113.25", natlog.DirectionOutbound)
			ev.Src = netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)})
			ev.DstPort = 443
			e.Observe(&ev)
		}
		counts := baseline.Counts{Conns: 900, Bytes: 9_000_000, Packets: 9000, OutBytes: 1_000_000, InBytes: 8_000_000}
		for idx := range e.hosts.slots {
			s := e.hosts.slots[idx].series
			for day := range int32(8) {
				for slot := range int32(baseline.SlotsPerDay) {
					s.Add(&counts)
					s.Close(baseline.Slot{Day: 20_000 + day, Index: slot}, baseline.SlotSeconds)
				}
			}
		}

		b.StopTimer()
		after := heapInUse()
		stats := e.Stats()
		b.ReportMetric(float64(after-before)/float64(stats.Hosts), "B/host")
		b.ReportMetric(float64(stats.Hosts), "hosts")
		runtime.KeepAlive(e)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
