// Package rulestest runs rule unit tests in the spirit of `promtool test rules`: a YAML test file
// names rule files, configuration and timed input records, and the anomalies each test case
// expects, or the rules that must stay silent. `natwatch rules test` is its command line.
package rulestest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is one test file.
type File struct {
	// RuleFiles are rule files, relative to the test file. RulesDir is a directory of rule
	// files, relative to the test file. With neither, the built-in rule pack is tested.
	RuleFiles []string `yaml:"rule_files"`
	RulesDir  string   `yaml:"rules_dir"`
	Config    Config   `yaml:"config"`
	Tests     []Case   `yaml:"tests"`
}

// Config is the part of natwatch's configuration that rules see.
type Config struct {
	InternalNetworks []string            `yaml:"internal_networks"`
	TimeZone         string              `yaml:"time_zone"`
	Gateway          string              `yaml:"gateway"`
	HomeCountry      string              `yaml:"home_country"`
	WorkHours        string              `yaml:"work_hours"`
	WorkDays         string              `yaml:"work_days"`
	Holidays         []string            `yaml:"holidays"`
	Lists            map[string][]string `yaml:"lists"` // replace the items of named lists
	// GeoIP maps prefixes to a country and ASN, in place of a database.
	GeoIP map[string]GeoEntry `yaml:"geoip"`
	// GeoIPDatabase is a .mmdb file, relative to the test file.
	GeoIPDatabase string `yaml:"geoip_database"`
	// ThreatIntel lists addresses and prefixes of a feed called "test".
	ThreatIntel []string `yaml:"threat_intel"`
	// ThreatIntelDir is a feed directory, relative to the test file.
	ThreatIntelDir string `yaml:"threat_intel_dir"`
	// SampleRates and SampleFullCapture are the Sample_Rates and Sample_Full_Capture keys.
	SampleRates       string `yaml:"sample_rates"`
	SampleFullCapture string `yaml:"sample_full_capture"`
}

// GeoEntry is the country and ASN of a prefix.
type GeoEntry struct {
	Country string `yaml:"country"`
	ASN     uint32 `yaml:"asn"`
}

// Case is one test case: input records and what the rules must make of them.
type Case struct {
	Name   string   `yaml:"name"`
	Input  []Input  `yaml:"input"`
	End    string   `yaml:"end"` // time the engine runs to after the input; default: the last input + 16m (the longest window and a minute)
	Expect []Expect `yaml:"expect"`
	Silent []Silent `yaml:"silent"`
}

// Input is one record, or a series of records when Count > 1. Exactly one of Line, Fields and
// Event is set.
type Input struct {
	At     string         `yaml:"at"`     // RFC 3339; the record's time
	Line   string         `yaml:"line"`   // a raw log line in any supported format
	Fields map[string]any `yaml:"fields"` // a record as Fluent Bit parsed it, read through the field mapping
	Event  *Event         `yaml:"event"`  // a normalised connection record

	Count  int            `yaml:"count"`  // records in the series; default 1
	Every  string         `yaml:"every"`  // time between records of a series
	Jitter float64        `yaml:"jitter"` // ± this fraction of Every, from a fixed pseudo-random sequence
	Step   map[string]int `yaml:"step"`   // added per record to numeric event fields or to the last part of an address
}

// Event is a connection record given field by field.
type Event struct {
	Gateway      string `yaml:"gateway"`
	Proto        string `yaml:"proto"`
	Src          string `yaml:"src"`
	Dst          string `yaml:"dst"`
	SrcPort      int    `yaml:"src_port"`
	DstPort      int    `yaml:"dst_port"`
	Action       string `yaml:"action"` // accept, drop or reject
	Kind         string `yaml:"kind"`   // start, interim, end or packet
	State        string `yaml:"state"`  // syn_only, established, reset, unreplied or closed
	OrigBytes    uint64 `yaml:"orig_bytes"`
	ReplyBytes   uint64 `yaml:"reply_bytes"`
	OrigPackets  uint64 `yaml:"orig_packets"`
	ReplyPackets uint64 `yaml:"reply_packets"`
	TTL          int    `yaml:"ttl"`
	IPID         *int   `yaml:"ip_id"`
	Duration     string `yaml:"duration"`
}

// Expect is one anomaly a case must produce.
type Expect struct {
	Rule      string            `yaml:"rule"`
	Key       string            `yaml:"key"`   // empty matches any key
	State     string            `yaml:"state"` // default firing
	At        string            `yaml:"at"`    // empty matches any time
	Tolerance string            `yaml:"tolerance"`
	Labels    map[string]string `yaml:"labels"`
}

// Silent is a rule that must not fire in a time range. An empty range is the whole case.
type Silent struct {
	Rule string `yaml:"rule"`
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Parse reads a test file strictly: an unknown key is an error.
func Parse(name string, data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests", name)
	}
	return &f, nil
}

func parseTime(text string) (time.Time, error) {
	if text == "" {
		return time.Time{}, errors.New("missing: every input and expected anomaly needs a time, such as 2026-03-14T01:00:00Z")
	}
	t, err := time.Parse(time.RFC3339, text)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339, such as 2026-03-14T01:00:00Z", text)
	}
	return t, nil
}

func parseDuration(text string, fallback time.Duration) (time.Duration, error) {
	if text == "" {
		return fallback, nil
	}
	d, err := time.ParseDuration(text)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q is not a duration such as 5s", text)
	}
	return d, nil
}
