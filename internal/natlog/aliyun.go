package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// Aliyun parses two Alibaba Cloud logs that Simple Log Service (SLS) stores, one JSON object per
// line with every value a string.
//
// VPC flow logs record one direction of traffic through one elastic network interface per
// capture window:
//
//	{"__topic__":"flow_log","version":"1","vswitch-id":"vsw-…","eni-id":"eni-…",
//	 "srcaddr":"10.20.4.37","srcport":"52144","dstaddr":"198.51.100.23","dstport":"443",
//	 "protocol":"6","direction":"out","packets":"1210","bytes":"1790466","start":"1741889359",
//	 "end":"1741889419","log-status":"OK","action":"ACCEPT","tcp-flags":"2"}
//
// Their counters are CountersDelta in OrigBytes and OrigPackets, Time is start and Duration runs
// to end. ACCEPT gives ActionAccept and REJECT ActionReject; NODATA and SKIPDATA rows are skipped
// as ReasonNotConnection. tcp-flags sets Kind and State as for AWS flow logs. The gateway is the
// eni-id. As on AWS, a connection through a NAT gateway appears as four records, two on each side
// of the gateway, so a meter that sums all of them counts each byte twice.
//
// NAT gateway session logs record one SNAT session per capture window of about ten minutes:
//
//	{"instance":"ngw-…","protocol":"6","pri_ip":"10.20.4.37","pri_port":"52144",
//	 "pub_ip":"198.51.100.23","pub_port":"443","nat_ip":"203.0.113.10","nat_port":"41877",
//	 "bytes_from_vpc":"135903311","pkts_from_vpc":"91944","bytes_from_pub":"3120047",
//	 "pkts_from_pub":"47380","start_time":"1741889359","end_time":"1741889959"}
//
// pri_ip:pri_port is the source, pub_ip:pub_port the destination and nat_ip:nat_port the
// translated source (NATSrc). Traffic from the VPC is OrigBytes and from the public side
// ReplyBytes, as CountersDelta, because a long session gets one record per window. The gateway is
// the NAT gateway's instance id. The field names "intstance" and "portocol", which Alibaba's
// field reference prints, are read too. For ICMP, pri_port holds the ICMP identifier, so ports
// are cleared.
//
// Records of both kinds have KindUnknown unless tcp-flags gives more, so each record counts as a
// connection: no field tells a session's first window from a later one.
type Aliyun struct{}

func init() { Register(Aliyun{}) }

const aliyunFormat = "aliyun"

// Name returns "aliyun".
func (Aliyun) Name() string { return aliyunFormat }

// Detect reports whether line is an SLS JSON object of a VPC flow log or a NAT session log.
func (Aliyun) Detect(line []byte) bool {
	i := skipSpaces(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	if bytes.Contains(line, []byte(`"pri_ip"`)) {
		return bytes.Contains(line, []byte(`"nat_ip"`))
	}
	return bytes.Contains(line, []byte(`"srcaddr"`)) &&
		(bytes.Contains(line, []byte(`"eni-id"`)) || bytes.Contains(line, []byte(`"vswitch-id"`)))
}

// aliyunRecord collects the values of one record.
type aliyunRecord struct {
	src, dst, nat             jsonValue
	srcPort, dstPort, natPort jsonValue
	protocol                  jsonValue
	packets, bytes            jsonValue
	replyPackets, replyBytes  jsonValue
	start, end                jsonValue
	action, status, flags     jsonValue
	gateway                   jsonValue
	session                   bool
}

// Parse fills ev from one flow log or session log record.
func (Aliyun) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = aliyunFormat

	var r aliyunRecord
	it, _ := jsonObjectIter(line)
	for {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		switch string(key) {
		case "srcaddr":
			r.src = val
		case "pri_ip":
			r.src, r.session = val, true
		case "dstaddr", "pub_ip":
			r.dst = val
		case "nat_ip":
			r.nat = val
		case "srcport", "pri_port":
			r.srcPort = val
		case "dstport", "pub_port":
			r.dstPort = val
		case "nat_port":
			r.natPort = val
		case "protocol", "portocol":
			r.protocol = val
		case "packets", "pkts_from_vpc":
			r.packets = val
		case "bytes", "bytes_from_vpc":
			r.bytes = val
		case "pkts_from_pub":
			r.replyPackets = val
		case "bytes_from_pub":
			r.replyBytes = val
		case "start", "start_time":
			r.start = val
		case "end", "end_time":
			r.end = val
		case "action":
			r.action = val
		case "log-status":
			r.status = val
		case "tcp-flags":
			r.flags = val
		case "eni-id", "instance", "intstance":
			r.gateway = val
		}
	}
	if it.err {
		return Skip(aliyunFormat, ReasonTruncated, "json", tail(line))
	}
	if jsonPresent(r.status) && string(r.status.raw) != "OK" {
		return Skip(aliyunFormat, ReasonNotConnection, "log-status", r.status.raw)
	}
	return finishAliyun(&r, ctx, ev)
}

// finishAliyun converts the collected values.
func finishAliyun(r *aliyunRecord, ctx *ParseContext, ev *ConnEvent) error {
	srcName, dstName := "srcaddr", "dstaddr"
	if r.session {
		srcName, dstName = "pri_ip", "pub_ip"
	}
	addrs := [...]struct {
		val      jsonValue
		name     string
		dst      *netip.Addr
		required bool
	}{
		{r.src, srcName, &ev.Src, true}, {r.dst, dstName, &ev.Dst, true}, {r.nat, "nat_ip", &ev.NATSrc, false},
	}
	for _, a := range addrs {
		addr, present, ok := jsonAddr(a.val)
		switch {
		case !present && a.required:
			return Skip(aliyunFormat, ReasonMissingField, a.name, nil)
		case present && !ok:
			return Skip(aliyunFormat, ReasonBadAddress, a.name, a.val.raw)
		}
		*a.dst = addr
	}

	protocol, present, ok := jsonUint(r.protocol)
	switch {
	case !present:
		return Skip(aliyunFormat, ReasonMissingField, "protocol", nil)
	case !ok || protocol > 255:
		return Skip(aliyunFormat, ReasonBadNumber, "protocol", r.protocol.raw)
	}
	ev.Proto = Proto(protocol)

	ports := [...]struct {
		val  jsonValue
		name string
		dst  *uint16
	}{
		{r.srcPort, "srcport", &ev.SrcPort}, {r.dstPort, "dstport", &ev.DstPort}, {r.natPort, "nat_port", &ev.NATSrcPort},
	}
	for _, p := range ports {
		n, present, ok := jsonUint(p.val)
		if present && (!ok || n > 65535) {
			return Skip(aliyunFormat, ReasonBadNumber, p.name, p.val.raw)
		}
		*p.dst = uint16(n)
	}
	if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
		ev.SrcPort, ev.DstPort, ev.NATSrcPort = 0, 0, 0
	}

	counters := [...]struct {
		val jsonValue
		dst *uint64
	}{
		{r.packets, &ev.OrigPackets}, {r.bytes, &ev.OrigBytes},
		{r.replyPackets, &ev.ReplyPackets}, {r.replyBytes, &ev.ReplyBytes},
	}
	for _, c := range counters {
		n, present, ok := jsonUint(c.val)
		if !present {
			continue
		}
		if !ok {
			return Skip(aliyunFormat, ReasonBadNumber, "bytes", c.val.raw)
		}
		*c.dst = n
		ev.Counters = CountersDelta
	}

	if err := aliyunTimes(r, ev); err != nil {
		return err
	}

	switch {
	case !jsonPresent(r.action):
		if r.session {
			ev.Action = ActionAccept // a session log records translated, so forwarded, traffic
		}
	case string(r.action.raw) == "ACCEPT":
		ev.Action = ActionAccept
	case string(r.action.raw) == "REJECT":
		ev.Action = ActionReject
	default:
		return Skip(aliyunFormat, ReasonBadRecord, "action", r.action.raw)
	}

	if n, present, ok := jsonUint(r.flags); present && ev.Proto == ProtoTCP {
		if !ok || n > 255 {
			return Skip(aliyunFormat, ReasonBadNumber, "tcp-flags", r.flags.raw)
		}
		awsTCPState(TCPFlags(n), ev)
	}
	if r.gateway.kind == jsonString && !r.gateway.escaped && jsonPresent(r.gateway) {
		ctx.Host = r.gateway.raw
	}
	return nil
}

// aliyunTimes reads the epoch start and end of the capture window.
func aliyunTimes(r *aliyunRecord, ev *ConnEvent) *SkipError {
	start, err := aliyunEpoch(r.start, "start")
	if err != nil {
		return err
	}
	end, err := aliyunEpoch(r.end, "end")
	if err != nil {
		return err
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

// aliyunEpoch reads an epoch time string; an absent value gives the zero time.
func aliyunEpoch(val jsonValue, name string) (time.Time, *SkipError) {
	if !jsonPresent(val) {
		return time.Time{}, nil
	}
	t, ok := parseEpoch(trimSpaceBytes(val.raw))
	if !ok {
		return time.Time{}, Skip(aliyunFormat, ReasonBadTime, name, val.raw)
	}
	return t, nil
}
