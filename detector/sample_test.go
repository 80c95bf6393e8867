package detector

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector/meter"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/detector/sampling"
	"github.com/natwatch/natwatch/internal/natlog"
)

func newSampler(t *testing.T, rates string) *sampling.Sampler {
	t.Helper()
	classes, _, err := sampling.ParseRates(rates)
	if err != nil {
		t.Fatal(err)
	}
	return sampling.New(sampling.Config{Classes: classes})
}

func compileRules(t *testing.T, text string) *rules.Set {
	t.Helper()
	set, err := rules.Compile(parse(t, "sampling.yaml", text))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// mixedStream returns 20 000 DNS queries (a tenth of them dropped) and 4 000 unanswered SYN to
// port 443, from 2 000 internal hosts over 100 seconds.
func mixedStream() []natlog.ConnEvent {
	var events []natlog.ConnEvent
	for i := range 24000 {
		ev := natlog.ConnEvent{
			Time:         t0.Add(time.Duration(i) * 100 * time.Second / 24000),
			Gateway:      "gw-edge-1",
			Format:       "conntrack",
			Proto:        natlog.ProtoUDP,
			Src:          netip.AddrFrom4([4]byte{10, 20, byte(i % 2000 >> 8), byte(i % 2000)}),
			Dst:          netip.MustParseAddr("192.0.2.53"),
			SrcPort:      uint16(20000 + i%40000),
			DstPort:      53,
			Direction:    natlog.DirectionOutbound,
			Action:       natlog.ActionAccept,
			Kind:         natlog.KindUnknown,
			Counters:     natlog.CountersTotal,
			OrigBytes:    uint64(60 + i%40),
			ReplyBytes:   uint64(100 + i%200),
			OrigPackets:  1,
			ReplyPackets: 1,
		}
		if i%10 == 3 {
			ev.Action = natlog.ActionDrop
		}
		if i%6 == 5 {
			ev.Proto = natlog.ProtoTCP
			ev.DstPort = 443
			ev.Dst = netip.MustParseAddr("198.51.100.80")
			ev.State = natlog.StateSYNOnly
			ev.Flags = natlog.FlagSYN
			ev.ReplyBytes, ev.ReplyPackets = 0, 0
		}
		events = append(events, ev)
	}
	return events
}

const gatewayWindowRule = `rules:
  - name: gateway_conns
    severity: info
    kind: window
    group_by: gateway
    window: 15m
    when: conns > 1000000000
    summary: "{{ .key }}"
`

func TestSampledCountsScaleBack(t *testing.T) {
	totals := func(sampler *sampling.Sampler) (meter.Totals, uint64) {
		e, err := New(Config{Rules: compileRules(t, gatewayWindowRule), Sampler: sampler})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range mixedStream() {
			e.Observe(&ev)
		}
		idx, found := e.gw.Lookup(e.gateways.lookup("gw-edge-1"))
		if !found {
			t.Fatal("the gateway meter has no key for gw-edge-1")
		}
		return e.gw.Window(idx, uint32(t0.Unix())+101, 900), e.Stats().SampledOut
	}
	exact, exactDropped := totals(nil)
	estimate, dropped := totals(newSampler(t, "udp/53=1/10,tcp/443=1/4"))

	if exact.Conns != 24000 || exact.SYN != 4000 || exact.Estimated || exactDropped != 0 {
		t.Fatalf("unsampled totals %+v, %d dropped; want 24000 connections, 4000 SYN, not estimated", exact, exactDropped)
	}
	if !estimate.Estimated {
		t.Error("sampled totals are not marked estimated")
	}
	if dropped < 20000 {
		t.Errorf("sampling dropped %d of 24000 records, want at least 20000", dropped)
	}

	// About 2 000 DNS and 1 000 SYN flows are kept, so one standard deviation of a scaled count
	// is about 2 % (DNS) and 3 % (SYN); 10 % is more than three of them.
	const tolerance = 0.10
	for _, c := range []struct {
		name           string
		exact, sampled uint64
	}{
		{"conns", exact.Conns, estimate.Conns},
		{"bytes", exact.Bytes, estimate.Bytes},
		{"packets", exact.Packets, estimate.Packets},
		{"syn", exact.SYN, estimate.SYN},
		{"drops", exact.Drops, estimate.Drops},
		{"out bytes", exact.OutBytes, estimate.OutBytes},
	} {
		deviation := math.Abs(float64(c.sampled)-float64(c.exact)) / float64(c.exact)
		if deviation > tolerance {
			t.Errorf("%s: sampled estimate %d, unsampled %d: off by %.1f %%, want at most %.0f %%",
				c.name, c.sampled, c.exact, 100*deviation, 100*tolerance)
		}
	}
}

func TestSampledTrafficPointsScaleBack(t *testing.T) {
	connsOf := func(sampler *sampling.Sampler) float64 {
		sum := 0.0
		e, err := New(Config{Sampler: sampler, OnTraffic: func(p TrafficPoint) { sum += p.ConnsPerS }})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range mixedStream() {
			e.Observe(&ev)
		}
		e.Advance(t0.Add(200 * time.Second))
		return sum
	}
	exact := connsOf(nil)
	estimate := connsOf(newSampler(t, "udp/53=1/10"))
	if exact != 24000 {
		t.Fatalf("unsampled traffic points sum to %v connections, want 24000", exact)
	}
	if deviation := math.Abs(estimate-exact) / exact; deviation > 0.10 {
		t.Errorf("sampled traffic points sum to %v connections, unsampled %v: off by %.1f %%, want at most 10 %%",
			estimate, exact, 100*deviation)
	}
}

const estimatedRules = `rules:
  - name: record_estimated
    severity: info
    kind: record
    when: estimated
    summary: "{{ .src }}"
  - name: record_exact
    severity: info
    kind: record
    when: "!estimated"
    summary: "{{ .src }}"
  - name: window_estimated
    severity: info
    kind: window
    window: 30s
    when: estimated && conns > 0
    cooldown: 0s
    summary: "{{ .key }}"
  - name: window_exact
    severity: info
    kind: window
    window: 30s
    when: "!estimated && conns > 0"
    cooldown: 0s
    summary: "{{ .key }}"
`

// udpFlow returns a record of a UDP connection from src to port dport; i varies the source port.
func udpFlow(at time.Time, src string, dport uint16, i int) natlog.ConnEvent {
	return natlog.ConnEvent{
		Time:      at,
		Gateway:   "gw-edge-1",
		Proto:     natlog.ProtoUDP,
		Src:       netip.MustParseAddr(src),
		Dst:       netip.MustParseAddr("192.0.2.53"),
		SrcPort:   uint16(30000 + i),
		DstPort:   dport,
		Direction: natlog.DirectionOutbound,
		Kind:      natlog.KindStart,
	}
}

func TestEstimatedVariable(t *testing.T) {
	rec := &recorder{}
	e, err := New(Config{
		Rules:     compileRules(t, estimatedRules),
		Sampler:   newSampler(t, "udp/53=1/2"),
		OnAnomaly: func(a Anomaly) { rec.anomalies = append(rec.anomalies, a) },
	})
	if err != nil {
		t.Fatal(err)
	}

	// 10.20.0.1 sends DNS, of which about half is kept with weight 2; 10.20.0.2 sends NTP,
	// which no class samples. At t0+2m 10.20.0.1 sends NTP only, after its DNS left the window.
	for i := range 20 {
		dns := udpFlow(t0.Add(time.Duration(i)*100*time.Millisecond), "10.20.0.1", 53, i)
		e.Observe(&dns)
		ntp := udpFlow(t0.Add(time.Duration(i)*100*time.Millisecond), "10.20.0.2", 123, i)
		e.Observe(&ntp)
	}
	late := udpFlow(t0.Add(2*time.Minute), "10.20.0.1", 123, 0)
	e.Observe(&late)
	e.Advance(t0.Add(2*time.Minute + 2*time.Second))

	firings := map[string][]string{}
	for _, a := range rec.anomalies {
		if a.State == StateFiring {
			firings[a.Rule] = append(firings[a.Rule], a.Key+"@"+a.Time.Sub(t0).String())
		}
	}
	want := map[string][]string{
		"record_estimated": {"10.20.0.1@0s"},
		"record_exact":     {"10.20.0.2@0s", "10.20.0.1@2m0s"},
		"window_estimated": {"10.20.0.1@1s"},
		"window_exact":     {"10.20.0.2@1s", "10.20.0.1@2m1s"},
	}
	for rule, keys := range want {
		got := firings[rule]
		if len(got) != len(keys) {
			t.Errorf("%s fired %v, want %v", rule, got, keys)
			continue
		}
		for i := range keys {
			if got[i] != keys[i] {
				t.Errorf("%s fired %v, want %v", rule, got, keys)
				break
			}
		}
	}
}

func TestSamplingKeepsSYNFlood(t *testing.T) {
	run := func(sampler *sampling.Sampler) *recorder {
		rec := &recorder{}
		e, err := New(Config{
			Rules:     shippedRules(t),
			Sampler:   sampler,
			OnAnomaly: func(a Anomaly) { rec.anomalies = append(rec.anomalies, a) },
		})
		if err != nil {
			t.Fatal(err)
		}
		// 2 500 SYN per second from one source, between 5 000 DNS queries per second.
		for i := range 7500 {
			at := t0.Add(time.Duration(i) * time.Second / 7500)
			if i%3 == 0 {
				syn := synProbe(at, "198.51.100.30", "10.20.1.10", 80)
				syn.SrcPort = uint16(1024 + i)
				e.Observe(&syn)
				continue
			}
			dns := udpFlow(at, "10.20.0.1", 53, i%30000)
			e.Observe(&dns)
		}
		e.Advance(t0.Add(3 * time.Second))
		return rec
	}

	for _, tt := range []struct {
		name    string
		sampler *sampling.Sampler
	}{
		{"unsampled", nil},
		{"DNS at 1/10", newSampler(t, "udp/53=1/10")},
	} {
		rec := run(tt.sampler)
		if n := rec.count("syn_flood_source", StateFiring); n != 1 {
			t.Errorf("%s: syn_flood_source fired %d times, want 1", tt.name, n)
		}
	}
}
