package sink

import (
	"sort"
	"strings"

	"github.com/natwatch/natwatch/detector"
)

// Measurement names in InfluxDB.
const (
	MeasurementAnomaly = "natwatch_anomaly"
	MeasurementTraffic = "natwatch_traffic"
	MeasurementPlugin  = "natwatch_plugin"
)

// anomalyLine encodes a as a natwatch_anomaly point. Addresses and the group key are fields, so
// they add no series.
func anomalyLine(a detector.Anomaly) (string, error) {
	lb := newLineBuilder(MeasurementAnomaly)
	lb.tag("gateway", a.Gateway)
	lb.tag("level", a.Level)
	lb.tag("rule", a.Rule)
	lb.tag("severity", a.Severity)
	lb.tag("state", a.State)
	for i := range a.Labels.Len() {
		name, value := a.Labels.At(i)
		lb.tag(name, value) // label names exclude the tag and field names above, checked at rule load
	}

	lb.stringField("key", a.Key)
	lb.floatField("value", a.Value)
	lb.floatField("threshold", a.Threshold)
	lb.stringField("summary", a.Summary)
	lb.stringField("src", a.Src)
	lb.stringField("dst", a.Dst)
	return lb.line(a.Time)
}

// trafficLine encodes p as a natwatch_traffic point.
func trafficLine(p detector.TrafficPoint) (string, error) {
	lb := newLineBuilder(MeasurementTraffic)
	lb.tag("direction", p.Direction)
	lb.tag("gateway", p.Gateway)

	lb.floatField("conns_per_s", p.ConnsPerS)
	lb.floatField("bytes_per_s", p.BytesPerS)
	lb.floatField("packets_per_s", p.PacketsPerS)
	lb.floatField("drops_per_s", p.DropsPerS)
	lb.floatField("out_in_ratio", p.OutInRatio)
	lb.bandFields(p.Baseline)
	return lb.line(p.Time)
}

// pluginLine encodes p as a natwatch_plugin point with integer fields.
func pluginLine(p PluginStats) (string, error) {
	lb := newLineBuilder(MeasurementPlugin)
	lb.tag("gateway", p.Gateway)
	lb.tag("instance", p.Instance)

	lb.intField("records_in", p.RecordsIn)
	lb.intField("parsed", p.Parsed)
	lb.intField("skipped", p.Skipped)
	lb.intField("anomalies", p.Anomalies)
	lb.intField("points_written", p.PointsWritten)
	lb.intField("points_dropped", p.PointsDropped)
	lb.intField("write_errors", p.WriteErrors)
	lb.intField("flush_panics", p.FlushPanics)
	lb.intField("rule_reloads", p.RuleReloads)
	lb.intField("rule_reload_failures", p.RuleReloadFailures)
	lb.intField("evictions", p.Evictions)
	lb.intField("rules_loaded", p.RulesLoaded)
	lb.intField("chunks_retried", p.ChunksRetried)
	lb.intField("points_rejected", p.PointsRejected)
	lb.intField("points_queued", p.PointsQueued)
	lb.intField("points_spooled", p.PointsSpooled)
	lb.intField("spool_bytes", p.SpoolBytes)
	lb.floatField("spool_oldest_age_s", p.SpoolOldestAge.Seconds())
	for kind, count := range p.WriteErrorKinds {
		lb.intField("write_errors_"+ErrorKind(kind).String(), count)
	}
	lb.intField("webhook_sent", p.WebhookSent)
	lb.intField("webhook_failed", p.WebhookFailed)
	lb.intField("webhook_dropped", p.WebhookDropped)
	lb.intField("blocklist_entries", p.BlocklistEntries)
	lb.intField("flushes", p.Flushes)
	lb.intField("flush_p50_us", uint64(p.FlushP50.Microseconds()))
	lb.intField("flush_p99_us", uint64(p.FlushP99.Microseconds()))
	lb.intField("flush_max_us", uint64(p.FlushMax.Microseconds()))

	// Reasons that differ only in the replaced characters share one field, so their counts add up.
	reasonCounts := make(map[string]uint64, len(p.SkipReasons))
	for reason, count := range p.SkipReasons {
		reasonCounts[SkipReasonField(reason)] += count
	}
	fields := make([]string, 0, len(reasonCounts))
	for field := range reasonCounts {
		fields = append(fields, field)
	}
	sort.Strings(fields)
	for _, field := range fields {
		lb.intField(field, reasonCounts[field])
	}
	formatFields(lb, p)
	sampledOutFields(lb, p)
	return lb.line(p.Time)
}

// formatFields adds a parsed_<format> field per format with events and a
// skipped_<format>_<reason> field per format and reason with skips, each group sorted by name.
func formatFields(lb *lineBuilder, p PluginStats) {
	parsed := make(map[string]uint64, len(p.ParsedFormats))
	for format, count := range p.ParsedFormats {
		parsed[fieldName("parsed_", format)] += count
	}
	skipped := make(map[string]uint64)
	for format, reasons := range p.SkippedFormats {
		for reason, count := range reasons {
			skipped[fieldName("skipped_", format+"_"+reason)] += count
		}
	}
	for _, counts := range []map[string]uint64{parsed, skipped} {
		fields := make([]string, 0, len(counts))
		for field := range counts {
			fields = append(fields, field)
		}
		sort.Strings(fields)
		for _, field := range fields {
			lb.intField(field, counts[field])
		}
	}
}

// sampledOutFields adds sampled_out and a sampled_out_<class> field per sampling class, when
// sampling is configured.
func sampledOutFields(lb *lineBuilder, p PluginStats) {
	if p.SampledOutClasses == nil {
		return
	}
	lb.intField("sampled_out", p.SampledOut)
	classCounts := make(map[string]uint64, len(p.SampledOutClasses))
	for class, count := range p.SampledOutClasses {
		classCounts[fieldName("sampled_out_", class)] += count
	}
	fields := make([]string, 0, len(classCounts))
	for field := range classCounts {
		fields = append(fields, field)
	}
	sort.Strings(fields)
	for _, field := range fields {
		lb.intField(field, classCounts[field])
	}
}

// SkipReasonField returns the natwatch_plugin field name for a skip reason: "skipped_" and the
// reason lower-cased, with every character other than a-z, 0-9 and _ replaced by _.
func SkipReasonField(reason string) string {
	return fieldName("skipped_", reason)
}

// fieldName returns prefix and name lower-cased, with every character other than a-z, 0-9 and _
// replaced by _.
func fieldName(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
