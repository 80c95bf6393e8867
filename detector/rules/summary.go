package rules

import (
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Summary templates are Go text/template texts executed on a map, so a field reads
// {{ .key }}. Every rule has rule, severity, level, gateway, key, value, threshold, src, dst and
// window. Record rules add the record fields, and window rules the window aggregates. Numbers
// are pre-formatted: whole numbers without a decimal point, others with two decimals.

// SummaryData returns the fields shared by both kinds of rule.
func SummaryData(r *Rule, gateway, key string, value float64, src, dst string) map[string]any {
	return map[string]any{
		"rule":      r.Name,
		"severity":  r.Severity,
		"level":     r.Level,
		"gateway":   gateway,
		"key":       key,
		"value":     FormatNumber(value),
		"threshold": FormatNumber(r.Threshold),
		"src":       src,
		"dst":       dst,
		"window":    windowText(r),
	}
}

// AddRecordData adds the fields of a record to summary data.
func AddRecordData(data map[string]any, env *RecordEnv) {
	data["proto"] = env.Proto
	data["src_port"] = env.SrcPort
	data["dst_port"] = env.DstPort
	data["direction"] = env.Direction
	data["action"] = env.Action
	data["bytes"] = env.Bytes
	data["packets"] = env.Packets
	data["format"] = env.Format
}

// AddWindowData adds the window aggregates to summary data.
func AddWindowData(data map[string]any, env *WindowEnv) {
	data["conns"] = env.Conns
	data["bytes"] = env.Bytes
	data["packets"] = env.Packets
	data["syn"] = env.SYN
	data["drops"] = env.Drops
	data["dst_ports"] = env.DstPorts
	data["dst_hosts"] = env.DstHosts
	data["src_hosts"] = env.SrcHosts
	data["window_seconds"] = env.WindowSeconds
	data["conns_per_s"] = FormatNumber(env.ConnsPerS)
	data["bytes_per_s"] = FormatNumber(env.BytesPerS)
	data["packets_per_s"] = FormatNumber(env.PacketsPerS)
	data["syn_per_s"] = FormatNumber(env.SYNPerS)
	data["drops_per_s"] = FormatNumber(env.DropsPerS)
	data["syn_ratio"] = FormatNumber(env.SYNRatio)
	data["beacon_score"] = FormatNumber(env.BeaconScore)
	data["beacon_conns"] = env.BeaconConns
	data["beacon_interval"] = FormatNumber(env.BeaconInterval)
	data["beacon_peer"] = addrOrEmpty(env.BeaconPeer)
	data["loop_hits"] = env.LoopHits
	data["tuple_repeats"] = env.TupleRepeats
	data["failed_share"] = FormatNumber(env.FailedShare)
	data["failed_conns"] = env.FailedConns
	data["dst_hosts_on_port"] = env.DstHostsOnPort
	data["scan_port"] = env.ScanPort
	data["dst_ports_30m"] = env.DstPorts30m
	data["threat_conns"] = env.ThreatConns
	data["threat_peer"] = addrOrEmpty(env.ThreatPeer)
	data["threat_feed"] = env.ThreatFeed
	addBaselineData(data, env)
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// SampleSummaryData returns summary data with every field a rule of kind may use, for checking
// templates at load time.
func SampleSummaryData(kind Kind) map[string]any {
	data := SummaryData(&Rule{Kind: kind}, "", "", 0, "", "")
	if kind == KindWindow {
		AddWindowData(data, &WindowEnv{})
	} else {
		AddRecordData(data, &RecordEnv{})
	}
	return data
}

// FormatNumber formats whole numbers without a decimal point and others with two decimals.
func FormatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func windowText(r *Rule) string {
	if r.Window == 0 {
		return ""
	}
	return FormatDuration(r.Window)
}

// FormatDuration formats whole hours, minutes or seconds as "1h", "5m" or "90s" and anything
// else as time.Duration does.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
