package detector

import (
	"time"

	"github.com/natwatch/natwatch/detector/rules"
)

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
	Labels    *rules.LabelSet // the rule's static labels; nil when it has none
	Actions   []string        // the rule's response actions, such as "webhook" and "blocklist"
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
	Baseline    Bands // the baselines of the gateway and direction for the slot of Time
}

// Band is the seasonal expectation of one rate: the baseline's expected value and upper bound.
type Band struct {
	Expected, Upper float64
}

// Bands are the seasonal expectations of a point's rates. Warm is false until the baseline has
// the same slot of at least one earlier day; the other fields are zero then.
type Bands struct {
	Warm                                         bool
	ConnsPerS, BytesPerS, PacketsPerS, DropsPerS Band
}

// HostPoint is one tick's traffic rates of an internal host, with the same meaning as the rates
// of a TrafficPoint seen from the host: OutInRatio divides the bytes the host sent out of the
// internal side by those it received. ProfileScore is the host's profile_score at Time.
type HostPoint struct {
	Time         time.Time
	Gateway      string
	Host         string
	ConnsPerS    float64
	BytesPerS    float64
	PacketsPerS  float64
	DropsPerS    float64
	OutInRatio   float64
	ProfileScore float64
	Baseline     Bands
}
