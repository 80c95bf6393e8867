package sampling

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/natlog"
)

func TestParseRatesValid(t *testing.T) {
	tests := []struct {
		text string
		want []Class
	}{
		{"", nil},
		{"udp/53=1/10", []Class{
			{Name: "udp/53", Proto: natlog.ProtoUDP, HasProto: true, Port: 53, HasPort: true, Rate: 10},
		}},
		{" UDP/53 = 1/10 , tcp/443=1/4 ", []Class{
			{Name: "udp/53", Proto: natlog.ProtoUDP, HasProto: true, Port: 53, HasPort: true, Rate: 10},
			{Name: "tcp/443", Proto: natlog.ProtoTCP, HasProto: true, Port: 443, HasPort: true, Rate: 4},
		}},
		{"proto:udp=1/20,direction:outbound=1/2", []Class{
			{Name: "proto:udp", Proto: natlog.ProtoUDP, HasProto: true, Rate: 20},
			{Name: "direction:outbound", Direction: natlog.DirectionOutbound, HasDirection: true, Rate: 2},
		}},
		{"port:123+direction:inbound=1/65535", []Class{
			{Name: "port:123+direction:inbound", Port: 123, HasPort: true, Direction: natlog.DirectionInbound, HasDirection: true, Rate: 65535},
		}},
		{"proto:tcp=1/1,proto:47=1/3", []Class{
			{Name: "proto:tcp", Proto: natlog.ProtoTCP, HasProto: true, Rate: 1},
			{Name: "proto:47", Proto: natlog.ProtoGRE, HasProto: true, Rate: 3},
		}},
	}
	for _, tt := range tests {
		got, _, err := ParseRates(tt.text)
		if err != nil {
			t.Errorf("ParseRates(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRates(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseRatesInvalid(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"udp/53", `entry "udp/53": the entry is not class=1/N`},
		{"udp/53=10", `entry "udp/53=10": rate "10" is not 1/N`},
		{"udp/53=2/10", `entry "udp/53=2/10": rate "2/10" is not 1/N`},
		{"udp/53=1/0", `entry "udp/53=1/0": rate "1/0" is not 1/N with N from 1 to 65535`},
		{"udp/53=1/65536", `entry "udp/53=1/65536": rate "1/65536" is not 1/N with N from 1 to 65535`},
		{"=1/10", `entry "=1/10": the class is missing`},
		{"dns=1/10", `entry "dns=1/10": selector "dns" is not PROTO/PORT`},
		{"udpp/53=1/10", `entry "udpp/53=1/10": unknown protocol "udpp"`},
		{"udp/0=1/10", `entry "udp/0=1/10": port "0" is not a number from 1 to 65535`},
		{"udp/dns=1/10", `entry "udp/dns=1/10": port "dns" is not a number`},
		{"direction:out=1/10", `entry "direction:out=1/10": unknown direction "out"`},
		{"dport:53=1/10", `entry "dport:53=1/10": selector "dport:53": unknown field "dport"`},
		{"udp/53+proto:tcp=1/10", `entry "udp/53+proto:tcp=1/10": protocol "tcp" is given twice`},
		{"proto:tcp=1/10", `entry "proto:tcp=1/10": sampling TCP without a destination port would hide scans and SYN floods`},
		{"proto:tcp+direction:outbound=1/2", `entry "proto:tcp+direction:outbound=1/2": sampling TCP without a destination port`},
		{"udp/53=1/10,udp/53=1/20", `entry "udp/53=1/20": class udp/53 is listed twice`},
	}
	for _, tt := range tests {
		_, _, err := ParseRates(tt.text)
		if err == nil {
			t.Errorf("ParseRates(%q) returned no error, want %q", tt.text, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRates(%q) error = %q, want it to contain %q", tt.text, err, tt.want)
		}
	}
}

func TestParseRatesWarnings(t *testing.T) {
	_, warnings, err := ParseRates("udp/53=1/10,direction:outbound=1/2,port:8080=1/4,direction:inbound=1/1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"class direction:outbound matches TCP records of every destination port, so scans and SYN floods in it are sampled too"}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
}

func allDays() [7]bool { return [7]bool{true, true, true, true, true, true, true} }

func TestParseFullCapture(t *testing.T) {
	weekend := [7]bool{true, false, false, false, false, false, true}
	friToMon := [7]bool{true, true, false, false, false, true, true}
	tests := []struct {
		text string
		want []Window
	}{
		{"", nil},
		{"00:00-06:00,12:00-13:00", []Window{
			{Days: allDays(), Start: 0, End: 360},
			{Days: allDays(), Start: 720, End: 780},
		}},
		{"sat-sun", []Window{{Days: weekend, Start: 0, End: 1440}}},
		{"fri-mon 22:00-24:00", []Window{{Days: friToMon, Start: 1320, End: 1440}}},
		{"Wed", []Window{{Days: [7]bool{3: true}, Start: 0, End: 1440}}},
	}
	for _, tt := range tests {
		got, err := ParseFullCapture(tt.text)
		if err != nil {
			t.Errorf("ParseFullCapture(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFullCapture(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseFullCaptureInvalid(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"22:00-06:00", `entry "22:00-06:00": "22:00-06:00" ends before it starts`},
		{"06:00", `entry "06:00": "06:00" is not a range of times`},
		{"25:00-26:00", `entry "25:00-26:00": "25:00" is not a time of day`},
		{"00:00-06:0", `entry "00:00-06:0": "06:0" is not a time of day`},
		{"weekend", `entry "weekend": "weekend" is not a day or a range of days`},
		{"sat-sun 00:00-06:00 utc", `entry "sat-sun 00:00-06:00 utc": use DAYS`},
		{"00:00-06:00,someday", `entry "someday": "someday" is not a day`},
	}
	for _, tt := range tests {
		_, err := ParseFullCapture(tt.text)
		if err == nil {
			t.Errorf("ParseFullCapture(%q) returned no error, want %q", tt.text, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFullCapture(%q) error = %q, want it to contain %q", tt.text, err, tt.want)
		}
	}
}

func TestNewWithoutSamplingClass(t *testing.T) {
	if s := New(Config{}); s != nil {
		t.Error("New without classes returned a sampler")
	}
	if s := New(Config{Classes: []Class{{Name: "udp/53", Rate: 1}}}); s != nil {
		t.Error("New with only 1/1 classes returned a sampler")
	}
}

// dnsFlow returns the three records (start, interim, end) that one DNS query over UDP leaves.
func dnsFlow(at time.Time, i int) [3]natlog.ConnEvent {
	base := natlog.ConnEvent{
		Time:      at,
		Proto:     natlog.ProtoUDP,
		Src:       netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)}),
		Dst:       netip.MustParseAddr("192.0.2.53"),
		SrcPort:   uint16(30000 + i%7),
		DstPort:   53,
		Direction: natlog.DirectionOutbound,
	}
	var flow [3]natlog.ConnEvent
	for k, kind := range [3]natlog.Kind{natlog.KindStart, natlog.KindInterim, natlog.KindEnd} {
		flow[k] = base
		flow[k].Kind = kind
		flow[k].Time = at.Add(time.Duration(k) * time.Second)
	}
	return flow
}

func mustSampler(t *testing.T, rates, fullCapture string, loc *time.Location) *Sampler {
	t.Helper()
	classes, _, err := ParseRates(rates)
	if err != nil {
		t.Fatal(err)
	}
	windows, err := ParseFullCapture(fullCapture)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Classes: classes, FullCapture: windows, Location: loc})
}

func TestSamplerKeepsWholeConnections(t *testing.T) {
	s := mustSampler(t, "udp/53=1/10", "", nil)
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

	keptFlows := 0
	for i := range 10000 {
		flow := dnsFlow(at, i)
		kept := 0
		for k := range flow {
			weight, keep := s.Decide(&flow[k])
			if keep {
				kept++
				if weight != 10 {
					t.Fatalf("flow %d record %d: weight %d, want 10", i, k, weight)
				}
			}
		}
		if kept != 0 && kept != len(flow) {
			t.Fatalf("flow %d: %d of its %d records kept, want all or none", i, kept, len(flow))
		}
		if kept > 0 {
			keptFlows++
		}
	}

	// The hash is fixed, so the count is exact; 1000 would be exactly one in ten.
	if keptFlows != 1026 {
		t.Errorf("kept %d of 10000 flows, want 1026", keptFlows)
	}
	wantDropped := map[string]uint64{"udp/53": uint64(3 * (10000 - keptFlows))}
	if got := s.Dropped(); !reflect.DeepEqual(got, wantDropped) {
		t.Errorf("Dropped() = %v, want %v", got, wantDropped)
	}
}

func TestSamplerFirstMatchWins(t *testing.T) {
	s := mustSampler(t, "udp/53=1/1,proto:udp=1/1000", "", nil)
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

	for i := range 100 {
		flow := dnsFlow(at, i)
		if weight, keep := s.Decide(&flow[0]); !keep || weight != 1 {
			t.Fatalf("DNS flow %d: Decide = %d, %v; want 1, true", i, weight, keep)
		}
	}

	ntp := dnsFlow(at, 0)[0]
	ntp.DstPort = 123
	if _, keep := s.Decide(&ntp); keep {
		t.Errorf("NTP record %v kept; want it dropped at 1/1000", ntp.Src)
	}

	tcp := ntp
	tcp.Proto = natlog.ProtoTCP
	if weight, keep := s.Decide(&tcp); !keep || weight != 1 {
		t.Errorf("TCP record of no class: Decide = %d, %v; want 1, true", weight, keep)
	}
}

func TestSamplerFullCapture(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	s := mustSampler(t, "udp/53=1/10", "00:00-06:00,sat", shanghai)

	tests := []struct {
		name string
		at   time.Time
		full bool
	}{
		{"02:00 Shanghai on a Friday", time.Date(2026, 3, 12, 18, 0, 0, 0, time.UTC), true},
		{"05:59 Shanghai on a Friday", time.Date(2026, 3, 12, 21, 59, 0, 0, time.UTC), true},
		{"06:00 Shanghai on a Friday", time.Date(2026, 3, 12, 22, 0, 0, 0, time.UTC), false},
		{"10:00 Shanghai on a Friday", time.Date(2026, 3, 13, 2, 0, 0, 0, time.UTC), false},
		{"10:00 Shanghai on a Saturday", time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC), true},
		{"10:00 Shanghai on a Sunday", time.Date(2026, 3, 15, 2, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		kept := 0
		for i := range 200 {
			ev := dnsFlow(tt.at, i)[0]
			weight, keep := s.Decide(&ev)
			if !keep {
				continue
			}
			kept++
			if tt.full && weight != 1 {
				t.Errorf("%s: weight %d, want 1 in a full-capture window", tt.name, weight)
			}
		}
		if tt.full && kept != 200 {
			t.Errorf("%s: kept %d of 200 flows, want all in a full-capture window", tt.name, kept)
		}
		if !tt.full && kept > 40 {
			t.Errorf("%s: kept %d of 200 flows, want about 20 outside the full-capture windows", tt.name, kept)
		}
	}
}

func TestFlowHashIsStable(t *testing.T) {
	ev := natlog.ConnEvent{
		Proto:   natlog.ProtoUDP,
		Src:     netip.MustParseAddr("10.20.1.5"),
		Dst:     netip.MustParseAddr("192.0.2.53"),
		SrcPort: 40001,
		DstPort: 53,
	}
	// The hash decides which connections every natwatch instance keeps, so it must not change
	// between releases or platforms.
	if got := fmt.Sprintf("%016x", FlowHash(&ev)); got != "3d3c4994521bbcc7" {
		t.Errorf("FlowHash = %s, want 3d3c4994521bbcc7", got)
	}

	swapped := ev
	swapped.Src, swapped.Dst = ev.Dst, ev.Src
	if FlowHash(&swapped) == FlowHash(&ev) {
		t.Error("FlowHash is the same with source and destination swapped")
	}
}
