package rules

import (
	"net/netip"
	"time"

	"github.com/natwatch/natwatch/internal/natlog"
)

// RecordEnv is the environment of a record rule's expressions: one connection record. Addresses
// are netip.Addr values, so that rules test them with in_list, in_cidr and ip() without turning
// every address into text. The engine passes it to expr by value, which is what keeps field
// reads free of allocations.
type RecordEnv struct {
	Gateway   string     `expr:"gateway"`
	Format    string     `expr:"format"`
	Proto     string     `expr:"proto"`
	SrcIP     netip.Addr `expr:"src_ip"`
	DstIP     netip.Addr `expr:"dst_ip"`
	SrcPort   int        `expr:"src_port"`
	DstPort   int        `expr:"dst_port"`
	NATSrcIP  netip.Addr `expr:"nat_src_ip"`
	NATDstIP  netip.Addr `expr:"nat_dst_ip"`
	NATSrcPrt int        `expr:"nat_src_port"`
	NATDstPrt int        `expr:"nat_dst_port"`
	Direction string     `expr:"direction"`
	Action    string     `expr:"action"`
	Kind      string     `expr:"kind"`
	State     string     `expr:"state"`
	SYNOnly   bool       `expr:"syn_only"`

	Bytes        int `expr:"bytes"`
	Packets      int `expr:"packets"`
	OrigBytes    int `expr:"orig_bytes"`
	ReplyBytes   int `expr:"reply_bytes"`
	OrigPackets  int `expr:"orig_packets"`
	ReplyPackets int `expr:"reply_packets"`

	Duration float64 `expr:"duration"` // seconds
	TTL      int     `expr:"ttl"`
	ICMPType int     `expr:"icmp_type"`
	ICMPCode int     `expr:"icmp_code"`
	Hour     int     `expr:"hour"`    // 0–23, in the engine's time zone (UTC unless its Extension sets one)
	Weekday  int     `expr:"weekday"` // 0 = Sunday, in the engine's time zone
	WorkTime bool    `expr:"work_time"`

	// Estimated is true when sampling kept the record as one of several connections of its
	// class (ConnEvent.Weight above 1).
	Estimated bool `expr:"estimated"`
}

// Fill copies ev into the environment. It allocates nothing: the strings are ev's own or the
// constant names of natlog's enumerations.
func (env *RecordEnv) Fill(ev *natlog.ConnEvent) {
	utc := ev.Time.UTC()
	*env = RecordEnv{
		Gateway:      ev.Gateway,
		Format:       ev.Format,
		Proto:        ev.Proto.String(),
		SrcIP:        ev.Src,
		DstIP:        ev.Dst,
		SrcPort:      int(ev.SrcPort),
		DstPort:      int(ev.DstPort),
		NATSrcIP:     ev.NATSrc,
		NATDstIP:     ev.NATDst,
		NATSrcPrt:    int(ev.NATSrcPort),
		NATDstPrt:    int(ev.NATDstPort),
		Direction:    ev.Direction.String(),
		Action:       ev.Action.String(),
		Kind:         ev.Kind.String(),
		State:        ev.State.String(),
		SYNOnly:      ev.SYNOnly(),
		Bytes:        int(ev.Bytes()),
		Packets:      int(ev.Packets()),
		OrigBytes:    int(ev.OrigBytes),
		ReplyBytes:   int(ev.ReplyBytes),
		OrigPackets:  int(ev.OrigPackets),
		ReplyPackets: int(ev.ReplyPackets),
		Duration:     ev.Duration.Seconds(),
		TTL:          int(ev.TTL),
		ICMPType:     int(ev.ICMPType),
		ICMPCode:     int(ev.ICMPCode),
		Hour:         utc.Hour(),
		Weekday:      int(utc.Weekday()),
		Estimated:    ev.Weight > 1,
	}
}

// WindowEnv is the environment of a window rule's expressions: the aggregates of one group key
// over the rule's window. Counts are sums over the window; the *_per_s values divide them by
// window_seconds.
type WindowEnv struct {
	Key           string     `expr:"key"`    // the address or gateway name; filled only when a rule reads it
	KeyIP         netip.Addr `expr:"key_ip"` // the key as an address; the zero Addr for group_by gateway
	Gateway       string     `expr:"gateway"`
	WindowSeconds int        `expr:"window_seconds"`

	Conns    int `expr:"conns"`
	Bytes    int `expr:"bytes"`
	Packets  int `expr:"packets"`
	SYN      int `expr:"syn"`
	Drops    int `expr:"drops"`
	DstPorts int `expr:"dst_ports"`
	DstHosts int `expr:"dst_hosts"`
	SrcHosts int `expr:"src_hosts"`

	ConnsPerS   float64 `expr:"conns_per_s"`
	BytesPerS   float64 `expr:"bytes_per_s"`
	PacketsPerS float64 `expr:"packets_per_s"`
	SYNPerS     float64 `expr:"syn_per_s"`
	DropsPerS   float64 `expr:"drops_per_s"`
	SYNRatio    float64 `expr:"syn_ratio"` // syn / conns, 0 without connections

	Hour     int  `expr:"hour"`    // 0–23 at the evaluation time, in the engine's time zone (UTC unless its Extension sets one)
	Weekday  int  `expr:"weekday"` // 0 = Sunday, in the engine's time zone
	WorkTime bool `expr:"work_time"`

	// Estimated is true when a sampled record of the key falls in the window, so the counts
	// are scaled estimates.
	Estimated bool `expr:"estimated"`

	BehaviorEnv
	BaselineEnv
}

// BehaviorEnv holds the window variables of the behavior detectors (package detector/behavior).
// They are zero unless the engine has an Extension that fills them.
type BehaviorEnv struct {
	// BeaconScore is the highest beacon score, 0 to 1, of the key's pairs with external peers.
	BeaconScore    float64    `expr:"beacon_score"`
	BeaconConns    int        `expr:"beacon_conns"`    // connections of the highest-scoring pair
	BeaconInterval float64    `expr:"beacon_interval"` // its median seconds between connections
	BeaconPeer     netip.Addr `expr:"beacon_peer"`     // its external address

	LoopHits     int `expr:"loop_hits"`     // packets seen again with a lower TTL, last 60 s
	TupleRepeats int `expr:"tuple_repeats"` // records repeating an identical tuple within 1 s, last 60 s

	FailedShare float64 `expr:"failed_share"` // share of the key's connections that never completed
	FailedConns int     `expr:"failed_conns"`

	DstHostsOnPort int `expr:"dst_hosts_on_port"` // most destination hosts reached on one port in the window
	ScanPort       int `expr:"scan_port"`         // that port
	DstPorts30m    int `expr:"dst_ports_30m"`     // distinct destination ports over the last 30 minutes

	ThreatConns int        `expr:"threat_conns"` // records from or to a threat-intel address, last 60 s
	ThreatPeer  netip.Addr `expr:"threat_peer"`  // the latest such address
	ThreatFeed  string     `expr:"threat_feed"`  // the feed that lists it
}

// WindowCounts are the sums a meter returns for one key and window.
type WindowCounts struct {
	Conns, Bytes, Packets, SYN, Drops uint64
	OutBytes                          uint64 // the part of Bytes that left the internal side
	DstPorts, DstHosts, SrcHosts      int
	Estimated                         bool // a sampled record falls in the window
}

// Fill sets the counts, rates and clock fields of the environment. Key, KeyIP and Gateway are
// the caller's to set.
func (env *WindowEnv) Fill(c WindowCounts, window time.Duration, now time.Time) {
	seconds := int(window / time.Second)
	if seconds < 1 {
		seconds = 1
	}
	divisor := float64(seconds)
	utc := now.UTC()

	env.WindowSeconds = seconds
	env.Conns = int(c.Conns)
	env.Bytes = int(c.Bytes)
	env.Packets = int(c.Packets)
	env.SYN = int(c.SYN)
	env.Drops = int(c.Drops)
	env.DstPorts = c.DstPorts
	env.DstHosts = c.DstHosts
	env.SrcHosts = c.SrcHosts
	env.ConnsPerS = float64(c.Conns) / divisor
	env.BytesPerS = float64(c.Bytes) / divisor
	env.PacketsPerS = float64(c.Packets) / divisor
	env.SYNPerS = float64(c.SYN) / divisor
	env.DropsPerS = float64(c.Drops) / divisor
	env.SYNRatio = 0
	if c.Conns > 0 {
		env.SYNRatio = float64(c.SYN) / float64(c.Conns)
	}
	env.Hour = utc.Hour()
	env.Weekday = int(utc.Weekday())
	env.WorkTime = false
	env.Estimated = c.Estimated
	env.BehaviorEnv = BehaviorEnv{}
	env.fillTraffic(c, divisor)
}
