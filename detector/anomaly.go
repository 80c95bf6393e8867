package detector

import "time"

// Anomaly is one state change of a rule for one key: "firing" when the condition starts to hold
// (at most once per cooldown), "resolved" when a window rule's condition stops holding after
// having fired. Record rules only fire.
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

// TrafficPoint is one tick's traffic rates for a gateway and direction. The rates are per second
// over the tick that ends at Time. OutInRatio divides the bytes that left the internal side by
// the bytes that came in: orig/reply bytes for outbound connections, reply/orig for inbound, and
// orig/reply for the other directions. It is 0 when no bytes came in.
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
