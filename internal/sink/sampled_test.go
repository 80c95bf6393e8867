package sink

import (
	"strings"
	"testing"
	"time"
)

func TestPluginLineSampledOut(t *testing.T) {
	at := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		stats PluginStats
		want  string // the end of the line's field set; "" when no sampled_out field may appear
	}{
		{"without sampling", PluginStats{Time: at}, ""},
		{"with sampling", PluginStats{Time: at, SampledOut: 12, SampledOutClasses: map[string]uint64{"udp/53": 9, "proto:udp": 3, "direction:outbound": 0}},
			",sampled_out=12i,sampled_out_direction_outbound=0i,sampled_out_proto_udp=3i,sampled_out_udp_53=9i "},
	}
	for _, tt := range tests {
		line, err := pluginLine(tt.stats)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.want == "" {
			if strings.Contains(line, "sampled_out") {
				t.Errorf("%s: line %q has a sampled_out field", tt.name, line)
			}
			continue
		}
		if !strings.Contains(line, tt.want) {
			t.Errorf("%s: line %q does not contain %q", tt.name, line, tt.want)
		}
	}
}
