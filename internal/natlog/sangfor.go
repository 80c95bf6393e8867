package natlog

import (
	"bytes"
)

// Sangfor parses the firewall logs of Sangfor NGAF / AF ("fwlog:"), whose fields are Chinese
// key:value pairs separated by ", ":
//
//	<134>Mar 14 02:41:07 localhost fwlog: 日志类型:服务控制或应用控制, 策略名称:-, 用户:(null),
//	源IP:10.20.4.37, 源端口:52144, 目的IP:198.51.100.23, 目的端口:443, 应用类型:访问网站,
//	应用名称:HTTPS, 系统动作:允许
//
// Devices and relays send the text as UTF-8 or as GBK. Rather than decode, the parser compares
// the keys and the few values it needs with their byte sequences in both encodings, so either
// parses, and GBK text anywhere else in the line is carried along untouched.
//
// Log types read:
//
//	服务控制或应用控制 (service or application control)   one connection: 系统动作 允许 (allow) or
//	    被记录 (logged) gives KindStart with ActionAccept, 拒绝 (deny) KindPacket with ActionDrop
//	流量审计 (traffic audit)   a host's traffic since the previous audit record: Src is
//	    用户名/主机 when it is an address, 上行流量(KB) is OrigBytes and 下行流量(KB) ReplyBytes
//	    (×1024) as CountersDelta, KindInterim, no destination
//
// Other types (IPS, WAF, DoS and virus protection) describe attacks inside connections that the
// service-control log already counts, and are skipped with ReasonNotConnection. The format has no
// NAT fields, and service-control records name no protocol (协议 is read where present). Times
// come from the syslog header, in ParseContext.Location; a header host of "localhost" (the
// factory default) is ignored so that the configured gateway name applies.
type Sangfor struct{}

func init() { Register(Sangfor{}) }

const sangforFormat = "sangfor"

// Name returns "sangfor".
func (Sangfor) Name() string { return sangforFormat }

// Detect reports whether line holds the "fwlog:" tag.
func (Sangfor) Detect(line []byte) bool {
	return bytes.Index(line, []byte("fwlog:")) >= 0
}

// sangforWord is an index into the Chinese words the parser matches.
type sangforWord uint8

const (
	sfNone sangforWord = iota
	sfLogType
	sfServiceControl
	sfTrafficAudit
	sfSrcIP
	sfSrcPort
	sfDstIP
	sfDstPort
	sfProto
	sfSystemAction
	sfAction
	sfUserHost
	sfUpKB
	sfDownKB
	sfAllow
	sfDeny
	sfLogged
	sfWordCount
)

// sangforWords holds each word in UTF-8 and in GBK.
var sangforWords = [sfWordCount][2]string{
	sfLogType:        {"日志类型", "\xc8\xd5\xd6\xbe\xc0\xe0\xd0\xcd"},
	sfServiceControl: {"服务控制或应用控制", "\xb7\xfe\xce\xf1\xbf\xd8\xd6\xc6\xbb\xf2\xd3\xa6\xd3\xc3\xbf\xd8\xd6\xc6"},
	sfTrafficAudit:   {"流量审计", "\xc1\xf7\xc1\xbf\xc9\xf3\xbc\xc6"},
	sfSrcIP:          {"源IP", "\xd4\xb4IP"},
	sfSrcPort:        {"源端口", "\xd4\xb4\xb6\xcb\xbf\xda"},
	sfDstIP:          {"目的IP", "\xc4\xbf\xb5\xc4IP"},
	sfDstPort:        {"目的端口", "\xc4\xbf\xb5\xc4\xb6\xcb\xbf\xda"},
	sfProto:          {"协议", "\xd0\xad\xd2\xe9"},
	sfSystemAction:   {"系统动作", "\xcf\xb5\xcd\xb3\xb6\xaf\xd7\xf7"},
	sfAction:         {"动作", "\xb6\xaf\xd7\xf7"},
	sfUserHost:       {"用户名/主机", "\xd3\xc3\xbb\xa7\xc3\xfb/\xd6\xf7\xbb\xfa"},
	sfUpKB:           {"上行流量(KB)", "\xc9\xcf\xd0\xd0\xc1\xf7\xc1\xbf(KB)"},
	sfDownKB:         {"下行流量(KB)", "\xcf\xc2\xd0\xd0\xc1\xf7\xc1\xbf(KB)"},
	sfAllow:          {"允许", "\xd4\xca\xd0\xed"},
	sfDeny:           {"拒绝", "\xbe\xdc\xbe\xf8"},
	sfLogged:         {"被记录", "\xb1\xbb\xbc\xc7\xc2\xbc"},
}

// lookupSangforWord returns the word b spells in either encoding, or sfNone.
func lookupSangforWord(b []byte) sangforWord {
	if len(b) < 4 {
		return sfNone
	}
	for w := sfLogType; w < sfWordCount; w++ {
		if string(b) == sangforWords[w][0] || string(b) == sangforWords[w][1] {
			return w
		}
	}
	return sfNone
}

// Parse fills ev from one fwlog line.
func (Sangfor) Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error {
	line = cutAtNUL(line)
	m := bytes.Index(line, []byte("fwlog:"))
	if m < 0 {
		return Skip(sangforFormat, ReasonMissingField, "fwlog", nil)
	}
	h := parseSyslogHeader(line[:m], ctx)
	ev.Time = h.Time
	if ctx != nil && string(h.Host) != "localhost" {
		ctx.Host = h.Host
	}
	ev.Format = sangforFormat

	var values [sfWordCount][]byte
	for i := m + len("fwlog:"); i < len(line); {
		for i < len(line) && (line[i] == ',' || isSpace(line[i])) {
			i++
		}
		colon := indexFrom(line, i, ":")
		if colon < 0 {
			break
		}
		key := line[i:colon]
		end := indexFrom(line, colon+1, ", ")
		if end < 0 {
			end = len(line)
		}
		if w := lookupSangforWord(bytes.TrimSpace(key)); w != sfNone && values[w] == nil {
			values[w] = bytes.TrimSpace(line[colon+1 : end])
		}
		i = end
	}

	switch lookupSangforWord(values[sfLogType]) {
	case sfServiceControl:
		return sangforConnection(&values, ev)
	case sfTrafficAudit:
		return sangforAudit(&values, ev)
	}
	if values[sfLogType] == nil {
		return Skip(sangforFormat, ReasonMissingField, "log type", nil)
	}
	return Skip(sangforFormat, ReasonNotConnection, "log type", values[sfLogType])
}

// sangforConnection fills a service or application control record.
func sangforConnection(v *[sfWordCount][]byte, ev *ConnEvent) error {
	var ok bool
	if v[sfSrcIP] == nil || v[sfDstIP] == nil {
		return Skip(sangforFormat, ReasonTruncated, "IP", nil)
	}
	if ev.Src, ok = parseAddr(v[sfSrcIP]); !ok {
		return Skip(sangforFormat, ReasonBadAddress, "source IP", v[sfSrcIP])
	}
	if ev.Dst, ok = parseAddr(v[sfDstIP]); !ok {
		return Skip(sangforFormat, ReasonBadAddress, "destination IP", v[sfDstIP])
	}
	if ev.SrcPort, ok = optionalPort(v[sfSrcPort]); !ok {
		return Skip(sangforFormat, ReasonBadNumber, "source port", v[sfSrcPort])
	}
	if ev.DstPort, ok = optionalPort(v[sfDstPort]); !ok {
		return Skip(sangforFormat, ReasonBadNumber, "destination port", v[sfDstPort])
	}
	if p, byName := protoByName(v[sfProto]); byName {
		ev.Proto = icmpForFamily(p, ev.Src)
	}
	clearICMPPorts(ev)

	action := v[sfSystemAction]
	if action == nil {
		action = v[sfAction]
	}
	switch lookupSangforWord(action) {
	case sfAllow, sfLogged:
		ev.Kind, ev.Action = KindStart, ActionAccept
	case sfDeny:
		ev.Kind, ev.Action = KindPacket, ActionDrop
	default:
		if action == nil {
			return Skip(sangforFormat, ReasonTruncated, "action", nil)
		}
		ev.Kind, ev.Action = KindStart, actionFromText(action)
	}
	return nil
}

// sangforAudit fills a traffic audit record: a host's uplink and downlink traffic in KB.
func sangforAudit(v *[sfWordCount][]byte, ev *ConnEvent) error {
	host := v[sfUserHost]
	if host == nil {
		return Skip(sangforFormat, ReasonMissingField, "user/host", nil)
	}
	var ok bool
	if ev.Src, ok = parseAddr(host); !ok {
		return Skip(sangforFormat, ReasonNotConnection, "user/host", host) // a user name, not a host
	}
	up, _, ok1 := optionalUint(v[sfUpKB])
	down, _, ok2 := optionalUint(v[sfDownKB])
	if !ok1 || !ok2 || up > 1<<50 || down > 1<<50 {
		return Skip(sangforFormat, ReasonBadNumber, "traffic (KB)", v[sfUpKB])
	}
	ev.Kind, ev.Action = KindInterim, ActionAccept
	ev.Counters = CountersDelta
	ev.OrigBytes, ev.ReplyBytes = up*1024, down*1024
	return nil
}
