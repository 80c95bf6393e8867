package pipeline

import (
	"maps"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

func TestPluginStatsCountsByFormat(t *testing.T) {
	p, _ := newTestPipeline(t, map[string]string{"Gateway": "gw-c", "Time_Zone": "UTC"})
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	lines := []string{
		iptablesLine("198.51.100.77", 22),
		iptablesLine("198.51.100.77", 23),
		iptablesLine("198.51.100.999", 24),
		`{"insertId":"a1","jsonPayload":{"allocation_status":"OK","connection":{"src_ip":"10.0.0.1","src_port":45047,"dest_ip":"198.51.100.142","dest_port":80,"protocol":6,"nat_ip":"203.0.113.17","nat_port":34889}},"timestamp":"2026-03-14T01:00:03Z"}`,
		"Mar 14 01:00:04 gw-c cron[311]: (root) CMD (run-parts /etc/cron.hourly)",
	}
	var data []byte
	for i, line := range lines {
		data = chunk.AppendEventV2(data, start.Add(time.Duration(i)*time.Second), map[string]any{"log": line})
	}
	if err := p.Flush(data, "gw.mixed"); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	stats := p.pluginStats(start.Add(time.Minute))
	wantParsed := map[string]uint64{"iptables": 2, "gcp": 1}
	if !maps.Equal(stats.ParsedFormats, wantParsed) {
		t.Errorf("ParsedFormats = %v, want %v", stats.ParsedFormats, wantParsed)
	}
	wantSkipped := map[string]map[string]uint64{
		"iptables": {"bad_address": 1},
		"unknown":  {"unknown_format": 1},
	}
	if len(stats.SkippedFormats) != len(wantSkipped) {
		t.Errorf("SkippedFormats = %v, want %v", stats.SkippedFormats, wantSkipped)
	}
	for format, reasons := range wantSkipped {
		if !maps.Equal(stats.SkippedFormats[format], reasons) {
			t.Errorf("SkippedFormats[%s] = %v, want %v", format, stats.SkippedFormats[format], reasons)
		}
	}
}
