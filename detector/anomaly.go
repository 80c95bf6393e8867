package detector

import "time"

// Anomaly is one state change of a rule for one key: "firing" when the condition starts to hold
// (at most once per cooldown), "resolved" when it stops holding after having fired.
type Anomaly struct {
	Time      time.Time
	Gateway   string
	Rule      string
	Level     string // basic, behavior or intelligent
	Severity  string // info, low, medium, high or critical
	State     string // "firing" or "resolved"
	Key       string // the group key (a source address for most rules)
	Value     float64
	Threshold float64
	Summary   string
	Src, Dst  string
}

// TrafficPoint is one tick's traffic rates for a gateway and direction.
type TrafficPoint struct {
	Time        time.Time
	Gateway     string
	Direction   string
	ConnsPerS   float64
	BytesPerS   float64
	PacketsPerS float64
	DropsPerS   float64
	OutInRatio  float64
}
