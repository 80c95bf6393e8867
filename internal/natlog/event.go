// Package natlog turns NAT gateway and firewall log records into ConnEvent values.
//
// A record reaches natlog in one of two shapes: fields that Fluent Bit already parsed (mapped by
// FieldMap), or a raw log line in a `log` or `message` field (handed to the Parser registered for its
// format). Both end in the same ConnEvent, so vendor differences stop at this package.
package natlog

import (
	"net/netip"
	"time"
)

// Proto is an IP protocol number as assigned by IANA.
type Proto uint8

// Protocol numbers natlog names. Any other number passes through unchanged.
const (
	ProtoUnknown Proto = 0
	ProtoICMP    Proto = 1
	ProtoTCP     Proto = 6
	ProtoUDP     Proto = 17
	ProtoGRE     Proto = 47
	ProtoESP     Proto = 50
	ProtoICMPv6  Proto = 58
	ProtoSCTP    Proto = 132
)

// String returns the lower-case protocol name used in rules ("tcp", "udp", "icmp" …), or the
// decimal number for protocols without a name here.
func (p Proto) String() string {
	switch p {
	case ProtoUnknown:
		return ""
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoGRE:
		return "gre"
	case ProtoESP:
		return "esp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoSCTP:
		return "sctp"
	}
	return protoNumbers[p]
}

var protoNumbers = func() (names [256]string) {
	for i := range names {
		names[i] = itoa(i)
	}
	return names
}()

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf [3]byte
	n := len(buf)
	for i > 0 {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
	}
	return string(buf[n:])
}

// Direction is the side of the gateway that started the connection, judged by the configured
// internal networks.
type Direction uint8

// Directions. DirectionUnknown means no internal networks are configured or an address is missing.
const (
	DirectionUnknown  Direction = iota
	DirectionOutbound           // internal source, external destination
	DirectionInbound            // external source, internal destination
	DirectionInternal           // both ends internal
	DirectionExternal           // neither end internal (transit traffic)
)

var directionNames = [...]string{"unknown", "outbound", "inbound", "internal", "external"}

// String returns the direction name used in rules and InfluxDB tags.
func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return "unknown"
}

// Action is the gateway's decision on the connection or packet.
type Action uint8

// Actions. ActionUnknown is for formats that log only accepted traffic without saying so.
const (
	ActionUnknown Action = iota
	ActionAccept
	ActionDrop
	ActionReject
)

var actionNames = [...]string{"unknown", "accept", "drop", "reject"}

// String returns the action name used in rules.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Kind is the place of a record in a connection's life.
type Kind uint8

// Kinds. A connection may produce several records (start, interim updates, end); KindPacket is a
// single logged packet, as the kernel LOG target writes.
const (
	KindUnknown Kind = iota
	KindStart
	KindInterim
	KindEnd
	KindPacket
)

var kindNames = [...]string{"unknown", "start", "interim", "end", "packet"}

// String returns the kind name used in rules.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// TCPFlags is a bit set of TCP header flags seen in a packet, or OR-ed over a flow where the
// format reports them that way.
type TCPFlags uint8

// TCP flag bits, in the order of the TCP header.
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// State is a connection's TCP progress as far as the record shows it, normalised across conntrack
// states, vendor close reasons and Zeek conn_state values.
type State uint8

// States. StateSYNOnly means a SYN that got no reply (a scan or flood probe). StateUnreplied means
// no packet came back at all, whatever the protocol.
const (
	StateUnknown State = iota
	StateSYNOnly
	StateEstablished
	StateReset
	StateUnreplied
	StateClosed
)

var stateNames = [...]string{"unknown", "syn_only", "established", "reset", "unreplied", "closed"}

// String returns the state name used in rules.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Counters is the relation of a record's byte and packet counters to the connection, so that
// meters neither double count nor miss traffic.
type Counters uint8

// Counter kinds.
const (
	CountersNone   Counters = iota // the record carries no counters
	CountersTotal                  // totals since the connection started (teardown records, conntrack DESTROY)
	CountersDelta                  // traffic since the previous record of the same connection (interim flow records)
	CountersPacket                 // the size of one logged packet
)

// ConnEvent is one normalised connection record. It holds no maps and no pointers to per-record
// allocations, so a caller can reuse one value for every record.
//
// Addresses are the pre-NAT tuple as the initiator sent it; NATSrc/NATDst are the translated
// addresses where the format prints them (source NAT fills NATSrc, destination NAT fills NATDst).
// "Orig" counters flow from the initiator to the responder and "Reply" counters back.
type ConnEvent struct {
	Time     time.Time // the connection's own time where the format gives one, else the log time
	Gateway  string    // the device that logged the record
	Format   string    // the parser or field mapping that produced the event, such as "iptables"
	Proto    Proto
	Src, Dst netip.Addr

	SrcPort, DstPort uint16
	NATSrc, NATDst   netip.Addr

	NATSrcPort, NATDstPort uint16

	Direction Direction
	Action    Action
	Kind      Kind
	State     State
	Flags     TCPFlags

	Counters     Counters
	OrigBytes    uint64
	ReplyBytes   uint64
	OrigPackets  uint64
	ReplyPackets uint64

	Duration time.Duration

	// TTL and IPID come from formats that log single packets; HasIPID separates a real ID 0 from none.
	TTL     uint8
	HasIPID bool
	IPID    uint32

	ICMPType, ICMPCode uint8
	HasICMP            bool

	// Weight is the number of connections the record represents after sampling kept it as one
	// of Weight. 0 and 1 mean the record was not sampled.
	Weight uint16

	// Raw is the original log line or the record's msgpack map, valid only until the next record.
	// Rules reach fields that ConnEvent does not name through it.
	Raw     []byte
	RawKind RawKind
}

// RawKind is the encoding of ConnEvent.Raw.
type RawKind uint8

// Raw kinds.
const (
	RawNone    RawKind = iota
	RawLine            // a text log line
	RawMsgpack         // a msgpack map as Fluent Bit sent it
)

// Reset clears every field so that the value can be reused for the next record.
func (e *ConnEvent) Reset() {
	*e = ConnEvent{}
}

// Bytes returns the bytes of both directions.
func (e *ConnEvent) Bytes() uint64 { return e.OrigBytes + e.ReplyBytes }

// Packets returns the packets of both directions.
func (e *ConnEvent) Packets() uint64 { return e.OrigPackets + e.ReplyPackets }

// SYNOnly reports whether the record shows a TCP connection attempt that got no reply.
func (e *ConnEvent) SYNOnly() bool {
	if e.Proto != ProtoTCP {
		return false
	}
	if e.State == StateSYNOnly {
		return true
	}
	return e.Flags&(FlagSYN|FlagACK|FlagRST|FlagFIN) == FlagSYN
}
