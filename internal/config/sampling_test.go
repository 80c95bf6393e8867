package config

import (
	"strings"
	"testing"
)

func TestSamplingKeys(t *testing.T) {
	tests := []struct {
		name        string
		rates, full string
		wantRates   string // the classes as class=1/N, comma-separated
		wantWindows int
		wantErr     string
	}{
		{name: "default", wantRates: "", wantWindows: 0},
		{name: "rates and windows", rates: "udp/53=1/10, tcp/443=1/4,proto:udp=1/20,direction:outbound=1/2",
			full: "00:00-06:00,12:00-13:00,sat-sun", wantRates: "udp/53=1/10,tcp/443=1/4,proto:udp=1/20,direction:outbound=1/2", wantWindows: 3},
		{name: "tcp without port", rates: "udp/53=1/10,proto:tcp=1/4",
			wantErr: `key Sample_Rates: invalid value "udp/53=1/10,proto:tcp=1/4": entry "proto:tcp=1/4": sampling TCP without a destination port`},
		{name: "bad rate", rates: "udp/53=1:10",
			wantErr: `key Sample_Rates: invalid value "udp/53=1:10": entry "udp/53=1:10": rate "1:10" is not 1/N`},
		{name: "window across midnight", full: "22:00-06:00",
			wantErr: `key Sample_Full_Capture: invalid value "22:00-06:00": entry "22:00-06:00": "22:00-06:00" ends before it starts`},
	}
	for _, tt := range tests {
		c, err := FromProperties(properties(map[string]string{"Sample_Rates": tt.rates, "Sample_Full_Capture": tt.full}))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var rates []string
		for _, class := range c.SampleRates {
			rates = append(rates, class.String())
		}
		if got := strings.Join(rates, ","); got != tt.wantRates {
			t.Errorf("%s: SampleRates = %q, want %q", tt.name, got, tt.wantRates)
		}
		if len(c.SampleFullCapture) != tt.wantWindows {
			t.Errorf("%s: %d full-capture windows, want %d", tt.name, len(c.SampleFullCapture), tt.wantWindows)
		}
	}
}

func TestSampleRatesWarning(t *testing.T) {
	c, err := FromProperties(properties(map[string]string{"Sample_Rates": "direction:outbound=1/2"}))
	if err != nil {
		t.Fatal(err)
	}
	want := "class direction:outbound matches TCP records of every destination port, so scans and SYN floods in it are sampled too"
	if len(c.SampleWarnings) != 1 || c.SampleWarnings[0] != want {
		t.Errorf("SampleWarnings = %q, want [%q]", c.SampleWarnings, want)
	}
}
