package natlog

import (
	"sync/atomic"
	"time"
)

// AWSVPC parses AWS VPC Flow Logs records: space-separated fields in the default version 2
// order,
//
//	2 111122223333 eni-0c4d2e9f7a1b3c5d6 10.20.4.37 10.20.0.220 52144 443 6 9420 13937644
//	1741890001 1741890060 ACCEPT OK
//
// or in a custom order announced by a header line of field names, as the first line of every
// flow log file in S3 carries:
//
//	version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end
//	action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr …
//
// Each Normalizer remembers the latest header it read and applies it to the data lines that
// follow; lines with 14 fields that start with a version number and an ENI id are read in the
// default order whatever the header. A field unknown here is skipped.
//
// A record covers one direction of traffic through one network interface during an aggregation
// interval (1 or 10 minutes), so its counters are CountersDelta in OrigBytes and OrigPackets.
// Time is the start of the interval and Duration its length. Addresses are pkt-srcaddr and
// pkt-dstaddr when the record has them (the packet's own endpoints), else srcaddr and dstaddr
// (the interface's view). ACCEPT gives ActionAccept, REJECT ActionReject, and NODATA or SKIPDATA
// rows are skipped as ReasonNotConnection. "-" reads as absent everywhere.
//
// tcp-flags is OR-ed over the interval and records only FIN, SYN, RST and SYN-ACK: SYN without
// ACK gives KindStart, SYN-ACK KindInterim (the answer of a connection counted elsewhere), FIN or
// RST alone KindEnd, and no flag KindInterim. RST gives StateReset, FIN StateClosed, SYN-ACK
// StateEstablished, and a rejected SYN StateSYNOnly. Without a tcp-flags field, and for other
// protocols, Kind is KindUnknown, so every record counts as a connection.
//
// A connection through a NAT gateway appears as four records on the gateway's interface: client
// to gateway, gateway to server, server to gateway and gateway to client. Each direction's bytes
// are therefore logged twice, once on each side of the gateway. With pkt-srcaddr and pkt-dstaddr
// the client-side records name the client and the server, and the server-side records name the
// gateway's private address and the server. Meters that sum bytes over all records of a NAT
// gateway interface count its traffic twice. Count one side, for example with a rule that keeps
// records whose source or destination is an internal client address.
//
// NOTE: tcp-flags is not copied to ConnEvent.Flags, because AWS never records a plain ACK, and
// a connection's first interval would then read as a SYN-only probe.
type AWSVPC struct {
	layout atomic.Pointer[awsLayout] // the latest header's layout; nil means the default order
}

func init() { Register(&AWSVPC{}) }

const awsFormat = "awsvpc"

// NewInstance returns an AWSVPC parser with its own header state, for one Normalizer.
func (*AWSVPC) NewInstance() Parser { return &AWSVPC{} }

// Name returns "awsvpc".
func (*AWSVPC) Name() string { return awsFormat }

// awsColumn is a flow log field natlog reads.
type awsColumn uint8

const (
	awsUnknown awsColumn = iota
	awsVersion
	awsInterfaceID
	awsSrcAddr
	awsDstAddr
	awsSrcPort
	awsDstPort
	awsProtocol
	awsPackets
	awsBytes
	awsStart
	awsEnd
	awsAction
	awsLogStatus
	awsTCPFlags
	awsPktSrcAddr
	awsPktDstAddr
	awsColumnCount
)

var awsColumnNames = [awsColumnCount]string{
	"", "version", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
	"packets", "bytes", "start", "end", "action", "log-status", "tcp-flags", "pkt-srcaddr",
	"pkt-dstaddr",
}

// awsMaxColumns bounds the fields of a record. It is a generous guess, well above the fields that
// versions 2 to 5 define.
const awsMaxColumns = 64

// awsLayout is the field order of the records that follow a header.
type awsLayout struct {
	count int
	index [awsColumnCount]int8 // position of each column, -1 when absent
}

// awsDefaultLayout is the version 2 default order.
var awsDefaultLayout = func() *awsLayout {
	l, _ := parseAWSHeader([]byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"))
	return l
}()

// parseAWSHeader reads a header line of field names. ok is false when the line has no srcaddr or
// dstaddr field, or a word that cannot be a field name.
func parseAWSHeader(line []byte) (*awsLayout, bool) {
	l := &awsLayout{}
	for i := range l.index {
		l.index[i] = -1
	}
	for i := skipSpaces(line, 0); i < len(line); i = skipSpaces(line, i) {
		end := tokenEnd(line, i)
		word := line[i:end]
		i = end
		for _, c := range word {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return nil, false
			}
		}
		if l.count == awsMaxColumns {
			return nil, false
		}
		for col := awsVersion; col < awsColumnCount; col++ {
			if awsColumnNames[col] == string(word) && l.index[col] < 0 {
				l.index[col] = int8(l.count)
			}
		}
		l.count++
	}
	if l.index[awsSrcAddr] < 0 || l.index[awsDstAddr] < 0 {
		return nil, false
	}
	return l, true
}

// awsFields splits a record into its fields. It returns false when the record has more than
// awsMaxColumns fields.
func awsFields(line []byte, fields *[awsMaxColumns][]byte) (int, bool) {
	n := 0
	for i := skipSpaces(line, 0); i < len(line); i = skipSpaces(line, i) {
		if n == awsMaxColumns {
			return n, false
		}
		end := tokenEnd(line, i)
		fields[n] = line[i:end]
		n++
		i = end
	}
	return n, true
}

// Detect reports whether line is a header line or a record in the latest header's order or the
// default order.
func (p *AWSVPC) Detect(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	if c := line[0]; c >= 'a' && c <= 'z' {
		_, ok := parseAWSHeader(line)
		return ok
	}
	var fields [awsMaxColumns][]byte
	n, ok := awsFields(line, &fields)
	if !ok {
		return false
	}
	return p.layoutFor(fields[:n]) != nil
}

// layoutFor returns the layout that fits a record's fields, or nil.
func (p *AWSVPC) layoutFor(fields [][]byte) *awsLayout {
	if l := p.layout.Load(); l != nil && awsFits(l, fields) {
		return l
	}
	if awsFits(awsDefaultLayout, fields) && len(fields[2]) > 4 && string(fields[2][:4]) == "eni-" {
		return awsDefaultLayout
	}
	return nil
}

// awsFits reports whether fields look like a record in layout l: the count matches, the version
// is a number and the addresses are addresses or "-".
func awsFits(l *awsLayout, fields [][]byte) bool {
	if len(fields) != l.count {
		return false
	}
	if i := l.index[awsVersion]; i >= 0 {
		if _, ok := parseUint8(fields[i]); !ok {
			return false
		}
	}
	for _, col := range [...]awsColumn{awsSrcAddr, awsDstAddr} {
		f := fields[l.index[col]]
		if string(f) == "-" {
			continue
		}
		if _, ok := parseAddr(f); !ok {
			return false
		}
	}
	return true
}

// Parse fills ev from one record, or stores the layout of a header line and returns a
// *SkipError with ReasonNotConnection.
func (p *AWSVPC) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = awsFormat
	if len(line) > 0 && line[0] >= 'a' && line[0] <= 'z' {
		l, ok := parseAWSHeader(line)
		if !ok {
			return Skip(awsFormat, ReasonNotConnection, "header", tail(line))
		}
		p.layout.Store(l)
		return Skip(awsFormat, ReasonNotConnection, "header", nil)
	}

	var all [awsMaxColumns][]byte
	n, ok := awsFields(line, &all)
	if !ok {
		return Skip(awsFormat, ReasonBadRecord, "", tail(line))
	}
	fields := all[:n]
	l := p.layoutFor(fields)
	if l == nil {
		return Skip(awsFormat, ReasonTruncated, "fields", tail(line))
	}
	get := func(col awsColumn) []byte {
		if i := l.index[col]; i >= 0 && !isPlaceholder(fields[i]) {
			return fields[i]
		}
		return nil
	}

	if status := get(awsLogStatus); status != nil && string(status) != "OK" {
		return Skip(awsFormat, ReasonNotConnection, "log-status", status)
	}
	if err := parseAWSAddresses(get, ev); err != nil {
		return err
	}
	if err := parseAWSNumbers(get, ev); err != nil {
		return err
	}
	if id := get(awsInterfaceID); id != nil {
		ctx.Host = id
	}

	switch action := get(awsAction); string(action) {
	case "ACCEPT":
		ev.Action = ActionAccept
	case "REJECT":
		ev.Action = ActionReject
	case "":
	default:
		return Skip(awsFormat, ReasonBadRecord, "action", action)
	}

	if flags := get(awsTCPFlags); flags != nil && ev.Proto == ProtoTCP {
		n, ok := parseUint8(flags)
		if !ok {
			return Skip(awsFormat, ReasonBadNumber, "tcp-flags", flags)
		}
		awsTCPState(TCPFlags(n), ev)
	}
	return nil
}

// parseAWSAddresses fills the addresses, preferring the packet-level ones.
func parseAWSAddresses(get func(awsColumn) []byte, ev *ConnEvent) *SkipError {
	targets := [...]struct {
		col, pkt awsColumn
		src      bool
	}{
		{awsSrcAddr, awsPktSrcAddr, true},
		{awsDstAddr, awsPktDstAddr, false},
	}
	for _, t := range targets {
		name := awsColumnNames[t.col]
		value := get(t.col)
		if pkt := get(t.pkt); pkt != nil {
			name, value = awsColumnNames[t.pkt], pkt
		}
		if value == nil {
			return Skip(awsFormat, ReasonMissingField, name, nil)
		}
		a, ok := parseAddr(value)
		if !ok {
			return Skip(awsFormat, ReasonBadAddress, name, value)
		}
		if t.src {
			ev.Src = a
		} else {
			ev.Dst = a
		}
	}
	return nil
}

// parseAWSNumbers fills ports, protocol, counters and times.
func parseAWSNumbers(get func(awsColumn) []byte, ev *ConnEvent) *SkipError {
	var ok bool
	if v := get(awsSrcPort); v != nil {
		if ev.SrcPort, ok = parsePort(v); !ok {
			return Skip(awsFormat, ReasonBadNumber, "srcport", v)
		}
	}
	if v := get(awsDstPort); v != nil {
		if ev.DstPort, ok = parsePort(v); !ok {
			return Skip(awsFormat, ReasonBadNumber, "dstport", v)
		}
	}
	v := get(awsProtocol)
	if v == nil {
		return Skip(awsFormat, ReasonMissingField, "protocol", nil)
	}
	proto, ok := parseUint8(v)
	if !ok {
		return Skip(awsFormat, ReasonBadNumber, "protocol", v)
	}
	ev.Proto = Proto(proto)
	if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
		ev.SrcPort, ev.DstPort = 0, 0 // AWS logs 0 or the ICMP identifier; neither is a port
	}

	for _, c := range [...]struct {
		col awsColumn
		dst *uint64
	}{{awsPackets, &ev.OrigPackets}, {awsBytes, &ev.OrigBytes}} {
		v := get(c.col)
		if v == nil {
			continue
		}
		n, ok := parseUint(v)
		if !ok {
			return Skip(awsFormat, ReasonBadNumber, awsColumnNames[c.col], v)
		}
		*c.dst = n
		ev.Counters = CountersDelta
	}

	var start, end time.Time
	if v := get(awsStart); v != nil {
		if start, ok = parseEpoch(v); !ok {
			return Skip(awsFormat, ReasonBadTime, "start", v)
		}
	}
	if v := get(awsEnd); v != nil {
		if end, ok = parseEpoch(v); !ok {
			return Skip(awsFormat, ReasonBadTime, "end", v)
		}
	}
	ev.Time = start
	if start.IsZero() {
		ev.Time = end
	}
	if !start.IsZero() && end.After(start) {
		ev.Duration = end.Sub(start)
	}
	return nil
}

// awsTCPState sets Kind and State from the OR-ed TCP flags of one record.
func awsTCPState(flags TCPFlags, ev *ConnEvent) {
	synAck := flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK
	switch {
	case synAck:
		ev.Kind = KindInterim
	case flags&FlagSYN != 0:
		ev.Kind = KindStart
	case flags&(FlagFIN|FlagRST) != 0:
		ev.Kind = KindEnd
	default:
		ev.Kind = KindInterim
	}

	switch {
	case flags&FlagRST != 0:
		ev.State = StateReset
	case flags&FlagFIN != 0:
		ev.State = StateClosed
	case synAck:
		ev.State = StateEstablished
	case flags&FlagSYN != 0 && ev.Action == ActionReject:
		ev.State = StateSYNOnly
	}
}
