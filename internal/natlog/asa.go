package natlog

import (
	"bytes"
	"net/netip"
	"time"
)

// ASA parses the connection messages of Cisco ASA and Firepower Threat Defense (FTD) syslog:
//
//	Mar 14 2025 02:09:19 fw-asa-01 : %ASA-6-302013: Built outbound TCP connection 488213907 for
//	outside:198.51.100.23/443 (198.51.100.23/443) to inside:10.20.4.37/52144 (203.0.113.10/41877)
//
// Messages read:
//
//	302013, 302015  TCP/UDP connection built                  KindStart
//	302014, 302016  TCP/UDP connection torn down              KindEnd, CountersTotal
//	302020, 302021  ICMP connection built / torn down         KindStart / KindEnd
//	305011, 305012  translation built / torn down (305009/10)  KindInterim
//	106023          denied by an access group                 KindPacket, ActionDrop
//	106100          access-list hit (permitted or denied)      see below
//	106001, 106006, 106007, 106015  denied packets           KindPacket, ActionDrop
//
// Every other message, the 733100/733101 threat-detection rate summaries included, is skipped with
// ReasonNotConnection: a drop-rate summary names no connection and would count as one.
//
// ASA prints the two ends of a connection as "for <outer side> to <inner side>": the built
// message's inbound/outbound word says which of them started it. Outbound means the second
// ("to") end is the initiator. Each end is "interface:real/port (mapped/port)"; the initiator's
// mapped address is its source NAT and the responder's real address its destination NAT.
//
// The teardown messages carry no direction word and only real addresses. natlog takes the end with
// the lower port as the responder, and the "for" end when the ports are equal.
//
// NOTE: an inbound teardown therefore has the real (post-NAT) address of a port-forwarded server
// in Dst, and a teardown between two high ports may have its ends swapped.
//
// A teardown reports one byte total for both directions. natlog stores it as CountersTotal in
// OrigBytes and leaves ReplyBytes at zero, so byte rates are right but orig_bytes compared with
// reply_bytes is meaningless for ASA. The reason text sets State: "TCP FINs" StateClosed,
// "TCP Reset-I/-O" StateReset, "SYN Timeout" StateSYNOnly.
//
// An access-list hit (106100) for a denied flow's first packet is KindPacket; the periodic
// "hit-cnt N 300-second interval" summaries and permitted hits are KindInterim, because the
// connection itself is counted from its first hit or its 302013 message. A denied hit count is
// kept as CountersDelta in OrigPackets: the packets dropped since the previous report.
//
// The header may be a plain syslog header, ASA's own "Mar 14 2025 02:41:07:" timestamp (with
// `logging timestamp`), an RFC 5424 header, the EMBLEM layout ("<166>38: host: Mar 14 2025
// 02:41:07 UTC: %ASA-…") or a relay's header in front of any of these. The last timestamp before
// the message wins, read in ParseContext.Location unless it says UTC or carries an offset.
type ASA struct{}

func init() { Register(ASA{}) }

const asaFormat = "asa"

// Name returns "asa".
func (ASA) Name() string { return asaFormat }

// Detect reports whether line holds an "%ASA-" or "%FTD-" message tag.
func (ASA) Detect(line []byte) bool {
	return asaMarker(line) >= 0
}

// asaMarker returns the index of the '%' of the message tag, or -1.
func asaMarker(line []byte) int {
	if i := bytes.Index(line, []byte("%ASA-")); i >= 0 {
		return i
	}
	return bytes.Index(line, []byte("%FTD-"))
}

// Parse fills ev from one ASA or FTD syslog line.
func (ASA) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	m := asaMarker(line)
	if m < 0 {
		return Skip(asaFormat, ReasonMissingField, "tag", nil)
	}
	t, host := parseDeviceHeader(line[:m], ctx)
	ev.Time = t
	if ctx != nil {
		ctx.Host = host
	}
	ev.Format = asaFormat

	id, body, ok := asaMessageID(line, m)
	if !ok {
		return Skip(asaFormat, ReasonTruncated, "tag", line[m:])
	}
	p := asaLine{b: line, i: body}
	switch id {
	case 302013, 302015:
		return p.built(ev)
	case 302014, 302016:
		return p.teardown(ev)
	case 302020, 302021:
		return p.icmp(ev, id == 302020)
	case 305009, 305010, 305011, 305012:
		return p.translation(ev)
	case 106023:
		return p.accessGroupDeny(ev)
	case 106100:
		return p.accessList(ev)
	case 106001, 106006, 106007, 106015:
		return p.deniedPacket(ev)
	}
	return Skip(asaFormat, ReasonNotConnection, "message", line[m:min(len(line), m+16)])
}

// asaMessageID reads "%ASA-6-302013: " (or EMBLEM's "%ASA-session-6-302013: ") at m and returns
// the message number and the index where the text starts.
func asaMessageID(line []byte, m int) (id int, body int, ok bool) {
	i := m + 5
	// Severity (and, in EMBLEM, a class name before it): skip to the last '-' before ':'.
	dash := -1
	for j := i; j < len(line) && j < i+40 && line[j] != ':' && line[j] != ' '; j++ {
		if line[j] == '-' {
			dash = j
		}
	}
	if dash < 0 {
		return 0, 0, false
	}
	j := dash + 1
	for j < len(line) && line[j] >= '0' && line[j] <= '9' && id < 1_000_000 {
		id = id*10 + int(line[j]-'0')
		j++
	}
	if j == dash+1 || j >= len(line) || line[j] != ':' {
		return 0, 0, false
	}
	return id, skipSpaces(line, j+1), true
}

// asaLine is a cursor over the text of one message.
type asaLine struct {
	b []byte
	i int
}

// word returns the next space-separated token and advances past it.
func (p *asaLine) word() []byte {
	p.i = skipSpaces(p.b, p.i)
	end := tokenEnd(p.b, p.i)
	w := p.b[p.i:end]
	p.i = end
	return w
}

// expect consumes the word w, reporting whether it was there.
func (p *asaLine) expect(w string) bool {
	save := p.i
	if string(p.word()) == w {
		return true
	}
	p.i = save
	return false
}

// seek moves past the next occurrence of the word w (with a space before it), reporting whether
// it was found.
func (p *asaLine) seek(w string) bool {
	j := indexFrom(p.b, p.i, " "+w+" ")
	if j < 0 {
		if j = indexFrom(p.b, p.i, " "+w); j < 0 || j+1+len(w) != len(p.b) {
			return false
		}
	}
	p.i = j + 1 + len(w)
	return true
}

// asaEnd is one end of a connection as ASA prints it.
type asaEnd struct {
	addr   netip.Addr
	port   uint16
	mapped netip.Addr
	mport  uint16
}

// endpoint reads "interface:address[/port]" followed by an optional "(mapped/port)" and optional
// "(user)" or "[fqdn]" annotations. With ifc false there is no interface prefix.
func (p *asaLine) endpoint(field string, ifc bool) (asaEnd, *SkipError) {
	var e asaEnd
	p.i = skipSpaces(p.b, p.i)
	if ifc {
		colon := -1
		for j := p.i; j < len(p.b) && j < p.i+64; j++ {
			if p.b[j] == ':' {
				colon = j
				break
			}
		}
		if colon < 0 {
			return e, p.skip(ReasonTruncated, field)
		}
		p.i = colon + 1
	}

	addr, port, _, err := p.addrPort(field)
	if err != nil {
		return e, err
	}
	e.addr, e.port = addr, port

	// Annotations: the first "(a/p)" that parses is the mapped address, others are users.
	for {
		j := skipSpaces(p.b, p.i)
		if j >= len(p.b) || (p.b[j] != '(' && p.b[j] != '[') {
			return e, nil
		}
		closing := byte(')')
		if p.b[j] == '[' {
			closing = ']'
		}
		k := bytes.IndexByte(p.b[j:], closing)
		if k < 0 {
			p.i = len(p.b)
			return e, nil
		}
		inner := p.b[j+1 : j+k]
		if closing == ')' && !e.mapped.IsValid() {
			if a, mp, ok := splitAddrSlashPort(inner); ok {
				e.mapped, e.mport = a, mp
			}
		}
		p.i = j + k + 1
	}
}

// addrPort reads "address[/port]" at the cursor. The port ends at the first non-digit, so an
// annotation glued to it ("/443(LOCAL\user)") is left for the caller.
func (p *asaLine) addrPort(field string) (netip.Addr, uint16, bool, *SkipError) {
	start := p.i
	j := start
	for j < len(p.b) && p.b[j] != '/' && !isSpace(p.b[j]) && p.b[j] != '(' && p.b[j] != ',' {
		j++
	}
	addr, ok := parseAddr(p.b[start:j])
	if !ok {
		if j == len(p.b) {
			return addr, 0, false, p.skip(ReasonTruncated, field)
		}
		return addr, 0, false, Skip(asaFormat, ReasonBadAddress, field, p.b[start:j])
	}
	if j >= len(p.b) || p.b[j] != '/' {
		p.i = j
		return addr, 0, false, nil
	}
	k := j + 1
	for k < len(p.b) && p.b[k] >= '0' && p.b[k] <= '9' {
		k++
	}
	port, ok := parsePort(p.b[j+1 : k])
	if !ok {
		return addr, 0, false, Skip(asaFormat, ReasonBadNumber, field, p.b[j+1:k])
	}
	p.i = k
	return addr, port, true, nil
}

// splitAddrSlashPort parses "198.51.100.23/443" as a whole.
func splitAddrSlashPort(b []byte) (netip.Addr, uint16, bool) {
	slash := bytes.LastIndexByte(b, '/')
	if slash < 0 {
		a, ok := parseAddr(b)
		return a, 0, ok
	}
	a, ok1 := parseAddr(b[:slash])
	port, ok2 := parsePort(b[slash+1:])
	return a, port, ok1 && ok2
}

func (p *asaLine) skip(reason Reason, field string) *SkipError {
	return Skip(asaFormat, reason, field, tail(p.b))
}

// protocol reads a protocol word ("TCP", "udp", "icmp") or "protocol 47".
func (p *asaLine) protocol() (Proto, *SkipError) {
	w := p.word()
	if equalFoldASCII(w, "protocol") {
		w = p.word()
		n, ok := parseUint8(w)
		if !ok {
			return 0, Skip(asaFormat, ReasonBadNumber, "protocol", w)
		}
		return Proto(n), nil
	}
	if proto, ok := protoByName(w); ok {
		return proto, nil
	}
	if n, ok := parseUint8(w); ok {
		return Proto(n), nil
	}
	if len(w) == 0 {
		return 0, p.skip(ReasonTruncated, "protocol")
	}
	return 0, Skip(asaFormat, ReasonNotConnection, "protocol", w)
}

// built reads "Built {inbound|outbound} TCP connection ID for A (A') to B (B')".
func (p *asaLine) built(ev *ConnEvent) error {
	if !p.expect("Built") {
		return Skip(asaFormat, ReasonNotConnection, "message", p.word())
	}
	inbound := false
	switch dir := p.word(); {
	case equalFoldASCII(dir, "inbound"):
		inbound = true
	case equalFoldASCII(dir, "outbound"):
	default:
		return Skip(asaFormat, ReasonNotConnection, "direction", dir)
	}
	proto, err := p.protocol()
	if err != nil {
		return err
	}
	ev.Proto = proto
	if !p.seek("for") {
		return p.skip(ReasonTruncated, "for")
	}
	outer, err := p.endpoint("for", true)
	if err != nil {
		return err
	}
	if !p.seek("to") {
		return p.skip(ReasonTruncated, "to")
	}
	inner, err := p.endpoint("to", true)
	if err != nil {
		return err
	}

	initiator, responder := inner, outer
	if inbound {
		initiator, responder = outer, inner
	}
	asaFillPair(ev, initiator, responder)
	ev.Kind = KindStart
	ev.Action = ActionAccept
	return nil
}

// asaFillPair sets the tuple from the initiating and responding ends. The initiator's real
// address is the pre-NAT source and its mapped address the translated source; the responder is
// reached at its mapped address and translated to its real one.
func asaFillPair(ev *ConnEvent, initiator, responder asaEnd) {
	ev.Src, ev.SrcPort = initiator.addr, initiator.port
	ev.Dst, ev.DstPort = responder.addr, responder.port
	if responder.mapped.IsValid() {
		ev.Dst, ev.DstPort = responder.mapped, responder.mport
		setDestinationNAT(ev, responder.addr, responder.port)
	}
	if initiator.mapped.IsValid() {
		setSourceNAT(ev, initiator.mapped, initiator.mport)
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	clearICMPPorts(ev)
}

// teardown reads "Teardown TCP connection ID for A to B duration h:mm:ss bytes N [reason]".
func (p *asaLine) teardown(ev *ConnEvent) error {
	if !p.expect("Teardown") {
		return Skip(asaFormat, ReasonNotConnection, "message", p.word())
	}
	proto, err := p.protocol()
	if err != nil {
		return err
	}
	ev.Proto = proto
	if !p.seek("for") {
		return p.skip(ReasonTruncated, "for")
	}
	outer, err := p.endpoint("for", true)
	if err != nil {
		return err
	}
	if !p.seek("to") {
		return p.skip(ReasonTruncated, "to")
	}
	inner, err := p.endpoint("to", true)
	if err != nil {
		return err
	}
	if !p.seek("duration") {
		return p.skip(ReasonTruncated, "duration")
	}
	w := p.word()
	d, ok := parseHMS(w)
	if !ok {
		return Skip(asaFormat, ReasonBadNumber, "duration", w)
	}
	if !p.expect("bytes") {
		return p.skip(ReasonTruncated, "bytes")
	}
	w = p.word()
	total, ok := parseUint(w)
	if !ok {
		return Skip(asaFormat, ReasonBadNumber, "bytes", w)
	}

	// The lower port is the service; equal ports leave the "for" end as the responder.
	initiator, responder := inner, outer
	if outer.port > inner.port {
		initiator, responder = outer, inner
	}
	outer.mapped, inner.mapped = netip.Addr{}, netip.Addr{}
	asaFillPair(ev, initiator, responder)

	ev.Kind = KindEnd
	ev.Action = ActionAccept
	ev.Duration = d
	ev.Counters = CountersTotal
	ev.OrigBytes = total
	ev.State = reasonState(ev.Proto, p.b[skipSpaces(p.b, p.i):])
	return nil
}

// icmp reads "Built {inbound|outbound} ICMP connection for faddr F gaddr G laddr L [type T code C]"
// and its teardown, which has no direction word.
func (p *asaLine) icmp(ev *ConnEvent, built bool) error {
	verb := "Teardown"
	if built {
		verb = "Built"
	}
	if !p.expect(verb) {
		return Skip(asaFormat, ReasonNotConnection, "message", p.word())
	}
	inbound, direction := false, false
	if built {
		switch dir := p.word(); {
		case equalFoldASCII(dir, "inbound"):
			inbound, direction = true, true
		case equalFoldASCII(dir, "outbound"):
			direction = true
		default:
			return Skip(asaFormat, ReasonNotConnection, "direction", dir)
		}
	}
	ev.Proto = ProtoICMP
	if equalFoldASCII(p.word(), "icmpv6") {
		ev.Proto = ProtoICMPv6
	}

	var ends [3]asaEnd // faddr, gaddr, laddr
	for n, key := range [3]string{"faddr", "gaddr", "laddr"} {
		if !p.seek(key) {
			return p.skip(ReasonTruncated, key)
		}
		e, err := p.endpoint(key, false)
		if err != nil {
			return err
		}
		ends[n] = e
	}
	faddr, gaddr, laddr := ends[0], ends[1], ends[2]

	// The teardown's direction follows the ICMP identifier: the initiator's end carries it.
	if !direction {
		inbound = faddr.port != 0 && laddr.port == 0
	}
	if inbound {
		ev.Src = faddr.addr
		ev.Dst = gaddr.addr
		setDestinationNAT(ev, laddr.addr, 0)
	} else {
		ev.Src = laddr.addr
		ev.Dst = faddr.addr
		setSourceNAT(ev, gaddr.addr, 0)
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)

	if p.seek("type") {
		typ, ok := parseUint8(p.word())
		if ok && p.expect("code") {
			code, ok2 := parseUint8(p.word())
			ev.ICMPType, ev.ICMPCode, ev.HasICMP = typ, code, ok2
		}
	}
	ev.Kind = KindEnd
	if built {
		ev.Kind = KindStart
	}
	ev.Action = ActionAccept
	return nil
}

// translation reads "Built dynamic TCP translation from inside:A/p to outside:M/p" and its
// teardown (305012, with a duration), and the port-less 305009/305010 forms.
func (p *asaLine) translation(ev *ConnEvent) error {
	verb := p.word()
	if !equalFoldASCII(verb, "built") && !equalFoldASCII(verb, "teardown") {
		return Skip(asaFormat, ReasonNotConnection, "message", verb)
	}
	kind := p.word() // dynamic or static
	if !equalFoldASCII(kind, "dynamic") && !equalFoldASCII(kind, "static") {
		return Skip(asaFormat, ReasonNotConnection, "translation", kind)
	}
	save := p.i
	if w := p.word(); !equalFoldASCII(w, "translation") {
		p.i = save
		proto, err := p.protocol()
		if err != nil {
			return err
		}
		ev.Proto = proto
	}
	if !p.seek("from") {
		return p.skip(ReasonTruncated, "from")
	}
	real, err := p.endpoint("from", true)
	if err != nil {
		return err
	}
	if !p.seek("to") {
		return p.skip(ReasonTruncated, "to")
	}
	mapped, err := p.endpoint("to", true)
	if err != nil {
		return err
	}
	ev.Src, ev.SrcPort = real.addr, real.port
	setSourceNAT(ev, mapped.addr, mapped.port)
	if !ev.NATSrc.IsValid() {
		ev.NATSrc, ev.NATSrcPort = mapped.addr, mapped.port // an identity translation is still one
	}
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	clearICMPPorts(ev)
	if p.seek("duration") {
		if d, ok := parseHMS(p.word()); ok {
			ev.Duration = d
		}
	}
	ev.Kind = KindInterim
	ev.Action = ActionAccept
	return nil
}

// accessGroupDeny reads "Deny tcp src outside:A/p dst inside:B/p [(type T, code C)] by
// access-group "name" [hash]".
func (p *asaLine) accessGroupDeny(ev *ConnEvent) error {
	body := p.i
	if !p.expect("Deny") {
		return Skip(asaFormat, ReasonNotConnection, "message", p.word())
	}
	proto, err := p.protocol()
	if err != nil {
		return err
	}
	ev.Proto = proto
	if !p.seek("src") {
		return p.skip(ReasonTruncated, "src")
	}
	src, err := p.endpoint("src", true)
	if err != nil {
		return err
	}
	if !p.seek("dst") {
		return p.skip(ReasonTruncated, "dst")
	}
	dst, err := p.endpoint("dst", true)
	if err != nil {
		return err
	}
	ev.Src, ev.SrcPort, ev.Dst, ev.DstPort = src.addr, src.port, dst.addr, dst.port
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	clearICMPPorts(ev)
	if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
		p.i = body
		p.icmpTypeCode(ev)
	}
	ev.Kind = KindPacket
	ev.Action = ActionDrop
	return nil
}

// icmpTypeCode reads "(type 8, code 0)" anywhere after the cursor.
func (p *asaLine) icmpTypeCode(ev *ConnEvent) {
	j := indexFrom(p.b, p.i, "type ")
	if j < 0 {
		return
	}
	k := j + 5
	e := k
	for e < len(p.b) && p.b[e] >= '0' && p.b[e] <= '9' {
		e++
	}
	typ, ok := parseUint8(p.b[k:e])
	if !ok {
		return
	}
	c := indexFrom(p.b, e, "code ")
	if c < 0 || c > e+3 {
		return
	}
	k = c + 5
	e = k
	for e < len(p.b) && p.b[e] >= '0' && p.b[e] <= '9' {
		e++
	}
	code, ok := parseUint8(p.b[k:e])
	if ok {
		ev.ICMPType, ev.ICMPCode, ev.HasICMP = typ, code, true
	}
}

// accessList reads "access-list NAME permitted tcp ifc/A(p) -> ifc/B(p) hit-cnt N first hit".
func (p *asaLine) accessList(ev *ConnEvent) error {
	if !p.expect("access-list") {
		return Skip(asaFormat, ReasonNotConnection, "message", p.word())
	}
	p.word() // the list's name
	verdict := p.word()
	denied := false
	switch {
	case equalFoldASCII(verdict, "denied"):
		denied = true
	case equalFoldASCII(verdict, "permitted"), equalFoldASCII(verdict, "est-allowed"):
	default:
		return Skip(asaFormat, ReasonNotConnection, "verdict", verdict)
	}
	proto, err := p.protocol()
	if err != nil {
		return err
	}
	ev.Proto = proto

	var ends [2]asaEnd
	for n := range ends {
		if n == 1 && !p.seek("->") {
			return p.skip(ReasonTruncated, "->")
		}
		e, err := p.aclEndpoint()
		if err != nil {
			return err
		}
		ends[n] = e
	}
	ev.Src, ev.SrcPort, ev.Dst, ev.DstPort = ends[0].addr, ends[0].port, ends[1].addr, ends[1].port
	ev.Proto = icmpForFamily(ev.Proto, ev.Src)
	if ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6 {
		// NOTE: for ICMP the "ports" are the type (source side) and the code (destination side).
		ev.ICMPType, ev.ICMPCode, ev.HasICMP = uint8(min(ev.SrcPort, 255)), uint8(min(ev.DstPort, 255)), true
		clearICMPPorts(ev)
	}

	hits := uint64(0)
	if p.seek("hit-cnt") {
		hits, _ = parseUint(p.word())
	}
	firstHit := p.seek("first")
	ev.Action = ActionAccept
	ev.Kind = KindInterim
	if denied {
		ev.Action = ActionDrop
		if firstHit {
			ev.Kind = KindPacket
		}
		if hits > 0 {
			ev.Counters, ev.OrigPackets = CountersDelta, hits // packets dropped since the last report
		}
	}
	return nil
}

// aclEndpoint reads "interface/address(port)".
func (p *asaLine) aclEndpoint() (asaEnd, *SkipError) {
	var e asaEnd
	p.i = skipSpaces(p.b, p.i)
	slash := -1
	for j := p.i; j < len(p.b) && !isSpace(p.b[j]); j++ {
		if p.b[j] == '/' {
			slash = j
			break
		}
	}
	if slash < 0 {
		return e, p.skip(ReasonTruncated, "address")
	}
	open := slash + 1
	for open < len(p.b) && p.b[open] != '(' && !isSpace(p.b[open]) {
		open++
	}
	addr, ok := parseAddr(p.b[slash+1 : open])
	if !ok {
		return e, Skip(asaFormat, ReasonBadAddress, "address", p.b[slash+1:open])
	}
	e.addr = addr
	if open < len(p.b) && p.b[open] == '(' {
		closing := bytes.IndexByte(p.b[open:], ')')
		if closing < 0 {
			return e, p.skip(ReasonTruncated, "port")
		}
		port, ok := parsePort(p.b[open+1 : open+closing])
		if !ok {
			return e, Skip(asaFormat, ReasonBadNumber, "port", p.b[open+1:open+closing])
		}
		e.port = port
		open += closing + 1
	}
	p.i = open
	return e, nil
}

// deniedPacket reads the "from A/p to [ifc:]B/p" deny messages: 106001 "Inbound TCP connection
// denied from … flags SYN on interface X", 106006/106007 "Deny inbound UDP from …", and 106015
// "Deny TCP (no connection) from … flags RST on interface X".
func (p *asaLine) deniedPacket(ev *ConnEvent) error {
	text := p.b[p.i:]
	switch {
	case containsFoldASCII(text, " TCP "), bytes.HasPrefix(text, []byte("TCP ")):
		ev.Proto = ProtoTCP
	case containsFoldASCII(text, " UDP "):
		ev.Proto = ProtoUDP
	default:
		return Skip(asaFormat, ReasonNotConnection, "protocol", text[:min(len(text), 24)])
	}
	if !p.seek("from") {
		return p.skip(ReasonTruncated, "from")
	}
	src, err := p.endpoint("from", false)
	if err != nil {
		return err
	}
	if !p.seek("to") {
		return p.skip(ReasonTruncated, "to")
	}
	// The destination may carry an interface prefix ("to inside:10.1.1.1/80").
	p.i = skipSpaces(p.b, p.i)
	end := tokenEnd(p.b, p.i)
	tok := p.b[p.i:end]
	if slash := bytes.IndexByte(tok, '/'); slash >= 0 {
		tok = tok[:slash]
	}
	_, plain := parseAddr(tok)
	hasIfc := !plain && bytes.IndexByte(tok, ':') >= 0
	dst, err := p.endpoint("to", hasIfc)
	if err != nil {
		return err
	}
	ev.Src, ev.SrcPort, ev.Dst, ev.DstPort = src.addr, src.port, dst.addr, dst.port

	if ev.Proto == ProtoTCP && p.seek("flags") {
		for {
			save := p.i
			switch string(p.word()) {
			case "SYN":
				ev.Flags |= FlagSYN
			case "ACK":
				ev.Flags |= FlagACK
			case "FIN":
				ev.Flags |= FlagFIN
			case "RST":
				ev.Flags |= FlagRST
			case "PSH":
				ev.Flags |= FlagPSH
			case "URG":
				ev.Flags |= FlagURG
			default:
				p.i = save
				goto done
			}
		}
	}
done:
	ev.Kind = KindPacket
	ev.Action = ActionDrop
	return nil
}

// parseDeviceHeader reads the part of a line before a vendor's message tag: any mix of syslog
// priority, RFC 5424 version, timestamps (RFC 3164 with or without a year, ISO 8601), host names,
// EMBLEM sequence numbers and ':' separators, as devices and relays stack them. The last
// timestamp and the last host name win, because a relay writes its own in front of the device's.
func parseDeviceHeader(h []byte, ctx *ParseContext) (time.Time, []byte) {
	var t time.Time
	var host []byte
	i := 0
	if len(h) > 2 && h[0] == '<' {
		j := 1
		for j < len(h) && j < 5 && h[j] >= '0' && h[j] <= '9' {
			j++
		}
		if j > 1 && j < len(h) && h[j] == '>' {
			i = j + 1
			if i+1 < len(h) && h[i] == '1' && h[i+1] == ' ' {
				i += 2 // RFC 5424 version
			}
		}
	}
	for {
		i = skipSpaces(h, i)
		if i >= len(h) {
			return t, host
		}
		if ts, n, ok := parseHeaderTime(h[i:], ctx); ok {
			t = ts
			i += n
			continue
		}
		end := tokenEnd(h, i)
		tok := h[i:end]
		i = end
		if n := len(tok); n > 0 && tok[n-1] == ':' {
			tok = tok[:n-1]
		}
		if len(tok) == 0 || tok[0] == '-' || tok[0] == '[' || isDigits(tok) || bytes.IndexByte(tok, '=') >= 0 {
			continue
		}
		if tok[0] == '<' || tok[len(tok)-1] == ']' { // a relay's priority, or a tag "ident[pid]"
			continue
		}
		host = tok
	}
}

// parseHeaderTime reads a timestamp at the start of b: ISO 8601, "Mar 14 2025 02:41:07" (ASA
// and Huawei with the year), or RFC 3164 "Mar 14 02:41:07". A trailing ':' and a following
// "UTC"/"GMT" word belong to it; "UTC" makes a zone-less stamp UTC.
func parseHeaderTime(b []byte, ctx *ParseContext) (time.Time, int, bool) {
	t, n, ok := parseISOTime(b, ctx.location())
	if !ok {
		t, n, ok = parseYearBSDTime(b, ctx.location())
	}
	if !ok {
		t, n, ok = parseBSDTime(b, ctx)
	}
	if !ok || (n < len(b) && !isSpace(b[n]) && b[n] != ':') {
		return time.Time{}, 0, false
	}
	// Comware and some relays put the year after the clock: "Mar 14 02:09:19 2025".
	if n+5 <= len(b) && b[n] == ' ' && (n+5 == len(b) || isSpace(b[n+5]) || b[n+5] == ':') {
		if year, ok := digits(b, n+1, 4); ok && b[3] == ' ' && year >= 1970 {
			local := t.In(ctx.location())
			t = time.Date(year, local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), ctx.location())
			n += 5
		}
	}
	if n < len(b) && b[n] == ':' {
		n++
	}
	j := skipSpaces(b, n)
	if j+3 <= len(b) && (string(b[j:j+3]) == "UTC" || string(b[j:j+3]) == "GMT") && (j+3 == len(b) || b[j+3] == ':' || isSpace(b[j+3])) {
		if t.Location() != time.UTC {
			y, mo, d := t.Date()
			hh, mm, ss := t.Clock()
			t = time.Date(y, mo, d, hh, mm, ss, t.Nanosecond(), time.UTC)
		}
		n = j + 3
		if n < len(b) && b[n] == ':' {
			n++
		}
	}
	return t.UTC(), n, true
}

// parseYearBSDTime reads "Mar 14 2025 02:41:07" with an optional fraction, in loc.
func parseYearBSDTime(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 20 || b[3] != ' ' {
		return time.Time{}, 0, false
	}
	month, ok := parseMonth(b[:3])
	if !ok {
		return time.Time{}, 0, false
	}
	i := 4
	if b[i] == ' ' {
		i++
	}
	day := 0
	start := i
	for i < len(b) && i < start+2 && b[i] >= '0' && b[i] <= '9' {
		day = day*10 + int(b[i]-'0')
		i++
	}
	if i == start || day < 1 || day > 31 || i >= len(b) || b[i] != ' ' {
		return time.Time{}, 0, false
	}
	year, ok := digits(b, i+1, 4)
	if !ok || i+5 >= len(b) || b[i+5] != ' ' {
		return time.Time{}, 0, false
	}
	hour, minute, second, next, ok := parseClock(b, i+6)
	if !ok {
		return time.Time{}, 0, false
	}
	nsec, next := parseFraction(b, next)
	return time.Date(year, month, day, hour, minute, second, nsec, loc), next, true
}

// isDigits reports whether b is a non-empty run of decimal digits.
func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
