package natlog

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// field is a ConnEvent field that a record key can map to.
type field uint8

const (
	fieldNone field = iota
	fieldSrc
	fieldDst
	fieldSrcPort
	fieldDstPort
	fieldProto
	fieldNATSrc
	fieldNATSrcPort
	fieldNATDst
	fieldNATDstPort
	fieldOrigBytes
	fieldReplyBytes
	fieldOrigPackets
	fieldReplyPackets
	fieldBytes
	fieldPackets
	fieldAction
	fieldGateway
	fieldTime
	fieldDuration
	fieldCount
)

// fieldNames are the names a user mapping uses for the ConnEvent fields, indexed by field.
var fieldNames = [fieldCount]string{
	"", "src", "dst", "sport", "dport", "proto", "nat_src", "nat_sport", "nat_dst", "nat_dport",
	"orig_bytes", "reply_bytes", "orig_packets", "reply_packets", "bytes", "packets", "action",
	"gateway", "time", "duration",
}

// FieldNames returns the ConnEvent field names that a user field mapping may name, in a fixed
// order.
func FieldNames() []string {
	return slices.Clone(fieldNames[1:])
}

// fieldsFormat is the format name of events that the field mapping produced.
const fieldsFormat = "fields"

// defaultFieldKeys maps record keys, lower-cased and with '-' turned into '_', to ConnEvent
// fields. A dotted key is either a flat key with dots (Zeek's "id.orig_h", ulogd's
// "orig.raw.pktlen") or the path through nested maps (ECS "source.ip").
var defaultFieldKeys = map[string]field{}

func init() {
	add := func(f field, keys ...string) {
		for _, k := range keys {
			if _, dup := defaultFieldKeys[k]; dup {
				panic("natlog: default field key listed twice: " + k)
			}
			defaultFieldKeys[k] = f
		}
	}
	add(fieldSrc, "src", "src_ip", "srcip", "srcaddr", "src_addr", "src_address", "source",
		"source_ip", "sourceip", "source_address", "source_addr", "saddr", "id.orig_h", "ip.src",
		"source.ip", "client_ip", "pri_ip", "orig.ip.saddr.str", "orig.ip.saddr")
	add(fieldDst, "dst", "dst_ip", "dstip", "dstaddr", "dst_addr", "dst_address", "dest",
		"dest_ip", "destip", "dest_addr", "dest_address", "destination", "destination_ip",
		"destinationip", "destination_address", "destination_addr", "daddr", "id.resp_h",
		"ip.dst", "destination.ip", "server_ip", "pub_ip", "orig.ip.daddr.str", "orig.ip.daddr")
	add(fieldSrcPort, "sport", "src_port", "srcport", "spt", "source_port", "sourceport",
		"s_port", "id.orig_p", "source.port", "client_port", "pri_port", "orig.l4.sport",
		"tcp.srcport", "udp.srcport")
	add(fieldDstPort, "dport", "dst_port", "dstport", "dpt", "dest_port", "destport",
		"destination_port", "destinationport", "d_port", "id.resp_p", "destination.port",
		"server_port", "pub_port", "orig.l4.dport", "tcp.dstport", "udp.dstport")
	add(fieldProto, "proto", "protocol", "ip_proto", "ipproto", "ip_protocol", "protocol_id",
		"network.transport", "network.iana_number", "orig.ip.protocol", "ip.proto")
	add(fieldNATSrc, "nat_src", "nat_src_ip", "nat_srcip", "natsrcip", "xlate_src",
		"xlatesrc", "xlate_src_ip", "transip", "nat_source_address", "nat_source_ip",
		"sourcenatip", "source_nat_ip", "post_nat_source_ip", "nat_ip", "source.nat.ip",
		"reply.ip.daddr.str", "reply.ip.daddr")
	add(fieldNATSrcPort, "nat_sport", "nat_src_port", "nat_srcport", "natsrcport",
		"xlate_sport", "xlatesport", "xlate_src_port", "transport", "nat_source_port",
		"sourcenatport", "source_nat_port", "post_nat_source_port", "nat_port",
		"source.nat.port", "reply.l4.dport")
	add(fieldNATDst, "nat_dst", "nat_dst_ip", "nat_dstip", "natdstip", "xlate_dst",
		"xlatedst", "xlate_dst_ip", "tranip", "nat_destination_address", "nat_destination_ip",
		"destinationnatip", "destination_nat_ip", "post_nat_destination_ip",
		"destination.nat.ip", "reply.ip.saddr.str", "reply.ip.saddr")
	add(fieldNATDstPort, "nat_dport", "nat_dst_port", "nat_dstport", "natdstport",
		"xlate_dport", "xlatedport", "xlate_dst_port", "tranport", "nat_destination_port",
		"destinationnatport", "destination_nat_port", "post_nat_destination_port",
		"destination.nat.port", "reply.l4.sport")
	add(fieldOrigBytes, "orig_bytes", "bytes_sent", "sent_bytes", "sentbyte", "sentbytes",
		"sent", "bytes_out", "out_bytes", "src_bytes", "sendbytes", "send_bytes",
		"bytes_from_vpc", "client_bytes", "orig.raw.pktlen", "source.bytes")
	add(fieldReplyBytes, "reply_bytes", "resp_bytes", "bytes_received", "received_bytes",
		"rcvdbyte", "rcvdbytes", "rcvd_bytes", "rcvd", "recv_bytes", "bytes_in", "in_bytes",
		"dst_bytes", "rcvbytes", "rcv_bytes", "receivebytes", "bytes_from_pub", "server_bytes",
		"reply.raw.pktlen", "destination.bytes")
	add(fieldOrigPackets, "orig_packets", "orig_pkts", "packets_sent", "pkts_sent",
		"sent_packets", "sent_pkts", "sentpkt", "sentpkts", "src_packets", "sendpkts",
		"send_pkts", "pkts_from_vpc", "client_packets", "orig.raw.pktcount", "source.packets")
	add(fieldReplyPackets, "reply_packets", "resp_pkts", "resp_packets", "packets_received",
		"pkts_received", "received_packets", "rcvd_pkts", "rcvdpkt", "rcvdpkts", "dst_packets",
		"rcvpkts", "rcv_pkts", "pkts_from_pub", "server_packets", "reply.raw.pktcount",
		"destination.packets")
	add(fieldBytes, "bytes", "total_bytes", "bytes_total", "octets", "byte_count", "network.bytes")
	add(fieldPackets, "packets", "pkts", "total_packets", "packets_total", "packet_count",
		"network.packets")
	add(fieldAction, "action", "decision", "disposition", "verdict", "fw_action", "policy_action")
	add(fieldGateway, "gateway", "gateway_name", "hostname", "host", "devname", "device_name",
		"dvc", "observer.name", "_hostname", "syslog_hostname")
	add(fieldTime, "time", "timestamp", "@timestamp", "ts", "eventtime", "event_time")
	add(fieldDuration, "duration", "elapsed", "elapsed_time", "session_duration", "conn_duration")

	// Flow-log keys: the start of an AWS or Alibaba Cloud capture window and of a ulogd flow, the
	// interface that logged an AWS or Alibaba record, GCP Cloud NAT's allocation_status (OK or
	// DROPPED), and "portocol" as Alibaba's NAT session log reference spells it.
	add(fieldTime, "start", "start_time", "flow.start.sec")
	add(fieldGateway, "interface_id", "eni_id")
	add(fieldAction, "allocation_status")
	add(fieldProto, "portocol")

	for k, f := range defaultFieldKeys {
		defaultFieldTable.insert(k, f)
	}
}

// fieldKeyTable is an open-addressing hash table over defaultFieldKeys. The walk hashes each key
// while lower-casing it, so a lookup needs no second pass over the key as a Go map's hash does.
// On a 31-key FortiGate record this cut BenchmarkRecordFields by about 12%.
type fieldKeyTable struct {
	slots [1024]fieldKeySlot
}

type fieldKeySlot struct {
	key   string
	field field
}

const fnvOffset, fnvPrime uint32 = 2166136261, 16777619

func (t *fieldKeyTable) insert(key string, f field) {
	h := fnvOffset
	for i := range len(key) {
		h = (h ^ uint32(key[i])) * fnvPrime
	}
	for i := h; ; i++ {
		slot := &t.slots[i%uint32(len(t.slots))]
		if slot.key == "" {
			slot.key, slot.field = key, f
			return
		}
	}
}

// lookup returns the field for key, whose FNV-1a hash is h.
func (t *fieldKeyTable) lookup(key []byte, h uint32) (field, bool) {
	for i := h; ; i++ {
		slot := &t.slots[i%uint32(len(t.slots))]
		if slot.key == "" {
			return fieldNone, false
		}
		if slot.key == string(key) {
			return slot.field, true
		}
	}
}

// defaultFieldTable holds defaultFieldKeys; the init function that fills the map builds it.
var defaultFieldTable = &fieldKeyTable{}

// maxKeyPath is the longest lower-cased key path the default mapping compares; longer keys are
// not in the table anyway.
const maxKeyPath = 64

// maxNesting is how many levels of nested maps the default mapping descends into.
const maxNesting = 3

// FieldMap turns the fields of a record that Fluent Bit already parsed into a ConnEvent. The
// default mapping recognises the common key names of firewall, flow log and Zeek records in any
// letter case and with '-' or '_'. A key inside a nested map matches by its whole dotted path
// ("source.ip") or, failing that, by its own name ("jsonPayload.connection.src_ip" as "src_ip").
// A user mapping takes precedence: it names the record key, exactly, for a ConnEvent field.
type FieldMap struct {
	user     [fieldCount]string // record key (or dotted path) per field, "" for none
	userFlat []userKey          // user keys without a dot, matched during the walk
	userPath []userKey          // user keys with a dot, found with chunk.Lookup
}

type userKey struct {
	key   string
	field field
}

// NewFieldMap returns a FieldMap with the default mapping and the user mapping from ConnEvent
// field names (see FieldNames) to record keys. A dotted record key descends into nested maps as
// chunk.Lookup does. An unknown field name or an empty key is an error.
func NewFieldMap(user map[string]string) (*FieldMap, error) {
	m := &FieldMap{}
	for _, name := range slices.Sorted(mapKeys(user)) {
		key := user[name]
		f := fieldByName(name)
		if f == fieldNone {
			return nil, fmt.Errorf("field map: unknown field %q (valid fields: %s)", name, strings.Join(FieldNames(), ", "))
		}
		if key == "" {
			return nil, fmt.Errorf("field map: field %q: empty record key", name)
		}
		m.user[f] = key
		if strings.Contains(key, ".") {
			m.userPath = append(m.userPath, userKey{key, f})
		} else {
			m.userFlat = append(m.userFlat, userKey{key, f})
		}
	}
	return m, nil
}

func mapKeys(m map[string]string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func fieldByName(name string) field {
	for f := fieldSrc; f < fieldCount; f++ {
		if fieldNames[f] == name {
			return f
		}
	}
	return fieldNone
}

// Match ranks: a user mapping beats a whole-path default, which beats a nested key's own name.
const (
	rankNone uint8 = iota
	rankLeaf
	rankDefault
	rankUser
)

// recordValues holds the values a record walk found, one per ConnEvent field, plus the raw log
// line if the record has one.
type recordValues struct {
	val     [fieldCount]chunk.Value
	rank    [fieldCount]uint8
	found   int         // fields with a value
	line    chunk.Value // the `log`, `message` or `MESSAGE` string
	hasLine bool
}

// collect walks record once and fills v. It returns the map's decode error, if any.
func (m *FieldMap) collect(record []byte, v *recordValues) error {
	var path [maxKeyPath]byte
	if err := m.walk(record, path[:0], fnvOffset, 0, v); err != nil {
		return err
	}
	for _, u := range m.userPath {
		if val, ok := chunk.Lookup(record, u.key); ok {
			v.set(u.field, val, rankUser)
		}
	}
	return nil
}

// walk reads the pairs of one map. prefix is the lower-cased dotted path of the map ("" at the
// top) and prefixHash its FNV-1a hash state.
func (m *FieldMap) walk(mp []byte, prefix []byte, prefixHash uint32, depth int, v *recordValues) error {
	f := chunk.NewFields(mp)
	for f.Next() {
		key, val := f.Key(), f.Value()

		if depth == 0 {
			if !v.hasLine && val.Type == chunk.TypeString && isLineKey(key) {
				v.line, v.hasLine = val, true
				continue
			}
			if m.setUserFlat(key, val, v) {
				continue // a key the user mapped feeds only the field the user named
			}
		}

		path, pathHash, leafHash, ok := appendLowerKey(prefix, prefixHash, key)
		if !ok {
			continue
		}
		if val.Type == chunk.TypeMap {
			if depth+1 < maxNesting {
				dotHash := (pathHash ^ '.') * fnvPrime
				if err := m.walk(val.Raw, append(path, '.'), dotHash, depth+1, v); err != nil {
					return err
				}
			}
			continue
		}
		if m.isUserPath(path) {
			continue // collect reads it through chunk.Lookup for the field the user named
		}
		if fd, ok := defaultFieldTable.lookup(path, pathHash); ok {
			v.set(fd, val, rankDefault)
		} else if depth > 0 {
			if fd, ok := defaultFieldTable.lookup(path[len(prefix):], leafHash); ok {
				v.set(fd, val, rankLeaf)
			}
		}
	}
	return f.Err()
}

// setUserFlat stores val for every field the user mapped key to and reports whether there was one.
func (m *FieldMap) setUserFlat(key []byte, val chunk.Value, v *recordValues) bool {
	matched := false
	for _, u := range m.userFlat {
		if string(key) == u.key {
			v.set(u.field, val, rankUser)
			matched = true
		}
	}
	return matched
}

// isUserPath reports whether the lower-cased dotted path is a key of the user mapping.
func (m *FieldMap) isUserPath(path []byte) bool {
	for _, u := range m.userPath {
		if len(u.key) == len(path) && strings.EqualFold(u.key, string(path)) {
			return true
		}
	}
	return false
}

// set stores val for f unless a value of equal or higher rank is already there.
func (v *recordValues) set(f field, val chunk.Value, rank uint8) {
	if v.rank[f] >= rank {
		return
	}
	if v.rank[f] == rankNone {
		v.found++
	}
	v.val[f], v.rank[f] = val, rank
}

// isLineKey reports whether key names the field where Fluent Bit puts an unparsed log line.
func isLineKey(key []byte) bool {
	switch string(key) {
	case "log", "message", "MESSAGE":
		return true
	}
	return false
}

// appendLowerKey appends key to dst in lower case with '-' turned into '_', and returns the FNV-1a
// hash of the whole path (continuing from prefixHash) and of key alone. It fails if the path grows
// past maxKeyPath, since no default key is that long.
func appendLowerKey(dst []byte, prefixHash uint32, key []byte) (path []byte, pathHash, leafHash uint32, ok bool) {
	if len(dst)+len(key) > maxKeyPath {
		return dst, 0, 0, false
	}
	pathHash, leafHash = prefixHash, fnvOffset
	for _, c := range key {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			c = '_'
		}
		dst = append(dst, c)
		pathHash = (pathHash ^ uint32(c)) * fnvPrime
		leafHash = (leafHash ^ uint32(c)) * fnvPrime
	}
	return dst, pathHash, leafHash, true
}

// Apply fills ev from the fields of record, a msgpack map. It sets ev.Time only when the record
// has a time field that parses, and reports the gateway field's bytes through ctx.Host.
func (m *FieldMap) Apply(record []byte, ctx *ParseContext, ev *ConnEvent) error {
	var v recordValues
	if err := m.collect(record, &v); err != nil {
		return Skip(fieldsFormat, ReasonBadRecord, "", []byte(err.Error()))
	}
	return v.apply(ctx, ev)
}

// apply converts the collected values into ev.
func (v *recordValues) apply(ctx *ParseContext, ev *ConnEvent) error {
	ev.Format = fieldsFormat
	if v.rank[fieldSrc] == rankNone && v.rank[fieldDst] == rankNone {
		if v.found == 0 {
			return &SkipError{Reason: ReasonUnknownFormat}
		}
		return Skip(fieldsFormat, ReasonMissingField, "src", nil)
	}

	var err *SkipError
	ev.Src, err = v.addr(fieldSrc, true)
	if err != nil {
		return err
	}
	if ev.Dst, err = v.addr(fieldDst, true); err != nil {
		return err
	}
	if ev.NATSrc, err = v.addr(fieldNATSrc, false); err != nil {
		return err
	}
	if ev.NATDst, err = v.addr(fieldNATDst, false); err != nil {
		return err
	}

	ports := [...]struct {
		f   field
		dst *uint16
	}{
		{fieldSrcPort, &ev.SrcPort}, {fieldDstPort, &ev.DstPort},
		{fieldNATSrcPort, &ev.NATSrcPort}, {fieldNATDstPort, &ev.NATDstPort},
	}
	for _, p := range ports {
		if *p.dst, err = v.port(p.f); err != nil {
			return err
		}
	}

	if ev.Proto, err = v.proto(); err != nil {
		return err
	}
	if err = v.counters(ev); err != nil {
		return err
	}

	if v.rank[fieldAction] != rankNone {
		ev.Action = actionFromValue(v.val[fieldAction])
	}
	if v.rank[fieldDuration] != rankNone {
		if ev.Duration, err = v.duration(); err != nil {
			return err
		}
	}
	if v.rank[fieldTime] != rankNone {
		if t, ok := valueTime(v.val[fieldTime], ctx); ok {
			ev.Time = t
		}
	}
	if v.rank[fieldGateway] != rankNone && ctx != nil {
		if s := v.val[fieldGateway]; s.Type == chunk.TypeString && !isPlaceholder(s.Str) {
			ctx.Host = s.Str
		}
	}

	clearUntranslated(ev)
	return nil
}

// clearUntranslated drops NAT fields that repeat the pre-NAT tuple. Formats such as ulogd print
// the reply tuple for every connection, translated or not.
func clearUntranslated(ev *ConnEvent) {
	if ev.NATSrc == ev.Src && (ev.NATSrcPort == ev.SrcPort || ev.NATSrcPort == 0) {
		ev.NATSrc, ev.NATSrcPort = netip.Addr{}, 0
	}
	if ev.NATDst == ev.Dst && (ev.NATDstPort == ev.DstPort || ev.NATDstPort == 0) {
		ev.NATDst, ev.NATDstPort = netip.Addr{}, 0
	}
}

// addr converts an address field. A missing or placeholder value gives the zero Addr, which is an
// error when required is set.
func (v *recordValues) addr(f field, required bool) (netip.Addr, *SkipError) {
	val := v.val[f]
	if v.rank[f] == rankNone || val.Type == chunk.TypeNil || (val.Type == chunk.TypeString && isPlaceholder(val.Str)) {
		if required {
			return netip.Addr{}, Skip(fieldsFormat, ReasonMissingField, fieldNames[f], nil)
		}
		return netip.Addr{}, nil
	}
	if val.Type != chunk.TypeString {
		return netip.Addr{}, Skip(fieldsFormat, ReasonBadAddress, fieldNames[f], val.Raw)
	}
	a, ok := parseAddr(val.Str)
	if !ok {
		return netip.Addr{}, Skip(fieldsFormat, ReasonBadAddress, fieldNames[f], val.Str)
	}
	return a, nil
}

// port converts a port field; a missing or placeholder value is 0.
func (v *recordValues) port(f field) (uint16, *SkipError) {
	n, present, ok := v.number(f)
	if !present {
		return 0, nil
	}
	if !ok || n > math.MaxUint16 {
		return 0, Skip(fieldsFormat, ReasonBadNumber, fieldNames[f], valueText(v.val[f]))
	}
	return uint16(n), nil
}

// number converts an unsigned integer field given as a number or a decimal string. present is
// false for a missing field, nil or a placeholder string.
func (v *recordValues) number(f field) (n uint64, present, ok bool) {
	if v.rank[f] == rankNone {
		return 0, false, false
	}
	val := v.val[f]
	switch val.Type {
	case chunk.TypeNil:
		return 0, false, false
	case chunk.TypeString:
		s := trimSpaceBytes(val.Str)
		if isPlaceholder(s) {
			return 0, false, false
		}
		n, ok = parseUint(s)
		return n, true, ok
	}
	n, ok = val.Uint64()
	return n, true, ok
}

// proto converts a protocol given as a number, a decimal string or a name.
func (v *recordValues) proto() (Proto, *SkipError) {
	if v.rank[fieldProto] == rankNone {
		return ProtoUnknown, nil
	}
	val := v.val[fieldProto]
	if val.Type == chunk.TypeString {
		s := trimSpaceBytes(val.Str)
		if isPlaceholder(s) {
			return ProtoUnknown, nil
		}
		if p, ok := protoByName(s); ok {
			return p, nil
		}
	}
	n, present, ok := v.number(fieldProto)
	if !present {
		return ProtoUnknown, nil
	}
	if !ok || n > 255 {
		return ProtoUnknown, Skip(fieldsFormat, ReasonBadNumber, "proto", valueText(val))
	}
	return Proto(n), nil
}

// protoByName returns the protocol a name such as "tcp", "TCP" or "ipv6-icmp" stands for.
func protoByName(b []byte) (Proto, bool) {
	var lower [16]byte
	if len(b) > len(lower) {
		return ProtoUnknown, false
	}
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(b)]) {
	case "tcp":
		return ProtoTCP, true
	case "udp":
		return ProtoUDP, true
	case "icmp":
		return ProtoICMP, true
	case "icmpv6", "ipv6-icmp", "icmp6":
		return ProtoICMPv6, true
	case "gre":
		return ProtoGRE, true
	case "esp":
		return ProtoESP, true
	case "ah":
		return Proto(51), true
	case "sctp":
		return ProtoSCTP, true
	case "udplite":
		return Proto(136), true
	}
	return ProtoUnknown, false
}

// counters fills the byte and packet counters. A record with any counter carries totals for the
// connection (CountersTotal). A total without a direction ("bytes") counts as original-direction
// traffic when the record has no per-direction counter of its own.
func (v *recordValues) counters(ev *ConnEvent) *SkipError {
	targets := [...]struct {
		f   field
		dst *uint64
	}{
		{fieldOrigBytes, &ev.OrigBytes}, {fieldReplyBytes, &ev.ReplyBytes},
		{fieldOrigPackets, &ev.OrigPackets}, {fieldReplyPackets, &ev.ReplyPackets},
	}
	var hasAny bool
	var hasBytes, hasPackets bool
	for i, t := range targets {
		n, present, ok := v.number(t.f)
		if !present {
			continue
		}
		if !ok {
			return Skip(fieldsFormat, ReasonBadNumber, fieldNames[t.f], valueText(v.val[t.f]))
		}
		*t.dst = n
		hasAny = true
		if i < 2 {
			hasBytes = true
		} else {
			hasPackets = true
		}
	}

	totals := [...]struct {
		f    field
		dst  *uint64
		skip bool
	}{
		{fieldBytes, &ev.OrigBytes, hasBytes}, {fieldPackets, &ev.OrigPackets, hasPackets},
	}
	for _, t := range totals {
		n, present, ok := v.number(t.f)
		if !present || t.skip {
			continue
		}
		if !ok {
			return Skip(fieldsFormat, ReasonBadNumber, fieldNames[t.f], valueText(v.val[t.f]))
		}
		*t.dst = n
		hasAny = true
	}

	if hasAny {
		ev.Counters = CountersTotal
	}
	return nil
}

// duration converts a duration in seconds, given as an integer, a float or a decimal string.
func (v *recordValues) duration() (time.Duration, *SkipError) {
	val := v.val[fieldDuration]
	switch val.Type {
	case chunk.TypeNil:
		return 0, nil
	case chunk.TypeFloat:
		if !(val.Float >= 0 && val.Float < math.MaxInt64/float64(time.Second)) {
			return 0, Skip(fieldsFormat, ReasonBadNumber, "duration", valueText(val))
		}
		return time.Duration(math.Round(val.Float*1e6)) * time.Microsecond, nil
	case chunk.TypeString:
		s := trimSpaceBytes(val.Str)
		if isPlaceholder(s) {
			return 0, nil
		}
		d, ok := parseSeconds(s)
		if !ok {
			return 0, Skip(fieldsFormat, ReasonBadNumber, "duration", s)
		}
		return d, nil
	}
	n, ok := val.Uint64()
	if !ok || n > math.MaxInt64/uint64(time.Second) {
		return 0, Skip(fieldsFormat, ReasonBadNumber, "duration", valueText(val))
	}
	return time.Duration(n) * time.Second, nil
}

// parseSeconds reads "1908" or "0.043718" as a duration in seconds.
func parseSeconds(b []byte) (time.Duration, bool) {
	intEnd := 0
	for intEnd < len(b) && b[intEnd] >= '0' && b[intEnd] <= '9' {
		intEnd++
	}
	whole, ok := parseUint(b[:intEnd])
	if !ok || whole > math.MaxInt64/uint64(time.Second) {
		return 0, false
	}
	nsec, end := parseFraction(b, intEnd)
	if end != len(b) {
		return 0, false
	}
	return time.Duration(whole)*time.Second + time.Duration(nsec), true
}

// valueTime converts a time field: an RFC 3339-like string, an epoch number (s, ms, µs or ns) as a
// number or a string, or a syslog "Mar 14 02:17:43" stamp.
func valueTime(val chunk.Value, ctx *ParseContext) (time.Time, bool) {
	switch val.Type {
	case chunk.TypeString:
		s := trimSpaceBytes(val.Str)
		if t, n, ok := parseISOTime(s, ctx.location()); ok && n == len(s) {
			return t, true
		}
		if t, ok := parseEpoch(s); ok {
			return t, true
		}
		if t, n, ok := parseBSDTime(s, ctx); ok && n == len(s) {
			return t, true
		}
	case chunk.TypeFloat:
		f := val.Float
		// A float64 holds an epoch in seconds to about 0.2 µs, so the fraction is rounded to
		// whole microseconds, the precision Zeek and ulogd print.
		if f > 0 && f < 1e11 {
			sec := math.Floor(f)
			usec := math.Round((f - sec) * 1e6)
			return time.Unix(int64(sec), int64(usec)*1000).UTC(), true
		}
	case chunk.TypeExt:
		return time.Time{}, false
	default:
		if n, ok := val.Uint64(); ok && n > 0 {
			return epochTime(n), true
		}
	}
	return time.Time{}, false
}

// actionFromValue maps an action field's value to an Action, matching words in any letter case.
// Accept, allow, permit and pass mean accept, and so do FortiGate's close, timeout, client-rst
// and server-rst, which end an accepted session. Deny, drop, block and discard mean drop. Reject
// and reset mean reject. Other text goes through actionFromText.
func actionFromValue(val chunk.Value) Action {
	if val.Type != chunk.TypeString {
		return ActionUnknown
	}
	s := trimSpaceBytes(val.Str)
	var lower [24]byte
	if len(s) > len(lower) {
		return actionFromText(s)
	}
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(s)]) {
	case "accept", "accepted", "allow", "allowed", "permit", "permitted", "pass", "ok",
		"close", "timeout", "start", "server-rst", "client-rst":
		return ActionAccept
	case "deny", "denied", "drop", "dropped", "block", "blocked", "discard", "discarded":
		return ActionDrop
	case "reject", "rejected", "reset", "reset-both", "reset-client", "reset-server":
		return ActionReject
	}
	return actionFromText(s)
}

// isPlaceholder reports whether a string value stands for "no value".
func isPlaceholder(b []byte) bool {
	switch string(b) {
	case "", "-", "N/A", "n/a", "NA", "None", "none", "null", "(null)", "UNKNOWN", "unknown", "-@-":
		return true
	}
	return false
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// valueText returns a value as text for an error message. It allocates for numbers, which is
// acceptable on the error path.
func valueText(val chunk.Value) []byte {
	switch val.Type {
	case chunk.TypeString:
		return val.Str
	case chunk.TypeUint:
		return strconv.AppendUint(nil, val.Uint, 10)
	case chunk.TypeInt:
		return strconv.AppendInt(nil, val.Int, 10)
	case chunk.TypeFloat:
		return strconv.AppendFloat(nil, val.Float, 'g', -1, 64)
	case chunk.TypeBool:
		return strconv.AppendBool(nil, val.Bool)
	}
	return []byte(val.Type.String())
}
