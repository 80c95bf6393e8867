package behavior

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

var _ detector.Extension = (*Tracker)(nil)

var start = time.Date(2026, 3, 16, 1, 0, 0, 0, time.UTC)

func trackerFor(t *testing.T, yaml string) *Tracker {
	t.Helper()
	file, errs := rules.ParseFile("t.yaml", []byte(yaml))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set, err := rules.Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	tr := New(Config{Calendar: DefaultCalendar()})
	tr.SetRules(set)
	return tr
}

func windowRule(when string) string {
	return "lists:\n  ntp: [192.0.2.123]\nexcept: [ntp]\nrules:\n  - name: r\n    severity: low\n    kind: window\n    window: 5m\n    when: " + when + "\n    summary: s\n"
}

func outbound(src, dst string, at time.Time, size uint64) natlog.ConnEvent {
	return natlog.ConnEvent{
		Time: at, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: natlog.ProtoTCP,
		DstPort: 443, Kind: natlog.KindStart, Direction: natlog.DirectionOutbound,
		Counters: natlog.CountersTotal, OrigBytes: size,
	}
}

func fill(tr *Tracker, key string, at time.Time) rules.WindowEnv {
	env := rules.WindowEnv{WindowSeconds: 300}
	tr.FillWindow(&env, rules.GroupSrcIP, netip.MustParseAddr(key), at)
	return env
}

func TestBeaconScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	tests := []struct {
		name     string
		interval func() time.Duration
		size     func() uint64
		peer     string
		min, max float64
	}{
		{"60 s with 10 percent jitter", func() time.Duration { return time.Duration(54+rng.IntN(13)) * time.Second }, func() uint64 { return 320 }, "198.51.100.66", 0.9, 1},
		{"exact 300 s", func() time.Duration { return 300 * time.Second }, func() uint64 { return 512 }, "198.51.100.67", 0.95, 1},
		{"exponential gaps and sizes", func() time.Duration { return time.Duration(rng.ExpFloat64()*60+1) * time.Second }, func() uint64 { return uint64(rng.ExpFloat64() * 20000) }, "198.51.100.68", 0, 0.75},
		{"allowlisted NTP server", func() time.Duration { return 64 * time.Second }, func() uint64 { return 76 }, "192.0.2.123", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trackerFor(t, windowRule("beacon_score > 0.8"))
			at := start
			for range 60 {
				ev := outbound("10.20.3.7", tt.peer, at, tt.size())
				tr.Observe(&ev)
				at = at.Add(tt.interval())
			}
			env := fill(tr, "10.20.3.7", at)
			if env.BeaconScore < tt.min || env.BeaconScore > tt.max {
				t.Errorf("beacon score %.3f, want %.2f to %.2f", env.BeaconScore, tt.min, tt.max)
			}
			if tt.max > 0 && env.BeaconConns != beaconHistory {
				t.Errorf("beacon conns %d, want %d", env.BeaconConns, beaconHistory)
			}
		})
	}
}

func TestBeaconNeedsConnections(t *testing.T) {
	tr := trackerFor(t, windowRule("beacon_score > 0.8"))
	for i := range beaconMinConns - 1 {
		ev := outbound("10.20.3.7", "198.51.100.66", start.Add(time.Duration(i)*time.Minute), 100)
		tr.Observe(&ev)
	}
	if env := fill(tr, "10.20.3.7", start.Add(time.Hour)); env.BeaconScore != 0 {
		t.Errorf("beacon score %.3f with %d connections, want 0", env.BeaconScore, beaconMinConns-1)
	}
}

func TestScansAndHandshakes(t *testing.T) {
	tr := trackerFor(t, windowRule("dst_hosts_on_port > 1 || dst_ports_30m > 1 || failed_share > 0"))
	src := "198.51.100.9"
	for i := range 40 {
		ev := natlog.ConnEvent{
			Time: start.Add(time.Duration(i) * time.Second), Src: netip.MustParseAddr(src),
			Dst: netip.AddrFrom4([4]byte{10, 20, 1, byte(i)}), Proto: natlog.ProtoTCP, DstPort: 445,
			Kind: natlog.KindPacket, Flags: natlog.FlagSYN, State: natlog.StateSYNOnly,
		}
		if i%4 == 0 {
			ev.State, ev.Flags = natlog.StateEstablished, natlog.FlagSYN|natlog.FlagACK
		}
		tr.Observe(&ev)
	}
	env := fill(tr, src, start.Add(40*time.Second))
	if env.DstHostsOnPort != 40 || env.ScanPort != 445 {
		t.Errorf("dst_hosts_on_port %d on port %d, want 40 on 445", env.DstHostsOnPort, env.ScanPort)
	}
	if env.FailedConns != 30 || env.FailedShare != 0.75 {
		t.Errorf("failed %d, share %.4f; want 30 and 0.75", env.FailedConns, env.FailedShare)
	}

	// A slow scan of one host: a new port every 30 s.
	for i := range 60 {
		ev := natlog.ConnEvent{
			Time: start.Add(time.Minute + time.Duration(i)*30*time.Second), Src: netip.MustParseAddr(src),
			Dst: netip.MustParseAddr("10.20.1.200"), Proto: natlog.ProtoTCP, DstPort: uint16(2000 + i), Kind: natlog.KindPacket,
		}
		tr.Observe(&ev)
	}
	env = fill(tr, src, start.Add(31*time.Minute))
	if env.DstPorts30m != 60 {
		t.Errorf("dst_ports_30m at 31 min = %d, want 60 (port 445 is older than 30 minutes)", env.DstPorts30m)
	}
	if env.DstHostsOnPort != 1 {
		t.Errorf("dst_hosts_on_port at 31 min = %d, want 1", env.DstHostsOnPort)
	}
}

func TestLoops(t *testing.T) {
	tr := trackerFor(t, windowRule("loop_hits > 0 || tuple_repeats > 0"))
	for i := range 10 {
		ev := natlog.ConnEvent{
			Time: start, Gateway: "gw1", Src: netip.MustParseAddr("10.20.5.5"), Dst: netip.MustParseAddr("198.51.100.50"),
			Proto: natlog.ProtoICMP, Kind: natlog.KindPacket, TTL: uint8(64 - i), HasIPID: true, IPID: 77,
		}
		tr.Observe(&ev)
	}
	env := rules.WindowEnv{WindowSeconds: 60}
	tr.FillWindow(&env, rules.GroupDstIP, netip.MustParseAddr("198.51.100.50"), start.Add(time.Second))
	if env.LoopHits != 9 || env.TupleRepeats != 9 {
		t.Errorf("loop hits %d, tuple repeats %d; want 9 and 9", env.LoopHits, env.TupleRepeats)
	}
	env = rules.WindowEnv{Gateway: "gw1", WindowSeconds: 60}
	tr.FillWindow(&env, rules.GroupGateway, netip.Addr{}, start.Add(61*time.Second))
	if env.LoopHits != 0 {
		t.Errorf("loop hits after a minute = %d, want 0", env.LoopHits)
	}
}

func TestAddressEviction(t *testing.T) {
	tr := trackerFor(t, windowRule("failed_share > 0"))
	tr.cfg.MaxAddresses = 100
	for i := range 1000 {
		ev := outbound("10.20.0.1", "198.51.100.1", start.Add(time.Duration(i)*time.Second), 0)
		ev.Src = netip.AddrFrom4([4]byte{10, 30, byte(i >> 8), byte(i)})
		tr.Observe(&ev)
	}
	if n := len(tr.addrs); n > 100 {
		t.Errorf("%d addresses tracked, want at most 100", n)
	}
	if tr.Stats().AddressEvictions == 0 {
		t.Error("no evictions counted")
	}
}

func TestCalendar(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	cal := DefaultCalendar()
	cal.Location = shanghai
	if err := cal.ReadHolidays("h", strings.NewReader("# National Day\n2026-10-01..2026-10-07\n+2026-10-10 # Saturday worked\n")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at      string
		hour    int
		weekday int
		work    bool
	}{
		{"2026-03-16T02:00:00Z", 10, 1, true},  // Monday 10:00
		{"2026-03-16T10:00:00Z", 18, 1, false}, // Monday 18:00, the end is excluded
		{"2026-03-15T18:00:00Z", 2, 1, false},  // Monday 02:00
		{"2026-03-14T02:00:00Z", 10, 6, false}, // Saturday
		{"2026-10-01T02:00:00Z", 10, 4, false}, // holiday
		{"2026-10-10T02:00:00Z", 10, 6, true},  // extra working day
	}
	for _, tt := range tests {
		at, _ := time.Parse(time.RFC3339, tt.at)
		hour, weekday, work := cal.At(at)
		if hour != tt.hour || weekday != tt.weekday || work != tt.work {
			t.Errorf("At(%s) = %d, %d, %v; want %d, %d, %v", tt.at, hour, weekday, work, tt.hour, tt.weekday, tt.work)
		}
	}
}

func TestParseCalendarErrors(t *testing.T) {
	for _, text := range []string{"9-18", "18:00-09:00", "25:00-26:00", "09:60-10:00"} {
		if _, _, err := ParseWorkHours(text); err == nil {
			t.Errorf("ParseWorkHours(%q) accepted", text)
		}
	}
	days, err := ParseWorkDays("fri-mon")
	if err != nil || days != [7]bool{true, true, false, false, false, true, true} {
		t.Errorf("ParseWorkDays(fri-mon) = %v, %v", days, err)
	}
	if _, err := ParseWorkDays("mon-funday"); err == nil {
		t.Error("ParseWorkDays(mon-funday) accepted")
	}
	var cal Calendar
	err = cal.ReadHolidays("h", strings.NewReader("2026-10-01\n2026-13-01\n"))
	if err == nil || !strings.HasPrefix(err.Error(), `h:2: "2026-13-01" is not a date`) {
		t.Errorf("error = %v", err)
	}
}
