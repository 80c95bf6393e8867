package natlog

import (
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

func TestFieldMapApply(t *testing.T) {
	tests := []struct {
		name   string
		user   map[string]string
		record map[string]any
		host   string
		want   ConnEvent
	}{
		{
			name: "FortiGate key=value",
			record: map[string]any{
				"devname": "FGT-EDGE-01", "eventtime": uint64(1741891267381924511), "srcip": "10.20.4.37",
				"srcport": 52144, "dstip": "198.51.100.23", "dstport": 443, "proto": 6, "action": "close",
				"transip": "203.0.113.10", "transport": 41877, "duration": 1908, "sentbyte": 431877602,
				"rcvdbyte": 9913021, "sentpkt": 291877, "rcvdpkt": 150233, "policyid": 12,
			},
			host: "FGT-EDGE-01",
			want: ConnEvent{
				Time: utc("2025-03-13T18:41:07.381924511Z"), Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877, Action: ActionAccept,
				Counters: CountersTotal, OrigBytes: 431877602, ReplyBytes: 9913021,
				OrigPackets: 291877, ReplyPackets: 150233, Duration: 1908 * time.Second,
			},
		},
		{
			name: "Zeek conn.log JSON",
			record: map[string]any{
				"ts": 1741889359.402211, "uid": "CwvS9b3Mvk0Vd4xA5", "id.orig_h": "10.20.4.37", "id.orig_p": 52144,
				"id.resp_h": "198.51.100.23", "id.resp_p": 443, "proto": "tcp", "duration": 1908.51,
				"orig_bytes": 431800000, "resp_bytes": 9900000, "conn_state": "SF", "orig_pkts": 291877, "resp_pkts": 150233,
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:19.402211Z"), Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				Counters: CountersTotal, OrigBytes: 431800000, ReplyBytes: 9900000,
				OrigPackets: 291877, ReplyPackets: 150233, Duration: 1908*time.Second + 510*time.Millisecond,
			},
		},
		{
			name: "GCP Cloud NAT nested connection",
			record: map[string]any{
				"jsonPayload": map[string]any{
					"connection": map[string]any{
						"src_ip": "10.20.4.37", "src_port": 52144, "dest_ip": "198.51.100.23", "dest_port": 443,
						"protocol": 6, "nat_ip": "203.0.113.10", "nat_port": 41877,
					},
					"allocation_status":   "OK",
					"gateway_identifiers": map[string]any{"gateway_name": "nat-egress-1"},
				},
				"timestamp": "2025-03-13T18:09:19.402211903Z",
			},
			host: "nat-egress-1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:19.402211903Z"), Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877, Action: ActionAccept,
			},
		},
		{
			name: "Alibaba NAT session, all strings",
			record: map[string]any{
				"protocol": "6", "pri_ip": "10.20.4.37", "pri_port": "52144", "pub_ip": "198.51.100.23",
				"pub_port": "443", "nat_ip": "203.0.113.10", "nat_port": "41877", "bytes_from_pub": "3120047",
				"pkts_from_pub": "47380", "bytes_from_vpc": "135903311", "pkts_from_vpc": "91944",
			},
			want: ConnEvent{
				Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877, Counters: CountersTotal,
				OrigBytes: 135903311, ReplyBytes: 3120047, OrigPackets: 91944, ReplyPackets: 47380,
			},
		},
		{
			name: "ulogd NFCT JSON with zone without colon",
			record: map[string]any{
				"timestamp": "2025-03-14T02:44:40+0800", "orig.ip.protocol": 17, "orig.l4.sport": 53011,
				"orig.l4.dport": 53, "orig.raw.pktlen": 61, "orig.raw.pktcount": 1, "reply.l4.sport": 53,
				"reply.l4.dport": 1031, "reply.raw.pktlen": 231, "reply.raw.pktcount": 1, "src_ip": "10.20.7.12",
				"dest_ip": "192.0.2.53", "reply.ip.saddr.str": "192.0.2.53", "reply.ip.daddr.str": "203.0.113.10",
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:44:40Z"), Format: "fields", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53011, DstPort: 53,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 1031, Counters: CountersTotal,
				OrigBytes: 61, ReplyBytes: 231, OrigPackets: 1, ReplyPackets: 1,
			},
		},
		{
			name: "ECS nested source and destination",
			record: map[string]any{
				"@timestamp":  "2025-03-14T02:17:43.113Z",
				"source":      map[string]any{"ip": "198.51.100.77", "port": 61022, "bytes": 44, "packets": 1},
				"destination": map[string]any{"ip": "203.0.113.10", "port": 3389},
				"network":     map[string]any{"transport": "TCP"},
				"observer":    map[string]any{"name": "edge-gw01"},
			},
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T02:17:43.113Z"), Format: "fields", Proto: ProtoTCP,
				Src: addr("198.51.100.77"), Dst: addr("203.0.113.10"), SrcPort: 61022, DstPort: 3389,
				Counters: CountersTotal, OrigBytes: 44, OrigPackets: 1,
			},
		},
		{
			name: "upper-case kernel names and a DENY action",
			record: map[string]any{
				"SRC": "2001:db8:aa::77", "DST": "2001:db8:1::10", "SPT": "61022", "DPT": "22",
				"PROTO": "TCP", "Action": "DENY", "Source-Port": "1",
			},
			want: ConnEvent{
				Format: "fields", Proto: ProtoTCP, Src: addr("2001:db8:aa::77"), Dst: addr("2001:db8:1::10"),
				SrcPort: 61022, DstPort: 22, Action: ActionDrop,
			},
		},
		{
			name: "placeholders read as absent",
			record: map[string]any{
				"src_ip": "10.20.4.37", "dst_ip": "198.51.100.23", "src_port": "-", "dst_port": 443,
				"nat_src": "-", "nat_sport": "N/A", "protocol": "(null)", "bytes": nil, "action": "ACCEPT",
			},
			want: ConnEvent{
				Format: "fields", Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), DstPort: 443,
				Action: ActionAccept,
			},
		},
		{
			name: "total bytes and packets without direction",
			record: map[string]any{
				"srcaddr": "10.20.4.37", "dstaddr": "198.51.100.23", "srcport": 52144, "dstport": 443,
				"protocol": 6, "bytes": 8400, "packets": 12, "time": 1741889359,
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:19Z"), Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				Counters: CountersTotal, OrigBytes: 8400, OrigPackets: 12,
			},
		},
		{
			name: "untranslated reply tuple is not NAT",
			record: map[string]any{
				"src_ip": "10.20.7.12", "dest_ip": "10.20.9.1", "orig.l4.sport": 40000, "orig.l4.dport": 53,
				"reply.ip.saddr.str": "10.20.9.1", "reply.ip.daddr.str": "10.20.7.12",
				"reply.l4.sport": 53, "reply.l4.dport": 40000,
			},
			want: ConnEvent{
				Format: "fields", Src: addr("10.20.7.12"), Dst: addr("10.20.9.1"), SrcPort: 40000, DstPort: 53,
			},
		},
		{
			name: "user mapping beats defaults and descends paths",
			user: map[string]string{"src": "client.addr", "dst": "server", "dport": "svc_port", "gateway": "fw", "time": "seen"},
			record: map[string]any{
				"client": map[string]any{"addr": "10.1.2.3"}, "server": "192.0.2.80", "svc_port": "8080",
				"src_ip": "10.9.9.9", "dst_port": 1, "fw": "edge-b", "host": "collector-1",
				"seen": "2025-03-14 02:00:00",
			},
			host: "edge-b",
			want: ConnEvent{
				Time: utc("2025-03-14T02:00:00Z"), Format: "fields",
				Src: addr("10.1.2.3"), Dst: addr("192.0.2.80"), DstPort: 8080,
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewFieldMap(tt.user)
			if err != nil {
				t.Fatal(err)
			}
			record := chunk.AppendMap(nil, tt.record)
			ctx := ParseContext{Now: testNow}
			var ev ConnEvent
			if err := m.Apply(record, &ctx, &ev); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			checkEvent(t, ev, tt.want)
			if string(ctx.Host) != tt.host {
				t.Errorf("Host = %q, want %q", ctx.Host, tt.host)
			}
		})
	}
}

func TestFieldMapApplyErrors(t *testing.T) {
	tests := []struct {
		name   string
		record map[string]any
		reason Reason
		field  string
	}{
		{"no known field", map[string]any{"foo": "bar", "n": 1}, ReasonUnknownFormat, ""},
		{"destination missing", map[string]any{"src": "10.0.0.1", "dport": 22}, ReasonMissingField, "dst"},
		{"only counters", map[string]any{"bytes": 1, "packets": 1}, ReasonMissingField, "src"},
		{"bad source", map[string]any{"src": "10.0.0.256", "dst": "10.0.0.2"}, ReasonBadAddress, "src"},
		{"address as number", map[string]any{"src": 167772161, "dst": "10.0.0.2"}, ReasonBadAddress, "src"},
		{"bad port", map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "dport": "ssh"}, ReasonBadNumber, "dport"},
		{"port too large", map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "sport": 65536}, ReasonBadNumber, "sport"},
		{"negative bytes", map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "sentbyte": -5}, ReasonBadNumber, "orig_bytes"},
		{"unknown protocol name", map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "proto": "carrier-pigeon"}, ReasonBadNumber, "proto"},
		{"bad duration", map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "duration": "1h"}, ReasonBadNumber, "duration"},
	}
	m, err := NewFieldMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev ConnEvent
			err := m.Apply(chunk.AppendMap(nil, tt.record), &ParseContext{}, &ev)
			skip, ok := err.(*SkipError)
			if !ok {
				t.Fatalf("Apply error = %v (%T), want *SkipError", err, err)
			}
			if skip.Reason != tt.reason {
				t.Errorf("Reason = %s, want %s (%v)", skip.Reason, tt.reason, err)
			}
			if skip.Field != tt.field {
				t.Errorf("Field = %q, want %q", skip.Field, tt.field)
			}
		})
	}
}

func TestFieldMapApplyMalformedRecord(t *testing.T) {
	m, _ := NewFieldMap(nil)
	record := chunk.AppendMap(nil, map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2"})
	var ev ConnEvent
	err := m.Apply(record[:len(record)-3], &ParseContext{}, &ev)
	skip, ok := err.(*SkipError)
	if !ok || skip.Reason != ReasonBadRecord {
		t.Fatalf("Apply error = %v, want bad_record", err)
	}
}

func TestFieldMapTimeFormats(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	tests := []struct {
		value any
		want  time.Time
	}{
		{"2025-03-14T02:41:07+08:00", utc("2025-03-13T18:41:07Z")},
		{"2025-03-14T02:41:07.5+0800", utc("2025-03-13T18:41:07.5Z")},
		{"2025-03-14 02:41:07", utc("2025-03-13T18:41:07Z")}, // zone-less: Location
		{"1741891267", utc("2025-03-13T18:41:07Z")},
		{"1741891267.250", utc("2025-03-13T18:41:07.25Z")},
		{uint64(1741891267381), utc("2025-03-13T18:41:07.381Z")},
		{uint64(1741891267381924), utc("2025-03-13T18:41:07.381924Z")},
		{uint64(1741891267381924511), utc("2025-03-13T18:41:07.381924511Z")},
		{1741891267.5, utc("2025-03-13T18:41:07.5Z")},
		{"Mar 14 02:41:07", utc("2025-03-13T18:41:07Z")},
	}
	m, _ := NewFieldMap(nil)
	for _, tt := range tests {
		record := chunk.AppendMap(nil, map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "time": tt.value})
		ctx := ParseContext{Now: testNow, Location: shanghai}
		var ev ConnEvent
		if err := m.Apply(record, &ctx, &ev); err != nil {
			t.Fatalf("time %v: %v", tt.value, err)
		}
		if !ev.Time.Equal(tt.want) {
			t.Errorf("time %#v: Time = %v, want %v", tt.value, ev.Time.UTC(), tt.want)
		}
	}
}

func TestFieldMapUnparsableTimeIgnored(t *testing.T) {
	m, _ := NewFieldMap(nil)
	record := chunk.AppendMap(nil, map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "time": "yesterday"})
	var ev ConnEvent
	if err := m.Apply(record, &ParseContext{}, &ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Time.IsZero() {
		t.Errorf("Time = %v, want zero", ev.Time)
	}
}

func TestNewFieldMapErrors(t *testing.T) {
	tests := []struct {
		user map[string]string
		want string
	}{
		{map[string]string{"source": "src_ip"}, `unknown field "source"`},
		{map[string]string{"dport": ""}, `field "dport": empty record key`},
	}
	for _, tt := range tests {
		_, err := NewFieldMap(tt.user)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewFieldMap(%v) error = %v, want it to contain %q", tt.user, err, tt.want)
		}
	}
}

func TestFieldNamesAcceptedByNewFieldMap(t *testing.T) {
	user := map[string]string{}
	for _, name := range FieldNames() {
		user[name] = "k_" + name
	}
	if len(user) != 19 {
		t.Errorf("FieldNames has %d names, want 19", len(user))
	}
	if _, err := NewFieldMap(user); err != nil {
		t.Fatal(err)
	}
}
