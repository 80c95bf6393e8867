package sink

import (
	"testing"

	"github.com/natwatch/natwatch/detector"
)

func TestTrafficLineWithBaseline(t *testing.T) {
	got, err := trafficLine(detector.TrafficPoint{
		Time: pointTime, Gateway: "gw1", Direction: "outbound",
		ConnsPerS: 12.5, BytesPerS: 2e6, PacketsPerS: 900, DropsPerS: 0.5, OutInRatio: 0.25,
		Baseline: detector.Bands{
			Warm:        true,
			ConnsPerS:   detector.Band{Expected: 10, Upper: 13},
			BytesPerS:   detector.Band{Expected: 1.5e6, Upper: 2.1e6},
			PacketsPerS: detector.Band{Expected: 800, Upper: 1040},
			DropsPerS:   detector.Band{Expected: 0.25, Upper: 0.4},
		},
	})
	if err != nil {
		t.Fatalf("trafficLine: %v", err)
	}
	want := `natwatch_traffic,direction=outbound,gateway=gw1 conns_per_s=12.5,bytes_per_s=2e+06,packets_per_s=900,drops_per_s=0.5,out_in_ratio=0.25,` +
		`expected_conns_per_s=10,upper_conns_per_s=13,expected_bytes_per_s=1.5e+06,upper_bytes_per_s=2.1e+06,` +
		`expected_packets_per_s=800,upper_packets_per_s=1040,expected_drops_per_s=0.25,upper_drops_per_s=0.4 1714557600123456789`
	if got != want {
		t.Errorf("line:\n%s\nexpected:\n%s", got, want)
	}
}

func TestHostLine(t *testing.T) {
	tests := []struct {
		name  string
		point detector.HostPoint
		want  string
	}{
		{
			name: "cold baseline",
			point: detector.HostPoint{
				Time: pointTime, Gateway: "edge-gw01", Host: "10.20.0.7",
				ConnsPerS: 3, BytesPerS: 125000, PacketsPerS: 100, DropsPerS: 0, OutInRatio: 4,
			},
			want: `natwatch_host,gateway=edge-gw01,host=10.20.0.7 conns_per_s=3,bytes_per_s=125000,packets_per_s=100,drops_per_s=0,out_in_ratio=4,profile_score=0 1714557600123456789`,
		},
		{
			name: "warm baseline",
			point: detector.HostPoint{
				Time: pointTime, Gateway: "edge-gw01", Host: "2001:db8::7",
				ConnsPerS: 3, BytesPerS: 125000, PacketsPerS: 100, DropsPerS: 0, OutInRatio: 4, ProfileScore: 7.5,
				Baseline: detector.Bands{
					Warm:        true,
					ConnsPerS:   detector.Band{Expected: 1, Upper: 1.3},
					BytesPerS:   detector.Band{Expected: 20000, Upper: 26000},
					PacketsPerS: detector.Band{Expected: 20, Upper: 26},
					DropsPerS:   detector.Band{Expected: 0, Upper: 0.15},
				},
			},
			want: `natwatch_host,gateway=edge-gw01,host=2001:db8::7 conns_per_s=3,bytes_per_s=125000,packets_per_s=100,drops_per_s=0,out_in_ratio=4,profile_score=7.5,` +
				`expected_conns_per_s=1,upper_conns_per_s=1.3,expected_bytes_per_s=20000,upper_bytes_per_s=26000,` +
				`expected_packets_per_s=20,upper_packets_per_s=26,expected_drops_per_s=0,upper_drops_per_s=0.15 1714557600123456789`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hostLine(tt.point)
			if err != nil {
				t.Fatalf("hostLine: %v", err)
			}
			if got != tt.want {
				t.Errorf("line:\n%s\nexpected:\n%s", got, tt.want)
			}
		})
	}
}

// hostRecorder is a sink that records host points.
type hostRecorder struct {
	recordingSink
	hosts []detector.HostPoint
}

func (s *hostRecorder) WriteHost(p detector.HostPoint) { s.hosts = append(s.hosts, p) }

func TestMultiWriteHost(t *testing.T) {
	withHosts := &hostRecorder{}
	without := &recordingSink{}
	m := Multi(without, withHosts).(HostWriter)
	m.WriteHost(detector.HostPoint{Gateway: "gw1", Host: "10.20.0.7"})

	if len(withHosts.hosts) != 1 || withHosts.hosts[0].Host != "10.20.0.7" {
		t.Errorf("host points of the HostWriter = %+v, want the one written", withHosts.hosts)
	}
}
