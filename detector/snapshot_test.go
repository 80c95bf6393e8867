package detector

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/internal/state"
)

// thresholds gathers the baselines a restart must keep: every metric of the gateway's
// directions and of two hosts.
func thresholds(e *Engine) map[string]baseline.Stat {
	out := map[string]baseline.Stat{}
	for m := range baseline.MetricCount {
		for _, dir := range []string{"", "outbound"} {
			if s, ok := e.GatewayBaseline("gw-edge-1", dir, m); ok {
				out["gw/"+dir+"/"+m.String()] = s
			}
		}
		for _, host := range []string{"10.20.0.3", "10.20.0.17"} {
			if s, _, ok := e.HostBaseline(netip.MustParseAddr(host), m); ok {
				out[host+"/"+m.String()] = s
			}
		}
	}
	return out
}

func TestRestartFromPeriodicSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 2 days of traffic")
	}
	path := filepath.Join(t.TempDir(), "natwatch.state")
	e, _ := newSeasonalEngine(t, baseline.MAD)
	g := newSeasonalTraffic()

	// Snapshot every 60 s of record time in the last 90 minutes, as a replay does, and keep the
	// thresholds of the last one.
	var saved map[string]baseline.Stat
	g.run(e, monday, 2*24*time.Hour+10*time.Hour+30*time.Second, func(at time.Time) {
		if at.Unix()%60 != 0 || at.Sub(monday) < 2*24*time.Hour+9*time.Hour {
			return
		}
		if err := state.WriteFile(path, SnapshotVersion, e.Snapshot()); err != nil {
			t.Fatal(err)
		}
		saved = thresholds(e)
	})
	// The engine is dropped here without a final snapshot, as kill -9 would.

	payload, err := state.ReadFile(path, SnapshotVersion)
	if err != nil {
		t.Fatal(err)
	}
	restored, _ := newSeasonalEngine(t, baseline.MAD)
	if err := restored.Restore(payload); err != nil {
		t.Fatal(err)
	}
	got := thresholds(restored)
	if len(saved) != 2*int(baseline.MetricCount)+2*int(baseline.MetricCount) {
		t.Fatalf("saved %d thresholds, want 24", len(saved))
	}
	for name, want := range saved {
		if !want.Warm() && name[:2] == "gw" {
			t.Errorf("%s: not warm before the restart, the test needs warm baselines", name)
		}
		if got[name] != want {
			t.Errorf("%s after restore = %+v, want %+v", name, got[name], want)
		}
	}
	if stats := restored.Stats(); stats.Hosts != 20 || stats.Gateways != 1 {
		t.Errorf("restored %d hosts and %d gateways, want 20 and 1", stats.Hosts, stats.Gateways)
	}

	// The restored engine carries on: the next quarter hour moves both to the same slot.
	next := monday.Add(2*24*time.Hour + 10*time.Hour + 15*time.Minute)
	g.run(restored, monday.Add(2*24*time.Hour+10*time.Hour+time.Minute), 15*time.Minute, nil)
	if s, ok := restored.GatewayBaseline("gw-edge-1", "outbound", baseline.BytesPerS); !ok || !s.Warm() || restored.slot != baseline.SlotAt(next.Unix(), time.UTC) {
		t.Errorf("after 15 more minutes: slot %+v, baseline %+v; want the slot of %v and a warm baseline", restored.slot, s, next)
	}
}

func TestRestoreRejectsDamage(t *testing.T) {
	e, _ := newEngine(t, shippedRules(t), 0)
	ev := synProbe(t0, "198.51.100.7", "10.20.0.5", 443)
	e.Observe(&ev)
	e.Advance(t0.Add(2 * time.Second))
	good := e.Snapshot()

	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)/2]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
	}
	for _, tt := range tests {
		fresh, _ := newEngine(t, shippedRules(t), 0)
		err := fresh.Restore(tt.payload)
		if !errors.Is(err, state.ErrCorrupt) {
			t.Errorf("%s: Restore error = %v, want ErrCorrupt", tt.name, err)
		}
		if stats := fresh.Stats(); stats.Gateways != 0 || stats.Hosts != 0 || fresh.started {
			t.Errorf("%s: a failed Restore changed the engine: %+v", tt.name, stats)
		}
	}

	if err := e.Restore(good); !errors.Is(err, ErrStarted) {
		t.Errorf("Restore on a started engine: %v, want ErrStarted", err)
	}
}
