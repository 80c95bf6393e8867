package detector

import (
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector/rules"
)

// connRule is a window rule on the connections of a source in a 1-second window.
func connRule(t *testing.T, extra string) *rules.Set {
	t.Helper()
	set, err := rules.Compile(parse(t, "p.yaml", "rules:\n  - name: busy\n    severity: low\n    kind: window\n    window: 1s\n    cooldown: 0s\n    when: conns >= 5\n    summary: s\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// feed sends n probes from one source in each listed second, then advances to end.
func feed(e *Engine, start time.Time, perSecond []int, end time.Duration) {
	for sec, n := range perSecond {
		for i := range n {
			ev := synProbe(start.Add(time.Duration(sec)*time.Second), "198.51.100.7", "10.20.1.1", uint16(i+1))
			e.Observe(&ev)
		}
	}
	e.Advance(start.Add(end))
}

func states(r *recorder) string {
	var out []string
	for _, a := range r.anomalies {
		out = append(out, a.State+"@"+a.Time.UTC().Format("15:04:05"))
	}
	return strings.Join(out, " ")
}

func TestForAndResolve(t *testing.T) {
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	busy := []int{5, 5, 5, 1, 5, 0, 0}
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{"fires at once and resolves", "", "firing@01:00:01 resolved@01:00:04 firing@01:00:05 resolved@01:00:06"},
		{"for 3 evaluations", "    for: 3\n", "firing@01:00:03 resolved@01:00:04"},
		{"for 2s", "    for: 2s\n", "firing@01:00:03 resolved@01:00:04"},
		{"for longer than the run", "    for: 4\n", ""},
		{"resolve off", "    resolve: off\n", "firing@01:00:01 firing@01:00:05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rec := newEngine(t, connRule(t, tt.extra), 0)
			feed(e, start, busy, 20*time.Second)
			if got := states(rec); got != tt.want {
				t.Errorf("anomalies = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLabelsOnAnomaly(t *testing.T) {
	e, rec := newEngine(t, connRule(t, "    labels: {team: netops, category: scan}\n"), 0)
	feed(e, time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC), []int{5}, 5*time.Second)
	if len(rec.anomalies) != 2 {
		t.Fatalf("got %d anomalies, want 2", len(rec.anomalies))
	}
	for _, a := range rec.anomalies {
		if team, _ := a.Labels.Get("team"); team != "netops" || a.Labels.Len() != 2 {
			t.Errorf("%s anomaly labels = %v", a.State, a.Labels.Map())
		}
	}
}

func TestReloadKeepsPendingOfUnchangedRule(t *testing.T) {
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	set := connRule(t, "    for: 3\n")
	e, rec := newEngine(t, set, 0)
	feed(e, start, []int{5, 5}, 2*time.Second)

	// Same rule, new summary: the pending run continues.
	e.SetRules(connRule(t, "    for: 3\n    description: edited\n"))
	feed(e, start.Add(2*time.Second), []int{5}, 4*time.Second)
	// Without the kept pending run, the third evaluation would come only at 01:00:05.
	if got := states(rec); got != "firing@01:00:03 resolved@01:00:04" {
		t.Errorf("anomalies = %q, want firing@01:00:03 resolved@01:00:04", got)
	}
}
