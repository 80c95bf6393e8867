// Package baseline learns what traffic normally looks like at each time of day and measures how
// far a current value is from it.
//
// A Series keeps, for one key (a gateway direction or an internal host), the mean rate of each
// metric in every 15-minute slot of local wall time over the last 7 days: one value per slot per
// day. The baseline of a slot is computed from the same slot of the previous days, with either
// the median and the median absolute deviation (the default, robust to outliers) or the mean
// and the standard deviation. With no earlier day for the slot, a Series falls back to its most
// recent slots and marks the result cold. Slots in which the caller saw an anomaly are tainted
// and left out of the history, so an attack does not become normal.
//
// A Series is not safe for concurrent use.
package baseline

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Slot geometry.
const (
	SlotSeconds = 15 * 60
	SlotsPerDay = 24 * 60 * 60 / SlotSeconds
	HistoryDays = 7

	// ringDays holds the previous HistoryDays days and the current one.
	ringDays = HistoryDays + 1

	// RecentSlots is how many of the latest closed slots a Series keeps for its cold estimate.
	RecentSlots = 8
)

// Metric is a rate or ratio a Series learns.
type Metric uint8

// Metrics. The names are those of the window rule variables.
const (
	ConnsPerS Metric = iota
	BytesPerS
	PacketsPerS
	DropsPerS
	SYNRatio
	OutInRatio
	MetricCount
)

var metricNames = [MetricCount]string{
	"conns_per_s", "bytes_per_s", "packets_per_s", "drops_per_s", "syn_ratio", "out_in_ratio",
}

// minSpread is the smallest spread of each metric, so that a metric that is nearly constant
// (a host that never drops a connection) does not turn tiny changes into large z-scores.
var minSpread = [MetricCount]float64{
	ConnsPerS:   0.05,
	BytesPerS:   100,
	PacketsPerS: 1,
	DropsPerS:   0.05,
	SYNRatio:    0.05,
	OutInRatio:  0.1,
}

func (m Metric) String() string {
	if m < MetricCount {
		return metricNames[m]
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// ParseMetric returns the metric called name, such as "bytes_per_s".
func ParseMetric(name string) (Metric, bool) {
	for m, n := range metricNames {
		if n == name {
			return Metric(m), true
		}
	}
	return 0, false
}

// Method selects how a baseline's expected value and spread are computed.
type Method uint8

// Methods.
const (
	// MAD uses the median and the median absolute deviation scaled by 1.4826, which estimates
	// the standard deviation of normal data and ignores a minority of outliers.
	MAD Method = iota
	// StdDev uses the mean and the sample standard deviation.
	StdDev
)

// MADScale turns a median absolute deviation into an estimate of the standard deviation of
// normally distributed data.
const MADScale = 1.4826

// ParseMethod returns the method called "mad" or "stddev".
func ParseMethod(name string) (Method, error) {
	switch name {
	case "", "mad":
		return MAD, nil
	case "stddev":
		return StdDev, nil
	}
	return 0, fmt.Errorf("invalid baseline method %q: use mad or stddev", name)
}

func (m Method) String() string {
	if m == StdDev {
		return "stddev"
	}
	return "mad"
}

// Defaults of Config.
const (
	DefaultK         = 3.0
	DefaultMinSpread = 0.1
)

// Config sets how baselines are computed.
type Config struct {
	Method Method
	K      float64 // the upper bound is expected + K × spread; 0 means DefaultK
	// MinSpread is the smallest spread as a fraction of the expected value; 0 means
	// DefaultMinSpread. It keeps a baseline learned from one or two days, whose deviation is
	// close to 0, from treating every small rise as an anomaly.
	MinSpread float64
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.K == 0 {
		c.K = DefaultK
	}
	if c.MinSpread == 0 {
		c.MinSpread = DefaultMinSpread
	}
	return c
}

// Validate reports a K or MinSpread that is negative or not finite.
func (c Config) Validate() error {
	if c.K < 0 || math.IsNaN(c.K) || math.IsInf(c.K, 0) {
		return fmt.Errorf("invalid baseline k %v: use a positive number", c.K)
	}
	if c.MinSpread < 0 || math.IsNaN(c.MinSpread) || math.IsInf(c.MinSpread, 0) {
		return fmt.Errorf("invalid baseline minimum spread %v: use a positive number", c.MinSpread)
	}
	return nil
}

// Slot is a 15-minute slot of local wall time.
type Slot struct {
	Day   int32 // the local date as days since 1970-01-01
	Index int32 // 0–95: the slot of the day, 0 starting at 00:00
}

// SlotAt returns the slot of Unix second sec in loc. The slot follows the wall clock, so on a
// day when daylight saving time ends the slots of the repeated hour occur twice, and on a day
// when it starts the slots of the skipped hour do not occur.
func SlotAt(sec int64, loc *time.Location) Slot {
	t := time.Unix(sec, 0).In(loc)
	y, m, d := t.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	index := (t.Hour()*3600 + t.Minute()*60 + t.Second()) / SlotSeconds
	return Slot{Day: int32(day), Index: int32(index)}
}

// Counts are the sums a Series accumulates for its open slot.
type Counts struct {
	Conns, SYN, Drops uint64
	Bytes, Packets    uint64
	OutBytes, InBytes uint64 // bytes that left and that entered the internal side
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	c.Conns += o.Conns
	c.SYN += o.SYN
	c.Drops += o.Drops
	c.Bytes += o.Bytes
	c.Packets += o.Packets
	c.OutBytes += o.OutBytes
	c.InBytes += o.InBytes
}

// Values returns the metrics of counts accumulated over seconds.
func (c *Counts) Values(seconds float64) [MetricCount]float64 {
	return Rates{
		Conns: float64(c.Conns), SYN: float64(c.SYN), Drops: float64(c.Drops),
		Bytes: float64(c.Bytes), Packets: float64(c.Packets),
		OutBytes: float64(c.OutBytes), InBytes: float64(c.InBytes),
	}.Values(seconds)
}

// Rates are counts as floating-point numbers, such as exponentially weighted averages of
// per-second counts.
type Rates struct {
	Conns, SYN, Drops, Bytes, Packets, OutBytes, InBytes float64
}

// Values returns the metrics of r accumulated over seconds.
func (r Rates) Values(seconds float64) [MetricCount]float64 {
	var v [MetricCount]float64
	if seconds <= 0 {
		return v
	}
	v[ConnsPerS] = r.Conns / seconds
	v[BytesPerS] = r.Bytes / seconds
	v[PacketsPerS] = r.Packets / seconds
	v[DropsPerS] = r.Drops / seconds
	if r.Conns > 0 {
		v[SYNRatio] = r.SYN / r.Conns
	}
	if r.InBytes > 0 {
		v[OutInRatio] = r.OutBytes / r.InBytes
	}
	return v
}

// Stat is the baseline of one metric for one slot.
type Stat struct {
	Expected float64 // the median (MAD) or mean (StdDev) of the history
	Spread   float64 // 1.4826 × MAD or the standard deviation, raised to the minimum spread
	Upper    float64 // Expected + K × Spread
	Days     int     // earlier days that had a value for the slot; 0 when cold
	Cold     bool    // computed from recent slots because no earlier day had a value
	Valid    bool    // false when there was no value at all
}

// Warm reports whether the baseline comes from at least one earlier day.
func (s Stat) Warm() bool { return s.Days > 0 }

// ZScore returns how many spreads v lies above the expected value, or 0 when the baseline is
// not warm.
func (s Stat) ZScore(v float64) float64 {
	if !s.Warm() || s.Spread <= 0 {
		return 0
	}
	return (v - s.Expected) / s.Spread
}

// compute returns the Stat of values, which it reorders.
func compute(values []float64, m Metric, cfg *Config) Stat {
	if len(values) == 0 {
		return Stat{}
	}
	var expected, spread float64
	switch cfg.Method {
	case StdDev:
		expected, spread = meanStdDev(values)
	default:
		expected = median(values)
		for i, v := range values {
			values[i] = math.Abs(v - expected)
		}
		spread = MADScale * median(values)
	}
	spread = max(spread, cfg.MinSpread*math.Abs(expected), minSpread[m])
	return Stat{Expected: expected, Spread: spread, Upper: expected + cfg.K*spread, Valid: true}
}

func median(values []float64) float64 {
	slices.Sort(values)
	n := len(values)
	if n%2 == 1 {
		return values[n/2]
	}
	return (values[n/2-1] + values[n/2]) / 2
}

func meanStdDev(values []float64) (mean, stddev float64) {
	for _, v := range values {
		mean += v
	}
	mean /= float64(len(values))
	if len(values) < 2 {
		return mean, 0
	}
	var squares float64
	for _, v := range values {
		squares += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(squares / float64(len(values)-1))
}
