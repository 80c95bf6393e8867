package detector

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

// monday is a Monday midnight in UTC, where the generated traffic starts.
var monday = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// seasonalTraffic generates outbound connections from 20 office hosts as a daily sinusoid, with
// its trough at midnight (0.5 connections/s) and its peak at noon (2.5/s). Weekends carry 40 %
// of that. Each connection averages 200 kB, and rates and sizes get noise from a fixed seed.
type seasonalTraffic struct {
	rng    *rand.Rand
	attack func(t time.Time) float64 // multiplier of the normal traffic; nil means 1
}

func newSeasonalTraffic() *seasonalTraffic {
	return &seasonalTraffic{rng: rand.New(rand.NewPCG(1, 2))}
}

// rate returns the mean connections per second at t.
func (g *seasonalTraffic) rate(t time.Time) float64 {
	dayFraction := float64(t.Hour()*3600+t.Minute()*60+t.Second()) / 86400
	r := 1.5 + math.Sin(2*math.Pi*(dayFraction-0.25))
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		r *= 0.4
	}
	if g.attack != nil {
		r *= g.attack(t)
	}
	return r
}

// run feeds e one simulated second at a time from start for the given duration, calling probe
// (if not nil) before each second.
func (g *seasonalTraffic) run(e *Engine, start time.Time, d time.Duration, probe func(t time.Time)) {
	var ev natlog.ConnEvent
	for s := time.Duration(0); s < d; s += time.Second {
		t := start.Add(s)
		if probe != nil {
			probe(t)
		}
		mean := g.rate(t) * (0.9 + 0.2*g.rng.Float64())
		n := int(mean)
		if g.rng.Float64() < mean-float64(n) {
			n++
		}
		for i := range n {
			host := byte(1 + g.rng.IntN(20))
			bytes := uint64(150_000 + g.rng.IntN(100_000))
			ev = natlog.ConnEvent{
				Time: t.Add(time.Duration(i) * time.Millisecond), Gateway: "gw-edge-1", Format: "conntrack",
				Proto: natlog.ProtoTCP, Src: netip.AddrFrom4([4]byte{10, 20, 0, host}),
				Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(g.rng.IntN(200))}), SrcPort: 40000, DstPort: 443,
				Direction: natlog.DirectionOutbound, Action: natlog.ActionAccept, Kind: natlog.KindEnd,
				State: natlog.StateClosed, Counters: natlog.CountersTotal,
				OrigBytes: bytes / 10, ReplyBytes: bytes - bytes/10, OrigPackets: 20, ReplyPackets: 150,
			}
			e.Observe(&ev)
		}
	}
	e.Advance(start.Add(d))
}

// baselineRuleSet loads the shipped baseline rules and the lists they use, without the other
// rule files, which would only slow the multi-day simulations down.
func baselineRuleSet(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadFiles("../rules.d/lists.yaml", "../rules.d/baseline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newSeasonalEngine(t *testing.T, method baseline.Method) (*Engine, *recorder) {
	t.Helper()
	rec := &recorder{}
	e, err := New(Config{
		Rules:        baselineRuleSet(t),
		TickInterval: 5 * time.Second,
		Baseline:     baseline.Config{Method: method},
		OnAnomaly:    func(a Anomaly) { rec.anomalies = append(rec.anomalies, a) },
		OnTraffic:    func(p TrafficPoint) { rec.traffic = append(rec.traffic, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

// baselineRules are the shipped rules that read baselines, growth or profile scores.
var baselineRules = []string{"traffic_surge", "gateway_above_baseline", "office_busy_off_hours", "host_profile_anomaly"}

func TestNormalWeekRaisesNoBaselineAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 8 days of traffic")
	}
	e, rec := newSeasonalEngine(t, baseline.MAD)
	g := newSeasonalTraffic()

	warmTicks, aboveGuard := 0, 0
	g.run(e, monday, 8*24*time.Hour, func(at time.Time) {
		// A minute into each quarter hour, once the tick at its start has moved the baseline on.
		if at.Sub(monday) < 24*time.Hour || at.Unix()%900 != 60 {
			return
		}
		stat, ok := e.GatewayBaseline("gw-edge-1", "outbound", baseline.BytesPerS)
		if ok && stat.Warm() {
			warmTicks++
		}
	})
	for _, p := range rec.traffic {
		if p.Direction == "outbound" && p.BytesPerS >= 125000 && p.Baseline.Warm {
			aboveGuard++
		}
	}

	for _, name := range baselineRules {
		if n := rec.count(name, StateFiring); n != 0 {
			t.Errorf("%s fired %d times on normal traffic", name, n)
		}
	}
	for _, a := range rec.anomalies {
		t.Logf("anomaly: %+v", a)
	}
	// The check above means something only if the rules ran on warm baselines above their
	// volume guard: 7 days of quarter hours after the first day, and most ticks in daytime.
	if want := 7 * 96; warmTicks != want {
		t.Errorf("outbound bytes baseline warm at %d quarter hours after day 1, want %d", warmTicks, want)
	}
	if aboveGuard < 10_000 {
		t.Errorf("only %d outbound points above 125 kB/s with a warm baseline, want at least 10 000", aboveGuard)
	}
}

func TestAttackDoesNotTeachBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 2 × 10 days of traffic")
	}
	attackStart := monday.Add(3*24*time.Hour + 10*time.Hour) // Thursday 10:00
	tests := []struct {
		method  baseline.Method
		maxMove float64
	}{
		{baseline.MAD, 0.10},
	}
	for _, tt := range tests {
		uppers := func(attack bool) (map[int]float64, *recorder) {
			e, rec := newSeasonalEngine(t, tt.method)
			g := newSeasonalTraffic()
			if attack {
				g.attack = func(at time.Time) float64 {
					if !at.Before(attackStart) && at.Before(attackStart.Add(time.Hour)) {
						return 10
					}
					return 1
				}
			}
			got := map[int]float64{}
			g.run(e, monday, 10*24*time.Hour, func(at time.Time) {
				day := int(at.Sub(monday) / (24 * time.Hour))
				if day >= 7 && at.Sub(monday.Add(time.Duration(day)*24*time.Hour)) == 10*time.Hour+30*time.Minute {
					stat, _ := e.GatewayBaseline("gw-edge-1", "outbound", baseline.BytesPerS)
					got[day] = stat.Upper
				}
			})
			return got, rec
		}

		normal, _ := uppers(false)
		attacked, rec := uppers(true)

		fired := 0
		for _, a := range rec.anomalies {
			if a.Rule == "gateway_above_baseline" && a.State == StateFiring && !a.Time.Before(attackStart) && a.Time.Before(attackStart.Add(time.Hour)) {
				fired++
			}
		}
		if fired == 0 {
			t.Errorf("%v: gateway_above_baseline did not fire during the attack", tt.method)
		}
		for day := 7; day <= 9; day++ {
			if normal[day] == 0 {
				t.Fatalf("%v: no upper bound recorded on day %d", tt.method, day)
			}
			move := math.Abs(attacked[day]-normal[day]) / normal[day]
			t.Logf("%v day %d 10:30 upper: normal %.0f, after attack %.0f (%.1f %%)", tt.method, day, normal[day], attacked[day], 100*move)
			if move >= tt.maxMove {
				t.Errorf("%v: the attack moved day %d's upper bound from %.0f to %.0f (%.1f %%), want under %.0f %%",
					tt.method, day, normal[day], attacked[day], 100*move, 100*tt.maxMove)
			}
		}
	}
}

// flatTraffic feeds conns outbound connections of 1 kB every second from t for d.
func flatTraffic(e *Engine, from time.Time, d time.Duration, conns int) {
	for s := time.Duration(0); s < d; s += time.Second {
		for i := range conns {
			ev := natlog.ConnEvent{
				Time: from.Add(s), Gateway: "gw-edge-1", Format: "conntrack", Proto: natlog.ProtoTCP,
				Src: netip.AddrFrom4([4]byte{10, 20, 0, byte(1 + i%50)}), Dst: netip.MustParseAddr("203.0.113.9"),
				SrcPort: uint16(30000 + i), DstPort: 443, Direction: natlog.DirectionOutbound,
				Action: natlog.ActionAccept, Kind: natlog.KindEnd, State: natlog.StateClosed,
				Counters: natlog.CountersTotal, OrigBytes: 400, ReplyBytes: 600, OrigPackets: 4, ReplyPackets: 4,
			}
			e.Observe(&ev)
		}
	}
}

func TestSurgeAlertsWithinFiveMinutes(t *testing.T) {
	tests := []struct {
		name    string
		factor  int
		wantAt  time.Duration // after the surge starts; 0 means no alert
		wantPct float64
	}{
		{"fivefold", 5, 225 * time.Second, 300},
		{"fourfold is +300 %", 4, 300 * time.Second, 300},
		{"double stays quiet", 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rec := newEngine(t, shippedRules(t), 0)
			surge := t0.Add(20 * time.Minute)
			flatTraffic(e, t0, 20*time.Minute, 20)
			flatTraffic(e, surge, 10*time.Minute, 20*tt.factor)
			e.Advance(surge.Add(10 * time.Minute))

			var firing []Anomaly
			for _, a := range rec.anomalies {
				if a.Rule == "traffic_surge" && a.State == StateFiring {
					firing = append(firing, a)
				}
			}
			if tt.wantAt == 0 {
				if len(firing) != 0 {
					t.Errorf("traffic_surge fired: %+v", firing)
				}
				return
			}
			if len(firing) != 1 {
				t.Fatalf("traffic_surge fired %d times, want once: %+v", len(firing), rec.anomalies)
			}
			a := firing[0]
			if got := a.Time.Sub(surge); got != tt.wantAt {
				t.Errorf("fired %v after the surge started, want %v", got, tt.wantAt)
			}
			if a.Key != "gw-edge-1" || a.Value != tt.wantPct || a.Threshold != 300 {
				t.Errorf("anomaly key %q value %v threshold %v, want gw-edge-1, %v and 300", a.Key, a.Value, a.Threshold, tt.wantPct)
			}
		})
	}
}

func TestHostProfileAnomaly(t *testing.T) {
	// Two hosts send 100 kB/s each, one record every 5 s, for two days. On the third day
	// 10.20.0.7 sends 20 times as much for half an hour.
	rec := &recorder{}
	e, err := New(Config{
		Rules:     shippedRules(t),
		OnAnomaly: func(a Anomaly) { rec.anomalies = append(rec.anomalies, a) },
	})
	if err != nil {
		t.Fatal(err)
	}
	spike := monday.Add(2*24*time.Hour + 14*time.Hour)
	rng := rand.New(rand.NewPCG(3, 4))
	for s := time.Duration(0); s < 2*24*time.Hour+15*time.Hour; s += 5 * time.Second {
		at := monday.Add(s)
		for _, host := range []byte{7, 8} {
			bytes := uint64(450_000 + rng.IntN(100_000))
			if host == 7 && !at.Before(spike) && at.Before(spike.Add(30*time.Minute)) {
				bytes *= 20
			}
			ev := natlog.ConnEvent{
				Time: at, Gateway: "gw-edge-1", Format: "conntrack", Proto: natlog.ProtoTCP,
				Src: netip.AddrFrom4([4]byte{10, 20, 0, host}), Dst: netip.MustParseAddr("203.0.113.9"),
				DstPort: 443, Direction: natlog.DirectionOutbound, Action: natlog.ActionAccept,
				Kind: natlog.KindEnd, State: natlog.StateClosed, Counters: natlog.CountersTotal,
				OrigBytes: bytes / 2, ReplyBytes: bytes / 2,
			}
			e.Observe(&ev)
		}
	}

	var firing []Anomaly
	for _, a := range rec.anomalies {
		if a.Rule == "host_profile_anomaly" && a.State == StateFiring {
			firing = append(firing, a)
		}
	}
	if len(firing) != 1 {
		t.Fatalf("host_profile_anomaly fired %d times, want once: %+v", len(firing), firing)
	}
	a := firing[0]
	if a.Key != "10.20.0.7" || a.Time.Before(spike) || a.Time.After(spike.Add(5*time.Minute)) {
		t.Errorf("anomaly for %s at %v, want 10.20.0.7 within 5 minutes of %v", a.Key, a.Time, spike)
	}
	if a.Value <= 6 {
		t.Errorf("profile score %v, want above 6", a.Value)
	}
	if stat, _, ok := e.HostBaseline(netip.MustParseAddr("10.20.0.8"), baseline.BytesPerS); !ok || stat.Days != 2 {
		t.Errorf("baseline of 10.20.0.8: %+v (tracked %v), want 2 days of history", stat, ok)
	}
}

func TestGroupByHostAndGatewayDirection(t *testing.T) {
	f := parse(t, "groups.yaml", `rules:
  - name: host_busy
    severity: low
    kind: window
    group_by: host
    window: 10s
    when: conns > 5
    summary: "{{ .key }}"
  - name: direction_busy
    severity: low
    kind: window
    group_by: gateway_direction
    window: 10s
    when: conns > 5
    summary: "{{ .key }}"
`)
	set, err := rules.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	e, rec := newEngine(t, set, 0)
	for i := range 8 {
		ev := synProbe(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.7", "10.20.0.5", uint16(1000+i))
		e.Observe(&ev)
	}
	e.Advance(t0.Add(2 * time.Second))

	want := map[string]string{"host_busy": "10.20.0.5", "direction_busy": "gw-edge-1/inbound"}
	for rule, key := range want {
		found := false
		for _, a := range rec.anomalies {
			if a.Rule == rule && a.Key == key {
				found = true
			}
		}
		if !found {
			t.Errorf("%s did not fire for %s: %+v", rule, key, rec.anomalies)
		}
	}
}
