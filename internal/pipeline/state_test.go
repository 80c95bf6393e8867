package pipeline

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/natlog"
	"github.com/natwatch/natwatch/internal/state"
)

// outboundEvents returns one outbound connection per second from 10 office hosts for d.
func outboundEvents(start time.Time, d time.Duration) []natlog.ConnEvent {
	var events []natlog.ConnEvent
	for s := time.Duration(0); s < d; s += time.Second {
		events = append(events, natlog.ConnEvent{
			Time: start.Add(s), Gateway: "edge-gw01", Format: "conntrack", Proto: natlog.ProtoTCP,
			Src: netip.AddrFrom4([4]byte{10, 20, 0, byte(1 + int(s/time.Second)%10)}), Dst: netip.MustParseAddr("203.0.113.9"),
			DstPort: 443, Direction: natlog.DirectionOutbound, Action: natlog.ActionAccept,
			Kind: natlog.KindEnd, Counters: natlog.CountersTotal, OrigBytes: 1000, ReplyBytes: 9000,
		})
	}
	return events
}

func TestStateSurvivesRestartAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "natwatch.state")
	values := map[string]string{"State_Dir": dir, "State_Interval": "60s", "Anomaly_Stdout": "off"}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	// A damaged snapshot is moved aside and the pipeline starts empty.
	if err := os.WriteFile(path, []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, _ := newTestPipeline(t, values)
	if got := first.Stats().Detector.Gateways; got != 0 {
		t.Errorf("gateways after a damaged snapshot = %d, want 0", got)
	}
	aside, _ := filepath.Glob(path + ".bad-*")
	if len(aside) != 1 {
		t.Errorf("damaged snapshots moved aside: %v, want one", aside)
	}

	// A replay saves every 60 s of record time; the pipeline is then dropped without Close.
	first.Observe(outboundEvents(start, 3*time.Minute)...)
	if _, err := state.ReadFile(path, detector.SnapshotVersion); err != nil {
		t.Fatalf("no periodic snapshot after 3 minutes of records: %v", err)
	}

	second, _ := newTestPipeline(t, values)
	stats := second.Stats().Detector
	if stats.Gateways != 1 || stats.Hosts != 10 {
		t.Errorf("restored %d gateways and %d hosts, want 1 and 10", stats.Gateways, stats.Hosts)
	}
	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A snapshot of another format version is moved aside too.
	if err := state.WriteFile(path, detector.SnapshotVersion+1, []byte{1}); err != nil {
		t.Fatal(err)
	}
	third, _ := newTestPipeline(t, values)
	if got := third.Stats().Detector.Gateways; got != 0 {
		t.Errorf("gateways after a snapshot of another version = %d, want 0", got)
	}
	entries, _ := os.ReadDir(dir)
	bad := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), ".bad-") {
			bad++
		}
	}
	if bad != 2 {
		t.Errorf("state directory holds %d snapshots moved aside, want 2", bad)
	}
}
