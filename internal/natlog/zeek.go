package natlog

import (
	"bytes"
	"sync/atomic"
)

// Zeek parses Zeek's conn.log, one record per finished connection, in the TSV form with its
// header lines,
//
//	#separator \x09
//	#path	conn
//	#fields	ts	uid	id.orig_h	id.orig_p	id.resp_h	id.resp_p	proto	service	duration	…
//	1741889359.402211	CwvS9b3Mvk0Vd4xA5	10.20.4.37	52144	198.51.100.23	443	tcp	ssl	1908.51	…
//
// and in the JSON form of LogAscii::use_json (ts as epoch seconds or ISO 8601):
//
//	{"ts":1741889359.402211,"uid":"CwvS9b3Mvk0Vd4xA5","id.orig_h":"10.20.4.37","id.orig_p":52144,…}
//
// Each Normalizer remembers the latest #separator and #fields lines and reads the TSV records
// that follow in that order. Without them it assumes a tab and the conn.log fields listed in
// zeekDefaultLayout. Records under a #path other than conn are not claimed. "-" (unset) and "(empty)" read as
// absent.
//
// A record is KindEnd with totals (CountersTotal): orig_ip_bytes and resp_ip_bytes where logged,
// which count IP headers as gateways do, else orig_bytes and resp_bytes (payload only). Time is
// ts, the connection's first packet, and Duration is duration. For ICMP, Zeek logs the type in
// id.orig_p and the code in id.resp_p, and "icmp" covers ICMPv6 too, which the address family
// tells apart. conn_state gives State:
//
//	S0                StateSYNOnly for TCP, StateUnreplied otherwise
//	SH, RSTOS0        StateSYNOnly (a SYN, then FIN or RST, and no SYN-ACK)
//	REJ               StateReset and ActionReject (the responder answered the SYN with RST)
//	RSTO, RSTR, RSTRH StateReset
//	S1                StateEstablished
//	SF                StateClosed for TCP, StateEstablished for other protocols
//	S2, S3            StateClosed
//	SHR, OTH          StateUnknown (no SYN seen)
//
// Zeek watches traffic passively, so Action is ActionUnknown except for REJ.
type Zeek struct {
	layout atomic.Pointer[zeekLayout] // from the latest header lines; nil means the default
}

func init() { Register(&Zeek{}) }

const zeekFormat = "zeek"

// NewInstance returns a Zeek parser with its own header state, for one Normalizer.
func (*Zeek) NewInstance() Parser { return &Zeek{} }

// Name returns "zeek".
func (*Zeek) Name() string { return zeekFormat }

// zeekColumn is a conn.log field natlog reads.
type zeekColumn uint8

const (
	zeekUnknown zeekColumn = iota
	zeekTS
	zeekUID
	zeekOrigH
	zeekOrigP
	zeekRespH
	zeekRespP
	zeekProto
	zeekDuration
	zeekOrigBytes
	zeekRespBytes
	zeekConnState
	zeekOrigPkts
	zeekOrigIPBytes
	zeekRespPkts
	zeekRespIPBytes
	zeekColumnCount
)

var zeekColumnNames = [zeekColumnCount]string{
	"", "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration",
	"orig_bytes", "resp_bytes", "conn_state", "orig_pkts", "orig_ip_bytes", "resp_pkts",
	"resp_ip_bytes",
}

// zeekMaxColumns bounds the fields of a TSV record. It is a generous guess: the default conn.log
// has 21 fields.
const zeekMaxColumns = 64

// zeekLayout is the separator and field order from the header lines.
type zeekLayout struct {
	sep      byte
	count    int
	index    [zeekColumnCount]int8 // position of each column, -1 when absent
	inactive bool                  // #path names a log other than conn
}

var zeekDefaultLayout = func() *zeekLayout {
	l := &zeekLayout{sep: '\t'}
	l.setFields([]byte("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents"))
	return l
}()

// setFields reads the names of a #fields line (without the directive).
func (l *zeekLayout) setFields(names []byte) bool {
	for i := range l.index {
		l.index[i] = -1
	}
	l.count = 0
	for start := 0; start <= len(names); {
		end := bytes.IndexByte(names[start:], l.sep)
		if end < 0 {
			end = len(names) - start
		}
		name := names[start : start+end]
		if l.count == zeekMaxColumns {
			return false
		}
		for col := zeekTS; col < zeekColumnCount; col++ {
			if zeekColumnNames[col] == string(name) && l.index[col] < 0 {
				l.index[col] = int8(l.count)
			}
		}
		l.count++
		start += end + 1
	}
	return l.index[zeekOrigH] >= 0 && l.index[zeekRespH] >= 0
}

func (p *Zeek) current() *zeekLayout {
	if l := p.layout.Load(); l != nil {
		return l
	}
	return zeekDefaultLayout
}

// zeekDirective returns the header directive that line starts with ("#fields" …), or nil.
func zeekDirective(line []byte) []byte {
	if len(line) < 5 || line[0] != '#' {
		return nil
	}
	end := 1
	for end < len(line) && (line[end] >= 'a' && line[end] <= 'z' || line[end] == '_') {
		end++
	}
	switch string(line[:end]) {
	case "#separator", "#set_separator", "#empty_field", "#unset_field", "#path", "#open",
		"#fields", "#types", "#close":
		return line[:end]
	}
	return nil
}

// Detect reports whether line is a conn.log header line, a JSON conn record, or a TSV record in
// the current field order.
func (p *Zeek) Detect(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	switch line[0] {
	case '#':
		return zeekDirective(line) != nil
	case '{':
		return bytes.Contains(line, []byte(`"id.orig_h"`)) && bytes.Contains(line, []byte(`"id.resp_h"`))
	}
	l := p.current()
	if l.inactive || line[0] < '0' || line[0] > '9' {
		return false
	}
	if bytes.Count(line, []byte{l.sep}) != l.count-1 {
		return false
	}

	// Check the first two fields only: conn.log starts with ts and uid in every Zeek version.
	first := bytes.IndexByte(line, l.sep)
	if l.index[zeekTS] == 0 {
		if _, ok := parseEpoch(line[:first]); !ok {
			return false
		}
	}
	if l.index[zeekUID] == 1 && (first+1 >= len(line) || line[first+1] != 'C') {
		return false
	}
	return true
}

// zeekSplit splits a TSV record into its fields.
func zeekSplit(line []byte, sep byte, fields *[zeekMaxColumns][]byte) (int, bool) {
	n := 0
	for start := 0; start <= len(line); {
		if n == zeekMaxColumns {
			return n, false
		}
		end := bytes.IndexByte(line[start:], sep)
		if end < 0 {
			fields[n] = line[start:]
			return n + 1, true
		}
		fields[n] = line[start : start+end]
		n++
		start += end + 1
	}
	return n, true
}

// zeekRecord holds one record's values, as text.
type zeekRecord [zeekColumnCount][]byte

// Parse fills ev from one conn.log record, or stores what a header line announces and returns a
// *SkipError with ReasonNotConnection.
func (p *Zeek) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	ev.Format = zeekFormat
	if len(line) > 0 && line[0] == '#' {
		return p.header(line)
	}

	var r zeekRecord
	var err *SkipError
	if len(line) > 0 && line[0] == '{' {
		err = zeekJSON(line, &r)
	} else {
		err = p.zeekTSV(line, &r)
	}
	if err != nil {
		return err
	}
	return finishZeek(&r, ctx, ev)
}

// header stores the separator, field order or path from one header line.
func (p *Zeek) header(line []byte) error {
	directive := zeekDirective(line)
	if directive == nil {
		return Skip(zeekFormat, ReasonNotConnection, "header", tail(line))
	}
	old := p.current()
	next := *old
	rest := line[len(directive):]

	switch string(directive) {
	case "#separator":
		// "#separator \x09": the separator is written as a hex escape after one space.
		value := bytes.TrimSpace(rest)
		if len(value) != 4 || value[0] != '\\' || value[1] != 'x' || hexDigit(value[2]) < 0 || hexDigit(value[3]) < 0 {
			return Skip(zeekFormat, ReasonBadRecord, "#separator", value)
		}
		next.sep = byte(hexDigit(value[2])<<4 | hexDigit(value[3]))
		next.count = 0 // the field order is announced again after a new separator
		next.inactive = false
		for i := range next.index {
			next.index[i] = -1
		}
	case "#path":
		if len(rest) > 0 {
			rest = rest[1:]
		}
		next.inactive = string(rest) != "conn"
	case "#fields":
		if len(rest) == 0 || !next.setFields(rest[1:]) {
			return Skip(zeekFormat, ReasonMissingField, "#fields", tail(line))
		}
	default:
		return Skip(zeekFormat, ReasonNotConnection, "header", nil)
	}
	p.layout.Store(&next)
	return Skip(zeekFormat, ReasonNotConnection, "header", nil)
}

// zeekTSV reads a TSV record in the current field order.
func (p *Zeek) zeekTSV(line []byte, r *zeekRecord) *SkipError {
	l := p.current()
	var fields [zeekMaxColumns][]byte
	n, ok := zeekSplit(line, l.sep, &fields)
	if !ok || n != l.count {
		return Skip(zeekFormat, ReasonTruncated, "fields", tail(line))
	}
	for col := zeekTS; col < zeekColumnCount; col++ {
		if i := l.index[col]; i >= 0 {
			r[col] = fields[i]
		}
	}
	return nil
}

// zeekJSON reads a JSON record. Strings are taken as they stand: none of the fields natlog reads
// holds a character that JSON escapes, so an escaped value fails to parse and is reported.
func zeekJSON(line []byte, r *zeekRecord) *SkipError {
	it, _ := jsonObjectIter(line)
	for {
		key, val, ok := it.nextMember()
		if !ok {
			break
		}
		for col := zeekTS; col < zeekColumnCount; col++ {
			if zeekColumnNames[col] == string(key) {
				if val.kind != jsonNull {
					r[col] = val.raw
				}
				break
			}
		}
	}
	if it.err {
		return Skip(zeekFormat, ReasonTruncated, "json", tail(line))
	}
	return nil
}

// zeekAbsent reports whether a value is unset: "-", "(empty)", or another placeholder.
func zeekAbsent(b []byte) bool {
	return b == nil || isPlaceholder(b) || string(b) == "(empty)"
}

// finishZeek converts one record's values.
func finishZeek(r *zeekRecord, ctx *ParseContext, ev *ConnEvent) error {
	var ok bool
	for _, a := range [...]struct {
		col zeekColumn
		src bool
	}{{zeekOrigH, true}, {zeekRespH, false}} {
		v := r[a.col]
		if zeekAbsent(v) {
			return Skip(zeekFormat, ReasonMissingField, zeekColumnNames[a.col], nil)
		}
		addr, ok := parseAddr(v)
		if !ok {
			return Skip(zeekFormat, ReasonBadAddress, zeekColumnNames[a.col], v)
		}
		if a.src {
			ev.Src = addr
		} else {
			ev.Dst = addr
		}
	}

	if v := r[zeekTS]; !zeekAbsent(v) {
		t, ok := parseEpoch(v)
		if !ok {
			var n int
			t, n, ok = parseISOTime(v, ctx.location())
			ok = ok && n == len(v)
		}
		if !ok {
			return Skip(zeekFormat, ReasonBadTime, "ts", v)
		}
		ev.Time = t
	}

	proto := r[zeekProto]
	if zeekAbsent(proto) {
		return Skip(zeekFormat, ReasonMissingField, "proto", nil)
	}
	if ev.Proto, ok = protoByName(proto); !ok {
		return Skip(zeekFormat, ReasonBadRecord, "proto", proto)
	}
	if ev.Proto == ProtoICMP && ev.Src.Is6() && !ev.Src.Is4In6() {
		ev.Proto = ProtoICMPv6
	}

	var origP, respP uint16
	for _, port := range [...]struct {
		col zeekColumn
		dst *uint16
	}{{zeekOrigP, &origP}, {zeekRespP, &respP}} {
		v := r[port.col]
		if zeekAbsent(v) {
			continue
		}
		if *port.dst, ok = parsePort(v); !ok {
			return Skip(zeekFormat, ReasonBadNumber, zeekColumnNames[port.col], v)
		}
	}
	if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
		if origP > 255 || respP > 255 {
			return Skip(zeekFormat, ReasonBadNumber, "id.orig_p", r[zeekOrigP])
		}
		ev.ICMPType, ev.ICMPCode, ev.HasICMP = uint8(origP), uint8(respP), true
	} else {
		ev.SrcPort, ev.DstPort = origP, respP
	}

	if v := r[zeekDuration]; !zeekAbsent(v) {
		d, ok := parseSeconds(v)
		if !ok {
			return Skip(zeekFormat, ReasonBadNumber, "duration", v)
		}
		ev.Duration = d
	}

	if err := zeekCounters(r, ev); err != nil {
		return err
	}
	ev.Kind = KindEnd
	zeekState(r[zeekConnState], ev)
	return nil
}

// zeekCounters reads bytes and packets, preferring the IP-level byte counts.
func zeekCounters(r *zeekRecord, ev *ConnEvent) *SkipError {
	origBytes, respBytes := zeekOrigIPBytes, zeekRespIPBytes
	if zeekAbsent(r[origBytes]) && zeekAbsent(r[respBytes]) {
		origBytes, respBytes = zeekOrigBytes, zeekRespBytes
	}
	for _, c := range [...]struct {
		col zeekColumn
		dst *uint64
	}{
		{origBytes, &ev.OrigBytes}, {respBytes, &ev.ReplyBytes},
		{zeekOrigPkts, &ev.OrigPackets}, {zeekRespPkts, &ev.ReplyPackets},
	} {
		v := r[c.col]
		if zeekAbsent(v) {
			continue
		}
		n, ok := parseUint(v)
		if !ok {
			return Skip(zeekFormat, ReasonBadNumber, zeekColumnNames[c.col], v)
		}
		*c.dst = n
		ev.Counters = CountersTotal
	}
	return nil
}

// zeekState maps conn_state as the Zeek doc comment lists.
func zeekState(state []byte, ev *ConnEvent) {
	tcp := ev.Proto == ProtoTCP
	switch string(state) {
	case "S0":
		ev.State = StateUnreplied
		if tcp {
			ev.State = StateSYNOnly
		}
	case "SH", "RSTOS0":
		ev.State = StateSYNOnly
	case "REJ":
		ev.State, ev.Action = StateReset, ActionReject
	case "RSTO", "RSTR", "RSTRH":
		ev.State = StateReset
	case "S1":
		ev.State = StateEstablished
	case "SF":
		ev.State = StateEstablished
		if tcp {
			ev.State = StateClosed
		}
	case "S2", "S3":
		ev.State = StateClosed
	}
}
