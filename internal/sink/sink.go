// Package sink writes natwatch's output: anomalies, traffic rates and the plugin's own counters.
//
// Influx writes all three to InfluxDB from a background goroutine, NewJSONLines writes anomalies
// only, as one JSON object per line, and Multi fans out to several sinks. The Write methods do not wait for a network request,
// so the detector can call them on its hot path.
package sink

import (
	"context"
	"errors"
	"time"

	"github.com/natwatch/natwatch/detector"
)

// Sink receives natwatch's output. Implementations are safe for concurrent use.
type Sink interface {
	// WriteAnomaly records one anomaly state change without waiting for a network request.
	WriteAnomaly(a detector.Anomaly)
	// WriteTraffic records one tick's traffic rates without waiting for a network request.
	WriteTraffic(p detector.TrafficPoint)
	// WritePlugin records one sample of the plugin's own counters without waiting for a network request.
	WritePlugin(p PluginStats)
	// Close writes what is still pending until ctx ends, then releases the sink. Writes after
	// Close are discarded.
	Close(ctx context.Context) error
}

// PluginStats is one sample of the plugin's own counters, written as a natwatch_plugin point.
// The counters are totals since the plugin instance started, not deltas since the last sample.
type PluginStats struct {
	Time     time.Time
	Gateway  string // tag; omitted when empty
	Instance string // tag naming the output instance; omitted when empty

	RecordsIn          uint64 // records received from Fluent Bit
	Parsed             uint64 // records turned into connection events
	Skipped            uint64 // records that were not connection events, all reasons together
	Anomalies          uint64 // anomaly state changes
	PointsWritten      uint64 // points InfluxDB accepted
	PointsDropped      uint64 // points discarded before InfluxDB accepted them
	WriteErrors        uint64 // failed write requests
	FlushPanics        uint64 // panics recovered during a flush
	RuleReloads        uint64 // successful rule reloads
	RuleReloadFailures uint64 // rule reloads rejected because a rule file was invalid
	Evictions          uint64 // window or baseline entries evicted to stay within memory limits
	RulesLoaded        uint64 // rules in the rule set in force
	ChunksRetried      uint64 // chunks returned to Fluent Bit with FLB_RETRY because the spool and queue were full

	PointsRejected   uint64                // points InfluxDB rejected as invalid (a field type conflict)
	PointsQueued     uint64                // points waiting in memory
	PointsSpooled    uint64                // points waiting in the disk spool
	SpoolBytes       uint64                // size of the spool's files
	SpoolOldestAge   time.Duration         // age of the oldest spooled point; 0 when the spool is empty
	WriteErrorKinds  [NumErrorKinds]uint64 // WriteErrors by ErrorKind, written as write_errors_<kind>
	WebhookSent      uint64                // anomalies the webhook receiver accepted
	WebhookFailed    uint64                // anomalies the webhook gave up on after retries
	WebhookDropped   uint64                // anomalies not sent: webhook queue full or rate limit reached
	BlocklistEntries uint64                // addresses on the blocklist

	// Flushes counts the plugin's flushes since the previous point, and FlushP50, FlushP99 and
	// FlushMax are their durations' quantiles over that interval (written in microseconds). The
	// quantiles are estimates above 4096 flushes per interval.
	Flushes                      uint64
	FlushP50, FlushP99, FlushMax time.Duration

	// SkipReasons splits Skipped by reason. Each entry is written as the field
	// "skipped_<reason>", with the reason lower-cased and every character other than a-z, 0-9
	// and _ replaced by _.
	SkipReasons map[string]uint64

	// ParsedFormats splits Parsed by log format, written as "parsed_<format>".
	// SkippedFormats splits Skipped by format and then reason, written as
	// "skipped_<format>_<reason>". Both hold only non-zero counts, and names are cleaned as for
	// SkipReasons.
	ParsedFormats  map[string]uint64
	SkippedFormats map[string]map[string]uint64

	// SampledOut counts records that sampling dropped, and SampledOutClasses splits it by
	// sampling class. Both are written only when SampledOutClasses is not nil, that is when
	// sampling is configured: sampled_out, and sampled_out_<class> with the class name
	// lower-cased and every character other than a-z, 0-9 and _ replaced by _.
	SampledOut        uint64
	SampledOutClasses map[string]uint64
}

// Multi returns a Sink that passes every write to each of sinks in order.
func Multi(sinks ...Sink) Sink {
	return multi(append([]Sink(nil), sinks...))
}

type multi []Sink

func (m multi) WriteAnomaly(a detector.Anomaly) {
	for _, s := range m {
		s.WriteAnomaly(a)
	}
}

func (m multi) WriteTraffic(p detector.TrafficPoint) {
	for _, s := range m {
		s.WriteTraffic(p)
	}
}

func (m multi) WritePlugin(p PluginStats) {
	for _, s := range m {
		s.WritePlugin(p)
	}
}

// Close closes every sink with the same ctx, even when one of them fails, and returns their
// errors joined.
func (m multi) Close(ctx context.Context) error {
	var errs []error
	for _, s := range m {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
