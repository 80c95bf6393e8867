package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// GCP parses Google Cloud Logging entries of two kinds, each a whole LogEntry as JSON on one line,
// as a Logging sink to Cloud Storage or Pub/Sub writes them.
//
// Cloud NAT logs (logName …/compute.googleapis.com%2Fnat_flows) record a translation when it is
// made or dropped:
//
//	{"jsonPayload":{"connection":{"src_ip":"10.20.4.37","src_port":52144,"dest_ip":"198.51.100.23",
//	 "dest_port":443,"protocol":6,"nat_ip":"203.0.113.10","nat_port":41877},
//	 "allocation_status":"OK","gateway_identifiers":{"gateway_name":"nat-egress-1",…},…},
//	 "timestamp":"2025-03-13T18:09:19.402211903Z",…}
//
// They give KindStart with NATSrc and NATSrcPort, no counters (CountersNone), ActionAccept for
// allocation_status OK and ActionDrop for DROPPED, the entry's timestamp as Time and the NAT
// gateway's name as the gateway.
//
// VPC Flow Logs (…%2Fvpc_flows) sample a VM's connections per aggregation interval:
// bytes_sent and packets_sent (decimal strings) count the source-to-destination traffic of the
// interval, so they are CountersDelta in OrigBytes and OrigPackets. Time is start_time and
// Duration runs to end_time. Kind is KindUnknown, so each record counts as a connection, because
// no field tells a connection's first interval apart from a later one. reporter SRC or DEST
// names the VM that logged it; its vm_name is the gateway. A connection between two VMs that both
// log flows is reported twice, once by each end. The counts are of sampled packets, so they
// understate the traffic by the sampling rate configured for the subnet.
type GCP struct{}

func init() { Register(GCP{}) }

const gcpFormat = "gcp"

// Name returns "gcp".
func (GCP) Name() string { return gcpFormat }

// Detect reports whether line is a Cloud Logging entry with a jsonPayload.connection object.
func (GCP) Detect(line []byte) bool {
	i := skipSpaces(line, 0)
	return i < len(line) && line[i] == '{' &&
		bytes.Contains(line, []byte(`"jsonPayload"`)) && bytes.Contains(line, []byte(`"connection"`))
}

// gcpEntry collects the values of one entry.
type gcpEntry struct {
	connection      jsonValue
	allocation      jsonValue
	bytesSent       jsonValue
	packetsSent     jsonValue
	startTime       jsonValue
	endTime         jsonValue
	timestamp       jsonValue
	reporter        jsonValue
	natGateway      jsonValue
	srcVM, destVM   jsonValue
	resourceGateway jsonValue
}

// Parse fills ev from one Cloud NAT or VPC flow log entry.
func (GCP) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = gcpFormat

	var e gcpEntry
	it, _ := jsonObjectIter(line)
	for {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		switch string(key) {
		case "jsonPayload":
			if !gcpReadPayload(val, &e) {
				return Skip(gcpFormat, ReasonTruncated, "jsonPayload", tail(line))
			}
		case "timestamp":
			e.timestamp = val
		case "resource":
			e.resourceGateway = jsonMemberPath(val, "labels", "gateway_name")
		}
	}
	if it.err {
		return Skip(gcpFormat, ReasonTruncated, "json", tail(line))
	}
	if e.connection.kind != jsonObject {
		return Skip(gcpFormat, ReasonMissingField, "jsonPayload.connection", nil)
	}
	if err := gcpConnection(e.connection, ev); err != nil {
		return err
	}

	if jsonPresent(e.allocation) {
		return gcpNAT(&e, ctx, ev)
	}
	return gcpFlow(&e, ctx, ev)
}

// gcpReadPayload reads the members of jsonPayload that natlog uses. It returns false on a syntax
// error.
func gcpReadPayload(payload jsonValue, e *gcpEntry) bool {
	it := payload.iter()
	for {
		key, val, ok := it.nextMember()
		if !ok {
			return !it.err
		}
		switch string(key) {
		case "connection":
			e.connection = val
		case "allocation_status":
			e.allocation = val
		case "bytes_sent":
			e.bytesSent = val
		case "packets_sent":
			e.packetsSent = val
		case "start_time":
			e.startTime = val
		case "end_time":
			e.endTime = val
		case "reporter":
			e.reporter = val
		case "gateway_identifiers":
			e.natGateway = jsonMemberPath(val, "gateway_name")
		case "src_instance":
			e.srcVM = jsonMemberPath(val, "vm_name")
		case "dest_instance":
			e.destVM = jsonMemberPath(val, "vm_name")
		}
	}
}

// jsonMemberPath returns the value at the path of keys inside the object v, or the zero value.
func jsonMemberPath(v jsonValue, path ...string) jsonValue {
	for _, want := range path {
		it := v.iter()
		found := false
		for {
			key, val, ok := it.nextMember()
			if !ok {
				break
			}
			if string(key) == want {
				v, found = val, true
				break
			}
		}
		if !found {
			return jsonValue{}
		}
	}
	return v
}

// gcpConnection reads the 5-tuple and the NAT address of a connection object.
func gcpConnection(conn jsonValue, ev *ConnEvent) *SkipError {
	it := conn.iter()
	for {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		var err *SkipError
		switch string(key) {
		case "src_ip":
			err = gcpAddr(&ev.Src, "src_ip", val)
		case "dest_ip":
			err = gcpAddr(&ev.Dst, "dest_ip", val)
		case "nat_ip":
			err = gcpAddr(&ev.NATSrc, "nat_ip", val)
		case "src_port":
			err = gcpPort(&ev.SrcPort, "src_port", val)
		case "dest_port":
			err = gcpPort(&ev.DstPort, "dest_port", val)
		case "nat_port":
			err = gcpPort(&ev.NATSrcPort, "nat_port", val)
		case "protocol":
			err = gcpProto(&ev.Proto, val)
		}
		if err != nil {
			return err
		}
	}
	switch {
	case it.err:
		return Skip(gcpFormat, ReasonTruncated, "jsonPayload.connection", conn.raw)
	case !ev.Src.IsValid():
		return Skip(gcpFormat, ReasonMissingField, "src_ip", nil)
	case !ev.Dst.IsValid():
		return Skip(gcpFormat, ReasonMissingField, "dest_ip", nil)
	case ev.Proto == ProtoUnknown:
		return Skip(gcpFormat, ReasonMissingField, "protocol", nil)
	}
	if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
		ev.SrcPort, ev.DstPort = 0, 0
	}
	return nil
}

// gcpProto reads connection.protocol: an IANA number in exported entries, or a name such as
// "tcp", which the Cloud NAT logging page prints in its examples.
func gcpProto(dst *Proto, val jsonValue) *SkipError {
	if val.kind == jsonString {
		if p, ok := protoByName(val.raw); ok {
			*dst = p
			return nil
		}
	}
	n, present, ok := jsonUint(val)
	if present && (!ok || n > 255) {
		return Skip(gcpFormat, ReasonBadNumber, "protocol", val.raw)
	}
	*dst = Proto(n)
	return nil
}

func gcpAddr(dst *netip.Addr, field string, val jsonValue) *SkipError {
	a, present, ok := jsonAddr(val)
	if !present {
		return nil
	}
	if !ok {
		return Skip(gcpFormat, ReasonBadAddress, field, val.raw)
	}
	*dst = a
	return nil
}

func gcpPort(dst *uint16, field string, val jsonValue) *SkipError {
	n, present, ok := jsonUint(val)
	if !present {
		return nil
	}
	if !ok || n > 65535 {
		return Skip(gcpFormat, ReasonBadNumber, field, val.raw)
	}
	*dst = uint16(n)
	return nil
}

// gcpTime reads an RFC 3339 time string; present is false for an absent value.
func gcpTime(val jsonValue, field string, ctx *ParseContext) (time.Time, *SkipError) {
	if !jsonPresent(val) {
		return time.Time{}, nil
	}
	t, n, ok := parseISOTime(val.raw, ctx.location())
	if val.kind != jsonString || !ok || n != len(val.raw) {
		return time.Time{}, Skip(gcpFormat, ReasonBadTime, field, val.raw)
	}
	return t, nil
}

// gcpNAT completes a Cloud NAT entry.
func gcpNAT(e *gcpEntry, ctx *ParseContext, ev *ConnEvent) error {
	ev.Kind = KindStart
	switch string(e.allocation.raw) {
	case "OK":
		ev.Action = ActionAccept
	case "DROPPED":
		ev.Action = ActionDrop
	default:
		return Skip(gcpFormat, ReasonBadRecord, "allocation_status", e.allocation.raw)
	}
	t, err := gcpTime(e.timestamp, "timestamp", ctx)
	if err != nil {
		return err
	}
	ev.Time = t
	gcpHost(ctx, e.natGateway, e.resourceGateway)
	return nil
}

// gcpFlow completes a VPC flow log entry.
func gcpFlow(e *gcpEntry, ctx *ParseContext, ev *ConnEvent) error {
	ev.NATSrc, ev.NATSrcPort = netip.Addr{}, 0
	for _, c := range [...]struct {
		val   jsonValue
		field string
		dst   *uint64
	}{{e.bytesSent, "bytes_sent", &ev.OrigBytes}, {e.packetsSent, "packets_sent", &ev.OrigPackets}} {
		n, present, ok := jsonUint(c.val)
		if !present {
			continue
		}
		if !ok {
			return Skip(gcpFormat, ReasonBadNumber, c.field, c.val.raw)
		}
		*c.dst = n
		ev.Counters = CountersDelta
	}

	start, err := gcpTime(e.startTime, "start_time", ctx)
	if err != nil {
		return err
	}
	end, err := gcpTime(e.endTime, "end_time", ctx)
	if err != nil {
		return err
	}
	ev.Time = start
	if start.IsZero() {
		ev.Time = end
	}
	if ev.Time.IsZero() {
		if ev.Time, err = gcpTime(e.timestamp, "timestamp", ctx); err != nil {
			return err
		}
	}
	if !start.IsZero() && end.After(start) {
		ev.Duration = end.Sub(start)
	}

	switch string(e.reporter.raw) {
	case "SRC":
		gcpHost(ctx, e.srcVM)
	case "DEST":
		gcpHost(ctx, e.destVM)
	}
	return nil
}

// gcpHost sets ctx.Host to the first of names that is a plain string.
func gcpHost(ctx *ParseContext, names ...jsonValue) {
	for _, v := range names {
		if v.kind == jsonString && !v.escaped && !isPlaceholder(v.raw) {
			ctx.Host = v.raw
			return
		}
	}
}
