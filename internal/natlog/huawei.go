package natlog

import (
	"bytes"
	"time"
)

// Huawei parses the session logs of Huawei USG and HiSecEngine firewalls (SECLOG module):
//
//	<190>2025-03-13 18:41:07 USG6650E-EDGE %%01SECLOG/6/SESSION_TEARDOWN(l):IPVer=4,Protocol=tcp,
//	SourceIP=10.20.4.37,DestinationIP=198.51.100.23,SourcePort=52144,DestinationPort=443,
//	SourceNatIP=203.0.113.10,SourceNatPort=41877,BeginTime=1741889359,EndTime=1741891267,
//	SendPkts=291877,SendBytes=431877602,RcvPkts=150233,RcvBytes=9913021,…,CloseReason=aged-out.
//
// SESSION_BUILT gives KindStart without counters and SESSION_TEARDOWN KindEnd with CountersTotal:
// Send* counts the initiator's direction (Orig), Rcv* the reply. SourceNatIP/Port and, where
// present, DestinationNatIP/Port are the translated tuple. BeginTime and EndTime are epoch
// seconds: ev.Time is EndTime on a teardown and BeginTime on a build, and the header's time is
// used only when they are missing, because the header may be local time, UTC, absent, or doubled
// by a relay. The gateway is the host name just before "%%". CloseReason sets State.
type Huawei struct{}

func init() { Register(Huawei{}) }

const huaweiFormat = "huawei"

// Name returns "huawei".
func (Huawei) Name() string { return huaweiFormat }

// Detect reports whether line holds a "%%nnSECLOG/" tag.
func (Huawei) Detect(line []byte) bool {
	return huaweiMarker(line) >= 0
}

// huaweiMarker returns the index of the "%%" that starts the SECLOG tag, or -1.
func huaweiMarker(line []byte) int {
	i := bytes.Index(line, []byte("SECLOG/"))
	if i < 4 {
		return -1
	}
	j := i - 1
	for j > 0 && line[j] >= '0' && line[j] <= '9' {
		j--
	}
	if j < 1 || line[j] != '%' || line[j-1] != '%' {
		return -1
	}
	return j - 1
}

// Parse fills ev from one SECLOG line.
func (Huawei) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	m := huaweiMarker(line)
	if m < 0 {
		return Skip(huaweiFormat, ReasonMissingField, "tag", nil)
	}
	headerTime, host := parseDeviceHeader(line[:m], ctx)
	if ctx != nil {
		ctx.Host = host
	}
	ev.Format = huaweiFormat

	tag := indexFrom(line, m, "SESSION_")
	colon := indexFrom(line, m, ":")
	if tag < 0 || colon < 0 || tag > colon {
		return Skip(huaweiFormat, ReasonNotConnection, "event", line[m:min(len(line), m+32)])
	}
	event := line[tag+len("SESSION_") : colon]
	switch {
	case bytes.HasPrefix(event, []byte("BUILT")), bytes.HasPrefix(event, []byte("BUILD")):
		ev.Kind = KindStart
	case bytes.HasPrefix(event, []byte("TEARDOWN")):
		ev.Kind = KindEnd
	default:
		return Skip(huaweiFormat, ReasonNotConnection, "event", event)
	}
	ev.Action = ActionAccept

	var f huaweiFields
	complete := false // the message ends with its full stop, so it was not cut short
	for i := colon + 1; ; {
		key, value, next, ok := nextPair(line, i, ',')
		if !ok {
			break
		}
		i = next
		if next >= len(line) && len(value) > 0 && value[len(value)-1] == '.' {
			value = value[:len(value)-1] // the message ends with a full stop
			complete = true
		}
		f.set(key, value)
	}
	if err := f.fill(ev); err != nil {
		if skip, ok := err.(*SkipError); ok && !complete && skip.Reason != ReasonNotConnection {
			skip.Reason = ReasonTruncated
		}
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = headerTime
	}
	return nil
}

// huaweiFields holds the values of one SECLOG message.
type huaweiFields struct {
	proto, src, dst, sport, dport, nsrc, nsport, ndst, ndport []byte
	begin, end, sendPkts, sendBytes, rcvPkts, rcvBytes        []byte
	reason, icmpType, icmpCode                                []byte
}

func (f *huaweiFields) set(key, value []byte) {
	switch string(key) {
	case "Protocol":
		f.proto = value
	case "SourceIP":
		f.src = value
	case "DestinationIP":
		f.dst = value
	case "SourcePort":
		f.sport = value
	case "DestinationPort":
		f.dport = value
	case "SourceNatIP":
		f.nsrc = value
	case "SourceNatPort":
		f.nsport = value
	case "DestinationNatIP":
		f.ndst = value
	case "DestinationNatPort":
		f.ndport = value
	case "BeginTime":
		f.begin = value
	case "EndTime":
		f.end = value
	case "SendPkts":
		f.sendPkts = value
	case "SendBytes":
		f.sendBytes = value
	case "RcvPkts":
		f.rcvPkts = value
	case "RcvBytes":
		f.rcvBytes = value
	case "CloseReason":
		f.reason = value
	case "IcmpType", "ICMPType":
		f.icmpType = value
	case "IcmpCode", "ICMPCode":
		f.icmpCode = value
	}
}

// fill converts the collected values into ev.
func (f *huaweiFields) fill(ev *ConnEvent) error {
	var ok bool
	if f.src == nil || isAbsent(f.src) {
		return Skip(huaweiFormat, ReasonMissingField, "SourceIP", nil)
	}
	if f.dst == nil || isAbsent(f.dst) {
		return Skip(huaweiFormat, ReasonMissingField, "DestinationIP", nil)
	}
	if ev.Src, ok = parseAddr(f.src); !ok {
		return Skip(huaweiFormat, ReasonBadAddress, "SourceIP", f.src)
	}
	if ev.Dst, ok = parseAddr(f.dst); !ok {
		return Skip(huaweiFormat, ReasonBadAddress, "DestinationIP", f.dst)
	}
	ports := [4]struct {
		name  string
		value []byte
		dst   *uint16
	}{
		{"SourcePort", f.sport, &ev.SrcPort},
		{"DestinationPort", f.dport, &ev.DstPort},
		{"SourceNatPort", f.nsport, nil},
		{"DestinationNatPort", f.ndport, nil},
	}
	var natPorts [2]uint16
	for k, p := range ports {
		n, ok := optionalPort(p.value)
		if !ok {
			return Skip(huaweiFormat, ReasonBadNumber, p.name, p.value)
		}
		if p.dst != nil {
			*p.dst = n
		} else {
			natPorts[k-2] = n
		}
	}
	if p, byName := protoByName(f.proto); byName {
		ev.Proto = p
	} else if n, ok := parseUint8(f.proto); ok {
		ev.Proto = Proto(n)
	} else if !isAbsent(f.proto) {
		return Skip(huaweiFormat, ReasonBadNumber, "Protocol", f.proto)
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)

	natSrc, ok1 := optionalAddr(f.nsrc)
	natDst, ok2 := optionalAddr(f.ndst)
	if !ok1 || !ok2 {
		return Skip(huaweiFormat, ReasonBadAddress, "SourceNatIP", f.nsrc)
	}
	setSourceNAT(ev, natSrc, natPorts[0])
	setDestinationNAT(ev, natDst, natPorts[1])
	clearICMPPorts(ev)
	if t, ok := parseUint8(f.icmpType); ok && (ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6) {
		code, _ := parseUint8(f.icmpCode)
		ev.ICMPType, ev.ICMPCode, ev.HasICMP = t, code, true
	}

	begin, hasBegin := huaweiEpoch(f.begin)
	end, hasEnd := huaweiEpoch(f.end)
	switch {
	case ev.Kind == KindEnd && hasEnd:
		ev.Time = end
	case hasBegin:
		ev.Time = begin
	}
	if hasBegin && hasEnd && !end.Before(begin) {
		ev.Duration = end.Sub(begin)
	}
	if ev.Kind != KindEnd {
		return nil
	}

	counters := [4]struct {
		name  string
		value []byte
		dst   *uint64
	}{
		{"SendPkts", f.sendPkts, &ev.OrigPackets},
		{"SendBytes", f.sendBytes, &ev.OrigBytes},
		{"RcvPkts", f.rcvPkts, &ev.ReplyPackets},
		{"RcvBytes", f.rcvBytes, &ev.ReplyBytes},
	}
	for _, c := range counters {
		n, present, ok := optionalUint(c.value)
		if !ok {
			return Skip(huaweiFormat, ReasonBadNumber, c.name, c.value)
		}
		if present {
			*c.dst = n
			ev.Counters = CountersTotal
		}
	}
	ev.State = reasonState(ev.Proto, f.reason)
	finishState(ev)
	return nil
}

// huaweiEpoch reads an epoch time field; 0 and placeholders read as absent.
func huaweiEpoch(b []byte) (time.Time, bool) {
	n, ok := parseUint(b)
	if !ok || n == 0 {
		return time.Time{}, false
	}
	return epochTime(n), true
}
