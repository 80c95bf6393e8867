package detector

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

var t0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

func shippedRules(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadDir("../rules.d")
	if err != nil {
		t.Fatalf("loading rules.d: %v", err)
	}
	return set
}

// recorder collects what an engine emits.
type recorder struct {
	anomalies []Anomaly
	traffic   []TrafficPoint
}

func newEngine(t testing.TB, set *rules.Set, maxSources int) (*Engine, *recorder) {
	t.Helper()
	rec := &recorder{}
	e, err := New(Config{
		Rules:      set,
		MaxSources: maxSources,
		OnAnomaly:  func(a Anomaly) { rec.anomalies = append(rec.anomalies, a) },
		OnTraffic:  func(p TrafficPoint) { rec.traffic = append(rec.traffic, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

func (r *recorder) count(rule, state string) int {
	n := 0
	for _, a := range r.anomalies {
		if a.Rule == rule && a.State == state {
			n++
		}
	}
	return n
}

// synProbe is a SYN that got no reply, as conntrack logs it when the entry expires.
func synProbe(at time.Time, src, dst string, port uint16) natlog.ConnEvent {
	return natlog.ConnEvent{
		Time:        at,
		Gateway:     "gw-edge-1",
		Format:      "conntrack",
		Proto:       natlog.ProtoTCP,
		Src:         netip.MustParseAddr(src),
		Dst:         netip.MustParseAddr(dst),
		SrcPort:     40000,
		DstPort:     port,
		Direction:   natlog.DirectionInbound,
		Action:      natlog.ActionAccept,
		Kind:        natlog.KindEnd,
		State:       natlog.StateSYNOnly,
		Flags:       natlog.FlagSYN,
		Counters:    natlog.CountersTotal,
		OrigBytes:   60,
		OrigPackets: 1,
	}
}

func TestVerticalScan(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		ports     int
		wantFired int
	}{
		{"60 ports fire once", "203.0.113.50", 60, 1},
		{"300 ports still fire once", "203.0.113.50", 300, 1},
		{"40 ports stay quiet", "203.0.113.50", 40, 0},
		{"allowlisted scanner stays quiet", "192.0.2.10", 60, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rec := newEngine(t, shippedRules(t), 0)
			for i := 0; i < tt.ports; i++ {
				ev := synProbe(t0.Add(time.Duration(i)*time.Second), tt.src, "10.20.0.5", uint16(1000+i))
				e.Observe(&ev)
			}
			e.Advance(t0.Add(time.Duration(tt.ports+1) * time.Second))

			if got := rec.count("port_scan_vertical", StateFiring); got != tt.wantFired {
				t.Fatalf("port_scan_vertical fired %d times, want %d: %+v", got, tt.wantFired, rec.anomalies)
			}
			if tt.wantFired == 0 {
				return
			}
			a := rec.anomalies[0]
			want := Anomaly{
				Time:      t0.Add(51 * time.Second),
				Gateway:   "gw-edge-1",
				Rule:      "port_scan_vertical",
				Level:     "basic",
				Severity:  "high",
				State:     StateFiring,
				Key:       tt.src,
				Value:     51,
				Threshold: 50,
				Summary:   tt.src + " probed 51 destination ports in 5m",
				Src:       tt.src,
			}
			if !a.Time.Equal(want.Time) {
				t.Errorf("anomaly time %v, want %v", a.Time, want.Time)
			}
			a.Time = want.Time
			if category, _ := a.Labels.Get("category"); category != "scan" || a.Labels.Len() != 1 {
				t.Errorf("anomaly labels = %v, want category=scan", a.Labels.Map())
			}
			want.Labels = a.Labels
			if !reflect.DeepEqual(a, want) {
				t.Errorf("anomaly\n%+v\nwant\n%+v", a, want)
			}
		})
	}
}

func TestSYNFlood(t *testing.T) {
	tests := []struct {
		name    string
		rate    int
		offset  time.Duration // start of the flood after t0
		wantLag time.Duration // time from the start to the firing event; 0 means no event
	}{
		{"2500 per second from a second boundary", 2500, 0, time.Second},
		{"2500 per second from mid-second", 2500, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"1500 per second stays quiet", 1500, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rec := newEngine(t, shippedRules(t), 0)
			start := t0.Add(tt.offset)
			gap := time.Second / time.Duration(tt.rate)
			for i := 0; i < 3*tt.rate; i++ {
				ev := synProbe(start.Add(time.Duration(i)*gap), "198.51.100.77", "10.20.0.80", 80)
				e.Observe(&ev)
			}
			e.Advance(start.Add(10 * time.Second))

			fired := rec.count("syn_flood_source", StateFiring)
			if tt.wantLag == 0 {
				if fired != 0 {
					t.Fatalf("syn_flood_source fired %d times, want 0", fired)
				}
				return
			}
			if fired != 1 {
				t.Fatalf("syn_flood_source fired %d times, want 1: %+v", fired, rec.anomalies)
			}
			for _, a := range rec.anomalies {
				if a.Rule != "syn_flood_source" || a.State != StateFiring {
					continue
				}
				if lag := a.Time.Sub(start); lag != tt.wantLag {
					t.Errorf("fired %v after the flood began, want %v", lag, tt.wantLag)
				}
				if a.Value != 2500 || a.Key != "198.51.100.77" {
					t.Errorf("value %v key %s, want 2500 and 198.51.100.77", a.Value, a.Key)
				}
				if a.Summary != "198.51.100.77 sent 2500 unanswered SYN per second" {
					t.Errorf("summary %q", a.Summary)
				}
			}
			if got := rec.count("syn_flood_source", StateResolved); got != 1 {
				t.Errorf("syn_flood_source resolved %d times after the flood ended, want 1", got)
			}
		})
	}
}

func smtpEvent(at time.Time, src, dst string, dir natlog.Direction) natlog.ConnEvent {
	return natlog.ConnEvent{
		Time:      at,
		Gateway:   "gw-office",
		Format:    "conntrack",
		Proto:     natlog.ProtoTCP,
		Src:       netip.MustParseAddr(src),
		Dst:       netip.MustParseAddr(dst),
		SrcPort:   51000,
		DstPort:   25,
		Direction: dir,
		Action:    natlog.ActionAccept,
		Kind:      natlog.KindStart,
		State:     natlog.StateEstablished,
	}
}

func TestSMTPFromOffice(t *testing.T) {
	tests := []struct {
		name string
		ev   natlog.ConnEvent
		want []string // summaries of the firing anomalies
	}{
		{"office host to external", smtpEvent(t0, "10.20.3.4", "203.0.113.25", natlog.DirectionOutbound),
			[]string{"10.20.3.4 connected to 203.0.113.25 on TCP port 25 outside the mail relays"}},
		{"mail relay to external", smtpEvent(t0, "10.20.1.25", "203.0.113.25", natlog.DirectionOutbound), nil},
		{"office host to internal server", smtpEvent(t0, "10.20.3.4", "10.21.0.25", natlog.DirectionInternal), nil},
		{"other internal network", smtpEvent(t0, "10.30.3.4", "203.0.113.25", natlog.DirectionOutbound), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rec := newEngine(t, shippedRules(t), 0)
			ev := tt.ev
			e.Observe(&ev)
			var got []string
			for _, a := range rec.anomalies {
				got = append(got, a.Summary)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("anomalies %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSMTPCooldownAndReload(t *testing.T) {
	set := shippedRules(t)
	e, rec := newEngine(t, set, 0)
	observe := func(at time.Duration) {
		ev := smtpEvent(t0.Add(at), "10.20.3.4", "203.0.113.25", natlog.DirectionOutbound)
		e.Observe(&ev)
	}

	observe(0)
	observe(time.Minute)
	if got := rec.count("smtp_from_office", StateFiring); got != 1 {
		t.Fatalf("fired %d times within the cooldown, want 1", got)
	}

	e.SetRules(shippedRules(t))
	observe(2 * time.Minute)
	if got := rec.count("smtp_from_office", StateFiring); got != 1 {
		t.Errorf("fired %d times after reloading unchanged rules, want 1", got)
	}

	changed, err := rules.Compile(parse(t, "lists.yaml", `lists:
  office_nets: [10.20.0.0/16]
  mail_relays: [10.20.1.25]
`), parse(t, "policy.yaml", `rules:
  - name: smtp_from_office
    severity: medium
    kind: record
    when: proto == "tcp" && dst_port in [25, 587] && in_list(src_ip, "office_nets")
    cooldown: 1h
    except: [mail_relays]
    summary: "{{ .src }} sent mail to {{ .dst }}"
`))
	if err != nil {
		t.Fatal(err)
	}
	e.SetRules(changed)
	observe(3 * time.Minute)
	if got := rec.count("smtp_from_office", StateFiring); got != 2 {
		t.Errorf("fired %d times after the condition changed, want 2", got)
	}

	observe(3*time.Minute + time.Hour)
	if got := rec.count("smtp_from_office", StateFiring); got != 3 {
		t.Errorf("fired %d times after the cooldown, want 3", got)
	}
}

func parse(t *testing.T, name, text string) *rules.File {
	t.Helper()
	f, errs := rules.ParseFile(name, []byte(text))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return f
}

func TestRecordIndexSkipsOtherTraffic(t *testing.T) {
	e, _ := newEngine(t, shippedRules(t), 0)
	dns := natlog.ConnEvent{
		Time: t0, Gateway: "gw-office", Proto: natlog.ProtoUDP,
		Src: netip.MustParseAddr("10.20.3.4"), Dst: netip.MustParseAddr("10.20.0.53"),
		SrcPort: 53000, DstPort: 53, Direction: natlog.DirectionInternal, Kind: natlog.KindPacket,
	}
	web := smtpEvent(t0, "10.20.3.4", "203.0.113.80", natlog.DirectionOutbound)
	web.DstPort = 443
	inbound := smtpEvent(t0, "203.0.113.9", "10.20.1.25", natlog.DirectionInbound)
	relay := smtpEvent(t0, "10.20.1.25", "203.0.113.25", natlog.DirectionOutbound)
	outsideOffice := smtpEvent(t0, "10.30.0.7", "203.0.113.25", natlog.DirectionOutbound)
	for range 1000 {
		for _, ev := range []natlog.ConnEvent{dns, web, inbound, relay, outsideOffice} {
			e.Observe(&ev)
		}
	}
	if got := e.Stats().RecordEvals; got != 0 {
		t.Errorf("record rule evaluations = %d for traffic no record rule can match, want 0", got)
	}

	office := smtpEvent(t0, "10.20.3.4", "203.0.113.25", natlog.DirectionOutbound)
	for range 10 {
		e.Observe(&office)
	}
	if got := e.Stats().RecordEvals; got != 10 {
		t.Errorf("record rule evaluations = %d after 10 SMTP records from the office, want 10", got)
	}
}

func TestEvictionAtMaxSources(t *testing.T) {
	e, _ := newEngine(t, shippedRules(t), 100)
	for i := 0; i < 150; i++ {
		ev := synProbe(t0, fmt.Sprintf("198.51.100.%d", i), "10.20.0.5", 443)
		e.Observe(&ev)
	}
	stats := e.Stats()
	if stats.Sources != 100 || stats.Evictions != 50 {
		t.Errorf("sources %d evictions %d, want 100 and 50", stats.Sources, stats.Evictions)
	}
}

func TestLateEvents(t *testing.T) {
	e, _ := newEngine(t, shippedRules(t), 0)
	times := []time.Time{
		t0.Add(20 * time.Minute),
		t0.Add(19 * time.Minute), // 1 min late: counted into the current second
		t0,                       // 20 min late, beyond the 5 min window: dropped
		{},                       // no time: counted at the clock
	}
	for _, at := range times {
		ev := synProbe(at, "198.51.100.1", "10.20.0.5", 443)
		e.Observe(&ev)
	}
	stats := e.Stats()
	if stats.LateEvents != 1 || stats.LateDropped != 1 || stats.InvalidTime != 0 || stats.Events != 4 {
		t.Errorf("late %d, late dropped %d, invalid %d, events %d; want 1, 1, 0, 4",
			stats.LateEvents, stats.LateDropped, stats.InvalidTime, stats.Events)
	}

	fresh, _ := newEngine(t, shippedRules(t), 0)
	noTime := synProbe(time.Time{}, "198.51.100.1", "10.20.0.5", 443)
	fresh.Observe(&noTime)
	if got := fresh.Stats().InvalidTime; got != 1 {
		t.Errorf("InvalidTime = %d for an event without time before any other, want 1", got)
	}
}

func TestTrafficPoints(t *testing.T) {
	e, rec := newEngine(t, nil, 0)
	start := natlog.ConnEvent{
		Time: t0.Add(100 * time.Millisecond), Gateway: "gw-a", Format: "conntrack", Proto: natlog.ProtoTCP,
		Src: netip.MustParseAddr("10.20.3.4"), Dst: netip.MustParseAddr("203.0.113.80"), DstPort: 443,
		Direction: natlog.DirectionOutbound, Kind: natlog.KindStart,
	}
	end := start
	end.Time = t0.Add(900 * time.Millisecond)
	end.Kind = natlog.KindEnd
	end.Counters = natlog.CountersTotal
	end.OrigBytes, end.ReplyBytes = 3000, 1000
	end.OrigPackets, end.ReplyPackets = 10, 5
	endOnly := end
	endOnly.Format = "asa"
	blocked := natlog.ConnEvent{
		Time: t0.Add(500 * time.Millisecond), Gateway: "gw-b", Proto: natlog.ProtoTCP,
		Src: netip.MustParseAddr("203.0.113.9"), Dst: netip.MustParseAddr("10.20.0.5"), DstPort: 22,
		Direction: natlog.DirectionInbound, Action: natlog.ActionDrop, Kind: natlog.KindPacket,
		Counters: natlog.CountersPacket, OrigBytes: 60, OrigPackets: 1,
	}
	for _, ev := range []natlog.ConnEvent{start, end, endOnly, blocked} {
		e.Observe(&ev)
	}
	e.Advance(t0.Add(2 * time.Second))

	tick1 := t0.Add(time.Second)
	want := []TrafficPoint{
		// The conntrack end record follows a start in the same format, so it is not a second
		// connection. The asa end record is the only record of its connection.
		{Time: tick1, Gateway: "gw-a", Direction: "outbound", ConnsPerS: 2, BytesPerS: 8000, PacketsPerS: 30, OutInRatio: 3},
		{Time: tick1, Gateway: "gw-b", Direction: "inbound", ConnsPerS: 1, BytesPerS: 60, PacketsPerS: 1, DropsPerS: 1},
		{Time: t0.Add(2 * time.Second), Gateway: "gw-a", Direction: "outbound"},
		{Time: t0.Add(2 * time.Second), Gateway: "gw-b", Direction: "inbound"},
	}
	if len(rec.traffic) != len(want) {
		t.Fatalf("got %d traffic points, want %d: %+v", len(rec.traffic), len(want), rec.traffic)
	}
	for i := range want {
		if !rec.traffic[i].Time.Equal(want[i].Time) {
			t.Errorf("point %d time %v, want %v", i, rec.traffic[i].Time, want[i].Time)
		}
		got := rec.traffic[i]
		got.Time = want[i].Time
		if got != want[i] {
			t.Errorf("point %d\n%+v\nwant\n%+v", i, got, want[i])
		}
	}
}

func TestGatewayWindowRule(t *testing.T) {
	f := parse(t, "gw.yaml", `rules:
  - name: gateway_drop_storm
    severity: medium
    kind: window
    group_by: gateway
    window: 10s
    when: drops_per_s > 100 && src_hosts > 3
    value: drops_per_s
    threshold: 100
    summary: "{{ .key }} dropped {{ .value }} connections per second from {{ .src_hosts }} sources"
`)
	set, err := rules.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	e, rec := newEngine(t, set, 0)
	for i := 0; i < 2000; i++ {
		ev := synProbe(t0.Add(time.Duration(i)*5*time.Millisecond), fmt.Sprintf("203.0.113.%d", i%5), "10.20.0.5", 22)
		ev.Action = natlog.ActionDrop
		e.Observe(&ev)
	}
	e.Advance(t0.Add(10 * time.Second))

	if len(rec.anomalies) != 1 {
		t.Fatalf("got %d anomalies, want 1: %+v", len(rec.anomalies), rec.anomalies)
	}
	a := rec.anomalies[0]
	// 200 drops per second fill the 10 s window past 1000 drops after 6 s: 1200/10 = 120 per s.
	if a.Key != "gw-edge-1" || a.Value != 120 || !a.Time.Equal(t0.Add(6*time.Second)) ||
		a.Summary != "gw-edge-1 dropped 120 connections per second from 5 sources" {
		t.Errorf("anomaly %+v", a)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{TickInterval: 1500 * time.Millisecond}, "detector: tick interval 1.5s is not a whole number of seconds"},
		{Config{MaxSources: -1}, "detector: max sources -1 is negative"},
		{Config{Language: "fr"}, `detector: language "fr" is not supported (expected en or zh)`},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || err.Error() != tt.want {
			t.Errorf("New(%+v) error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestObserveAllocatesNothingForKnownKeys(t *testing.T) {
	e, _ := newEngine(t, shippedRules(t), 0)
	ev := synProbe(t0, "198.51.100.7", "10.20.0.5", 443)
	e.Observe(&ev)

	allocs := testing.AllocsPerRun(1000, func() {
		e.Observe(&ev)
	})
	if allocs != 0 {
		t.Errorf("Observe allocated %v times per record, want 0", allocs)
	}
}
