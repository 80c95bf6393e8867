package sink

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
)

var pointTime = time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC) // 1714557600123456789 ns

func TestAnomalyLine(t *testing.T) {
	tests := []struct {
		name    string
		anomaly detector.Anomaly
		want    string
	}{
		{
			name: "all fields",
			anomaly: detector.Anomaly{
				Time: pointTime, Gateway: "gw1", Rule: "port_scan", Level: "basic", Severity: "high",
				State: "firing", Key: "10.0.0.5", Value: 120, Threshold: 50.5,
				Summary: "10.0.0.5 probed 120 ports", Src: "10.0.0.5", Dst: "192.0.2.1",
			},
			want: `natwatch_anomaly,gateway=gw1,level=basic,rule=port_scan,severity=high,state=firing key="10.0.0.5",value=120,threshold=50.5,summary="10.0.0.5 probed 120 ports",src="10.0.0.5",dst="192.0.2.1" 1714557600123456789`,
		},
		{
			name: "escaping",
			anomaly: detector.Anomaly{
				Time: pointTime, Gateway: "edge gw,1=a", Rule: `r\`, Level: "basic", Severity: "low",
				State: "resolved", Key: `a"b\c`, Value: 1e-7, Threshold: 2.5e21,
				Summary: "line1\nline2",
			},
			want: "natwatch_anomaly,gateway=edge\\ gw\\,1\\=a,level=basic,rule=r,severity=low,state=resolved " +
				`key="a\"b\\c",value=1e-07,threshold=2.5e+21,summary="line1` + "\n" + `line2",src="",dst="" 1714557600123456789`,
		},
		{
			name: "empty tags and NaN left out",
			anomaly: detector.Anomaly{
				Time: pointTime, Rule: "r", Value: math.NaN(), Threshold: math.Inf(1),
			},
			want: `natwatch_anomaly,rule=r key="",summary="",src="",dst="" 1714557600123456789`,
		},
		{
			name:    "zero time left out",
			anomaly: detector.Anomaly{Rule: "r", Value: 1},
			want:    `natwatch_anomaly,rule=r key="",value=1,threshold=0,summary="",src="",dst=""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := anomalyLine(tt.anomaly)
			if err != nil {
				t.Fatalf("anomalyLine: %v", err)
			}
			if got != tt.want {
				t.Errorf("line:\n%s\nexpected:\n%s", got, tt.want)
			}
		})
	}
}

func TestTrafficLine(t *testing.T) {
	got, err := trafficLine(detector.TrafficPoint{
		Time: pointTime, Gateway: "gw1", Direction: "outbound",
		ConnsPerS: 12.5, BytesPerS: 1048576, PacketsPerS: 900, DropsPerS: 0, OutInRatio: math.Inf(1),
	})
	if err != nil {
		t.Fatalf("trafficLine: %v", err)
	}

	want := `natwatch_traffic,direction=outbound,gateway=gw1 conns_per_s=12.5,bytes_per_s=1.048576e+06,packets_per_s=900,drops_per_s=0 1714557600123456789`
	if got != want {
		t.Errorf("line:\n%s\nexpected:\n%s", got, want)
	}
}

func TestTrafficLineWithoutFiniteField(t *testing.T) {
	nan := math.NaN()
	_, err := trafficLine(detector.TrafficPoint{
		Time: pointTime, Gateway: "gw1",
		ConnsPerS: nan, BytesPerS: nan, PacketsPerS: nan, DropsPerS: nan, OutInRatio: nan,
	})

	if !errors.Is(err, errNoFields) {
		t.Errorf("error = %v, expected %v", err, errNoFields)
	}
}

func TestPluginLine(t *testing.T) {
	got, err := pluginLine(PluginStats{
		Time: pointTime, Gateway: "gw1", Instance: "natwatch.0",
		RecordsIn: 1000, Parsed: 990, Skipped: 10, Anomalies: 3, PointsWritten: 50,
		PointsDropped: 2, WriteErrors: 1, FlushPanics: 0, RuleReloads: 4, RuleReloadFailures: 1,
		Evictions:     math.MaxUint64,
		SkipReasons:   map[string]uint64{"no_match": 7, "Bad-Format": 2, "bad format": 1},
		ParsedFormats: map[string]uint64{"iptables": 900, "asa": 90},
		SkippedFormats: map[string]map[string]uint64{
			"iptables": {"no_match": 7},
			"unknown":  {"Bad-Format": 2, "bad format": 1},
		},

		RulesLoaded: 12, ChunksRetried: 5, PointsRejected: 1, PointsQueued: 20, PointsSpooled: 300,
		SpoolBytes: 4096, SpoolOldestAge: 1500 * time.Millisecond,
		WriteErrorKinds: [NumErrorKinds]uint64{1, 0, 0, 0, 0, 0},
		WebhookSent:     2, WebhookFailed: 1, WebhookDropped: 3, BlocklistEntries: 4,
		Flushes: 9, FlushP50: 40 * time.Microsecond, FlushP99: 900 * time.Microsecond, FlushMax: 2 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("pluginLine: %v", err)
	}

	want := `natwatch_plugin,gateway=gw1,instance=natwatch.0 records_in=1000i,parsed=990i,skipped=10i,anomalies=3i,points_written=50i,points_dropped=2i,write_errors=1i,flush_panics=0i,rule_reloads=4i,rule_reload_failures=1i,evictions=9223372036854775807i,rules_loaded=12i,chunks_retried=5i,points_rejected=1i,points_queued=20i,points_spooled=300i,spool_bytes=4096i,spool_oldest_age_s=1.5,write_errors_network=1i,write_errors_auth=0i,write_errors_not_found=0i,write_errors_bad_request=0i,write_errors_throttled=0i,write_errors_server=0i,webhook_sent=2i,webhook_failed=1i,webhook_dropped=3i,blocklist_entries=4i,flushes=9i,flush_p50_us=40i,flush_p99_us=900i,flush_max_us=2000i,skipped_bad_format=3i,skipped_no_match=7i,parsed_asa=90i,parsed_iptables=900i,skipped_iptables_no_match=7i,skipped_unknown_bad_format=3i 1714557600123456789`
	if got != want {
		t.Errorf("line:\n%s\nexpected:\n%s", got, want)
	}
}

func TestSkipReasonField(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"no_match", "skipped_no_match"},
		{"Unknown Format", "skipped_unknown_format"},
		{"asa:302013", "skipped_asa_302013"},
		{"", "skipped_"},
	}
	for _, tt := range tests {
		if got := SkipReasonField(tt.reason); got != tt.want {
			t.Errorf("SkipReasonField(%q) = %q, expected %q", tt.reason, got, tt.want)
		}
	}
}
