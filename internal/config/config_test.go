package config

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func properties(values map[string]string) func(string) string {
	return func(key string) string { return values[key] }
}

func TestDefaults(t *testing.T) {
	c, err := FromProperties(properties(nil))
	if err != nil {
		t.Fatalf("FromProperties with no keys: %v", err)
	}

	if c.InfluxBucket != "natwatch" {
		t.Errorf("InfluxBucket = %q, want natwatch", c.InfluxBucket)
	}
	if len(c.InternalNetworks) != 4 {
		t.Errorf("InternalNetworks = %v, want the 4 private ranges", c.InternalNetworks)
	}
	if c.Location != time.Local {
		t.Errorf("Location = %v, want Local", c.Location)
	}
	if c.LogLevel != slog.LevelInfo {
		t.Errorf("LogLevel = %v, want info", c.LogLevel)
	}
	if !c.AnomalyStdout {
		t.Error("AnomalyStdout = false, want true without an InfluxDB URL")
	}
	if c.MaxSources != 1000000 {
		t.Errorf("MaxSources = %d, want 1000000", c.MaxSources)
	}
	if c.TickInterval != time.Second {
		t.Errorf("TickInterval = %v, want 1s", c.TickInterval)
	}
}

func TestValidValues(t *testing.T) {
	c, err := FromProperties(properties(map[string]string{
		"Rules_Path":        "/etc/natwatch/rules.d",
		"InfluxDB_URL":      "http://127.0.0.1:8086/",
		"InfluxDB_Token":    "natwatch:secret",
		"InfluxDB_Bucket":   "natwatch/autogen",
		"Gateway":           "edge-gw01",
		"Internal_Networks": "10.20.0.0/16, 192.0.2.1, 2001:db8::/32",
		"Time_Zone":         "Asia/Shanghai",
		"Plugin_Log_Level":  "DEBUG",
		"Field_Map":         "src=source.ip, dport=dpt",
		"Max_Sources":       "5000",
		"Tick_Interval":     "2s",
	}))
	if err != nil {
		t.Fatalf("FromProperties: %v", err)
	}

	if c.InfluxURL != "http://127.0.0.1:8086" {
		t.Errorf("InfluxURL = %q, want the URL without its trailing slash", c.InfluxURL)
	}
	if c.AnomalyStdout {
		t.Error("AnomalyStdout = true, want false when InfluxDB_URL is set and Anomaly_Stdout is not")
	}
	wantNets := []netip.Prefix{
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	if len(c.InternalNetworks) != len(wantNets) {
		t.Fatalf("InternalNetworks = %v, want %v", c.InternalNetworks, wantNets)
	}
	for i, want := range wantNets {
		if c.InternalNetworks[i] != want {
			t.Errorf("InternalNetworks[%d] = %v, want %v", i, c.InternalNetworks[i], want)
		}
	}
	if c.Location.String() != "Asia/Shanghai" {
		t.Errorf("Location = %v, want Asia/Shanghai", c.Location)
	}
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("LogLevel = %v, want debug", c.LogLevel)
	}
	if c.FieldMap["src"] != "source.ip" || c.FieldMap["dport"] != "dpt" || len(c.FieldMap) != 2 {
		t.Errorf("FieldMap = %v, want src=source.ip and dport=dpt", c.FieldMap)
	}
	if c.MaxSources != 5000 {
		t.Errorf("MaxSources = %d, want 5000", c.MaxSources)
	}
	if c.TickInterval != 2*time.Second {
		t.Errorf("TickInterval = %v, want 2s", c.TickInterval)
	}
}

func TestInvalidValuesReportedTogether(t *testing.T) {
	_, err := FromProperties(properties(map[string]string{
		"InfluxDB_URL":      "127.0.0.1:8086",
		"Internal_Networks": "10.20.0.0/16,10.300.0.0/16",
		"Time_Zone":         "Mars/Olympus",
		"Plugin_Log_Level":  "verbose",
		"Field_Map":         "source=src",
		"Anomaly_Stdout":    "maybe",
		"Max_Sources":       "-1",
		"Tick_Interval":     "1500ms",
	}))
	if err == nil {
		t.Fatal("FromProperties accepted invalid values")
	}

	wants := []string{
		`key InfluxDB_URL: invalid value "127.0.0.1:8086"`,
		`key Internal_Networks: invalid value "10.20.0.0/16,10.300.0.0/16": "10.300.0.0/16" is not a CIDR or address`,
		`key Time_Zone: invalid value "Mars/Olympus": unknown time zone`,
		`key Plugin_Log_Level: invalid value "verbose"`,
		`key Field_Map: invalid value "source=src": unknown field "source"`,
		`key Anomaly_Stdout: invalid value "maybe"`,
		`key Max_Sources: invalid value "-1"`,
		`key Tick_Interval: invalid value "1500ms": use a whole number of seconds`,
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestLogAttrsHideToken(t *testing.T) {
	c, err := FromProperties(properties(map[string]string{"InfluxDB_Token": "natwatch:secret"}))
	if err != nil {
		t.Fatal(err)
	}

	for _, attr := range c.LogAttrs() {
		if strings.Contains(attr.Value.String(), "secret") {
			t.Errorf("attribute %s contains the token: %v", attr.Key, attr.Value)
		}
	}
}

// TestLogAttrsNameEveryKey keeps the start-up settings line complete: an operator finds a misspelt
// key only by its default showing there, since Fluent Bit does not report unknown keys.
func TestLogAttrsNameEveryKey(t *testing.T) {
	c, err := FromProperties(properties(nil))
	if err != nil {
		t.Fatal(err)
	}

	logged := map[string]bool{}
	for _, attr := range c.LogAttrs() {
		logged[attr.Key] = true
	}
	for _, key := range Keys {
		name := strings.ToLower(key.Name)
		if key.Name == "InfluxDB_Token" {
			name = "influxdb_token_set"
		}
		if !logged[name] {
			t.Errorf("LogAttrs has no attribute %s for key %s", name, key.Name)
		}
	}
}

func TestSummaryLanguage(t *testing.T) {
	for _, tt := range []struct{ value, want string }{{"", "en"}, {"zh", "zh"}, {"ZH", "zh"}, {"en", "en"}} {
		c, err := FromProperties(properties(map[string]string{"Summary_Language": tt.value}))
		if err != nil {
			t.Fatalf("Summary_Language=%q: %v", tt.value, err)
		}
		if c.SummaryLanguage != tt.want {
			t.Errorf("Summary_Language=%q gives %q, want %q", tt.value, c.SummaryLanguage, tt.want)
		}
	}

	_, err := FromProperties(properties(map[string]string{"Summary_Language": "fr"}))
	if err == nil || !strings.Contains(err.Error(), `key Summary_Language: invalid value "fr": use en or zh`) {
		t.Errorf("Summary_Language=fr returned %v", err)
	}
}

// TestHelpHasNoBackquotes keeps replay's -h readable: the flag package reads a back-quoted word in
// a usage string as the name of the flag's value.
func TestHelpHasNoBackquotes(t *testing.T) {
	for _, key := range Keys {
		if strings.Contains(key.Help, "`") {
			t.Errorf("help of %s contains a back quote: %s", key.Name, key.Help)
		}
	}
}
