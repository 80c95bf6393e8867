package natlog

import (
	"bytes"
)

// Azure parses Azure Network Watcher flow logs: NSG flow logs (versions 1 and 2) and virtual
// network flow logs (version 4). A blob holds one JSON document, {"records":[…]}, and each record
// nests its flow tuples in comma-separated strings:
//
//	NSG v2   "1542110377,10.0.0.4,13.67.143.118,44931,443,T,O,A,B,,,,"
//	         epoch s, src, dst, sport, dport, protocol T/U, direction I/O, decision A/D,
//	         state B/C/E, packets src→dst, bytes src→dst, packets dst→src, bytes dst→src
//	VNet v4  "1663146003599,10.0.0.6,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0"
//	         epoch ms, src, dst, sport, dport, IANA protocol number, direction I/O,
//	         state B/C/E/D, encryption, then the same four counters
//
// NSG v1 tuples end after the decision. A line may be the whole document, one record, or any
// object that holds flowTuples below "records", "properties", "flows", "flowRecords" or
// "flowGroups". Azure is a MultiParser: LineAll and RecordAll yield one event per tuple, and
// Parse returns the first tuple only.
//
// State B gives KindStart with no counters. C gives KindInterim and E KindEnd, with counters as
// CountersDelta: the traffic since the tuple before, which Azure writes at most every five
// minutes. Decision D, or state D in version 4, gives ActionDrop and KindStart; A gives
// ActionAccept. Time is the tuple's epoch. The gateway is the last segment of the record's
// resourceId (the network security group) or targetResourceID (the virtual network, subnet or
// interface).
type Azure struct{}

func init() { Register(Azure{}) }

const azureFormat = "azure"

// azureMaxDepth bounds how deeply the walk descends; flow tuples sit at depth 6 in a v4 blob.
const azureMaxDepth = 10

// Name returns "azure".
func (Azure) Name() string { return azureFormat }

// Detect reports whether line is a JSON object holding flowTuples.
func (Azure) Detect(line []byte) bool {
	i := skipSpaces(line, 0)
	return i < len(line) && line[i] == '{' && bytes.Contains(line, []byte(`"flowTuples"`))
}

// Parse fills ev from the first flow tuple in line.
func (Azure) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	w := azureWalk{ctx: ctx, ev: ev, firstOnly: true}
	return w.run(line)
}

// ParseAll calls emit for each flow tuple in line.
func (Azure) ParseAll(line []byte, ctx *ParseContext, ev *ConnEvent, emit func(*ConnEvent, error) *ConnEvent) error {
	w := azureWalk{ctx: ctx, ev: ev, emit: emit}
	return w.run(line)
}

// azureWalk walks one document and parses its tuples.
type azureWalk struct {
	ctx       *ParseContext
	ev        *ConnEvent
	emit      func(*ConnEvent, error) *ConnEvent
	firstOnly bool
	done      bool
	tuples    int
	firstErr  *SkipError // the first tuple's error, returned by Parse
	broken    bool       // the document ended early or holds a syntax error
}

func (w *azureWalk) run(line []byte) error {
	line = cutAtNUL(line)
	root, ok := jsonObjectIter(line)
	if !ok {
		return Skip(azureFormat, ReasonBadRecord, "json", tail(line))
	}
	w.object(root.data[root.pos-1:], 0)

	switch {
	case w.firstOnly && w.firstErr != nil:
		return w.firstErr
	case w.tuples == 0 && w.broken:
		return Skip(azureFormat, ReasonTruncated, "json", tail(line))
	case w.tuples == 0:
		return Skip(azureFormat, ReasonNotConnection, "flowTuples", nil)
	case w.broken:
		return Skip(azureFormat, ReasonTruncated, "json", tail(line))
	}
	return nil
}

// object walks one JSON object: it takes the gateway name from a resource id, then descends into
// the members that lead to flow tuples.
func (w *azureWalk) object(raw []byte, depth int) {
	if depth > azureMaxDepth {
		return
	}
	obj := jsonValue{raw: raw, kind: jsonObject}

	it := obj.iter()
	for {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		switch string(key) {
		case "resourceId", "targetResourceID":
			if val.kind == jsonString && !val.escaped {
				w.ctx.Host = azureLastSegment(val.raw)
			}
		}
	}

	it = obj.iter()
	for !w.done {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		switch string(key) {
		case "records", "flows", "flowGroups":
			elements := val.iter()
			for !w.done {
				el, ok := elements.nextElement()
				if !ok {
					break
				}
				if el.kind == jsonObject {
					w.object(el.raw, depth+1)
				}
			}
			w.broken = w.broken || elements.err
		case "properties", "flowRecords":
			if val.kind == jsonObject {
				w.object(val.raw, depth+1)
			}
		case "flowTuples":
			w.tupleArray(val)
		}
	}
	w.broken = w.broken || it.err
}

// tupleArray parses each string of a flowTuples array.
func (w *azureWalk) tupleArray(arr jsonValue) {
	elements := arr.iter()
	for !w.done {
		el, ok := elements.nextElement()
		if !ok {
			break
		}
		if el.kind != jsonString {
			continue
		}
		err := parseAzureTuple(el.raw, w.ev)
		w.tuples++
		if w.firstOnly {
			w.firstErr, w.done = err, true
			return
		}
		if err != nil {
			w.ev = w.emit(w.ev, err)
			continue
		}
		w.ev = w.emit(w.ev, nil)
	}
	w.broken = w.broken || elements.err
}

// azureLastSegment returns the part of a resource id after its last '/'.
func azureLastSegment(id []byte) []byte {
	if i := bytes.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) == 0 {
		return nil
	}
	return id
}

// azureTupleFields is the most fields a tuple has (13), plus room to notice more.
const azureTupleFields = 16

// parseAzureTuple fills ev from one flow tuple.
func parseAzureTuple(tuple []byte, ev *ConnEvent) *SkipError {
	var f [azureTupleFields][]byte
	n := 0
	for start := 0; ; {
		if n == len(f) {
			return Skip(azureFormat, ReasonBadRecord, "flowTuples", tuple)
		}
		end := bytes.IndexByte(tuple[start:], ',')
		if end < 0 {
			f[n] = tuple[start:]
			n++
			break
		}
		f[n] = tuple[start : start+end]
		n++
		start += end + 1
	}
	if n < 8 {
		return Skip(azureFormat, ReasonTruncated, "flowTuples", tuple)
	}

	ev.Format = azureFormat
	t, ok := parseEpoch(f[0])
	if !ok {
		return Skip(azureFormat, ReasonBadTime, "timestamp", f[0])
	}
	ev.Time = t
	if ev.Src, ok = parseAddr(f[1]); !ok {
		return Skip(azureFormat, ReasonBadAddress, "source ip", f[1])
	}
	if ev.Dst, ok = parseAddr(f[2]); !ok {
		return Skip(azureFormat, ReasonBadAddress, "destination ip", f[2])
	}
	if ev.SrcPort, ok = azurePort(f[3]); !ok {
		return Skip(azureFormat, ReasonBadNumber, "source port", f[3])
	}
	if ev.DstPort, ok = azurePort(f[4]); !ok {
		return Skip(azureFormat, ReasonBadNumber, "destination port", f[4])
	}

	// NSG tuples name the protocol with a letter and carry a decision; v4 tuples use the IANA
	// number and fold the decision into the state.
	var state, decision []byte
	switch string(f[5]) {
	case "T":
		ev.Proto = ProtoTCP
	case "U":
		ev.Proto = ProtoUDP
	default:
		p, ok := parseUint8(f[5])
		if !ok {
			return Skip(azureFormat, ReasonBadNumber, "protocol", f[5])
		}
		ev.Proto = Proto(p)
	}
	if f[5][0] >= 'A' {
		decision = f[7]
		if n > 8 {
			state = f[8]
		}
	} else {
		state = f[7]
	}

	switch string(decision) {
	case "", "A":
		ev.Action = ActionAccept
	case "D":
		ev.Action = ActionDrop
	default:
		return Skip(azureFormat, ReasonBadRecord, "decision", decision)
	}

	switch string(state) {
	case "":
		ev.Kind = KindUnknown
	case "B":
		ev.Kind = KindStart
	case "C":
		ev.Kind, ev.State = KindInterim, StateEstablished
	case "E":
		ev.Kind, ev.State = KindEnd, StateClosed
	case "D":
		ev.Kind, ev.Action = KindStart, ActionDrop
	default:
		return Skip(azureFormat, ReasonBadRecord, "flow state", state)
	}
	if ev.Action == ActionDrop {
		ev.State = StateUnreplied
		if ev.Proto == ProtoTCP {
			ev.State = StateSYNOnly
		}
	}

	if n >= 13 && ev.Kind != KindStart {
		return azureCounters(f[9:13], ev)
	}
	return nil
}

// azurePort reads a port; Azure writes an empty field for protocols without ports.
func azurePort(b []byte) (uint16, bool) {
	if len(b) == 0 {
		return 0, true
	}
	return parsePort(b)
}

// azureCounters reads packets and bytes in each direction; empty fields are absent.
func azureCounters(f [][]byte, ev *ConnEvent) *SkipError {
	names := [...]string{"packets src to dst", "bytes src to dst", "packets dst to src", "bytes dst to src"}
	dst := [...]*uint64{&ev.OrigPackets, &ev.OrigBytes, &ev.ReplyPackets, &ev.ReplyBytes}
	for i, value := range f {
		if len(value) == 0 {
			continue
		}
		n, ok := parseUint(value)
		if !ok {
			return Skip(azureFormat, ReasonBadNumber, names[i], value)
		}
		*dst[i] = n
		ev.Counters = CountersDelta
	}
	return nil
}
