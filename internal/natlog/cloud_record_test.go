package natlog

import (
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// decodeOne returns the single event of a chunk built with chunk.AppendEventV2.
func decodeOne(t *testing.T, record map[string]any) chunk.Event {
	t.Helper()
	data := chunk.AppendEventV2(nil, testNow, record)
	r := chunk.NewReader(data)
	var ev chunk.Event
	if !r.Next(&ev) {
		t.Fatalf("chunk holds no event: %v", r.Err())
	}
	return ev
}

// TestCloudRecordsParsedByFluentBit checks the default field mapping on records that Fluent Bit
// already parsed from the cloud and flow-log formats.
func TestCloudRecordsParsedByFluentBit(t *testing.T) {
	tests := []struct {
		name   string
		record map[string]any
		want   ConnEvent
	}{
		{
			name: "Zeek conn.log JSON",
			record: map[string]any{
				"ts": 1741889863.118407, "uid": "CUM0KZ3MLUfNB0cl11", "id.orig_h": "198.51.100.77", "id.orig_p": 61022,
				"id.resp_h": "10.20.4.37", "id.resp_p": 3389, "proto": "tcp", "conn_state": "S0", "orig_pkts": 1, "resp_pkts": 0,
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:17:43.118407Z"), Gateway: "tag", Format: "fields", Proto: ProtoTCP,
				Src: addr("198.51.100.77"), Dst: addr("10.20.4.37"), SrcPort: 61022, DstPort: 3389,
				Direction: DirectionInbound, Counters: CountersTotal, OrigPackets: 1,
			},
		},
		{
			name: "AWS VPC flow log fields",
			record: map[string]any{
				"version": "2", "account-id": "111122223333", "interface-id": "eni-0c4d2e9f7a1b3c5d6",
				"srcaddr": "10.20.4.37", "dstaddr": "10.20.0.220", "srcport": "52144", "dstport": "443", "protocol": "6",
				"packets": "9420", "bytes": "13937644", "start": "1741890001", "end": "1741890060", "action": "ACCEPT", "log-status": "OK",
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:20:01Z"), Gateway: "eni-0c4d2e9f7a1b3c5d6", Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("10.20.0.220"), SrcPort: 52144, DstPort: 443,
				Direction: DirectionInternal, Action: ActionAccept, Counters: CountersTotal, OrigBytes: 13937644, OrigPackets: 9420,
			},
		},
		{
			name: "GCP Cloud NAT dropped",
			record: map[string]any{
				"jsonPayload": map[string]any{
					"connection":          map[string]any{"src_ip": "10.20.7.12", "src_port": 53012, "dest_ip": "192.0.2.53", "dest_port": 53, "protocol": 17, "nat_ip": "203.0.113.10", "nat_port": 0},
					"allocation_status":   "DROPPED",
					"gateway_identifiers": map[string]any{"gateway_name": "nat-egress-1"},
				},
				"timestamp": "2025-03-13T18:44:11Z",
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:44:11Z"), Gateway: "nat-egress-1", Format: "fields", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53012, DstPort: 53, NATSrc: addr("203.0.113.10"),
				Direction: DirectionOutbound, Action: ActionDrop,
			},
		},
		{
			name: "Alibaba VPC flow log fields",
			record: map[string]any{
				"__topic__": "flow_log", "eni-id": "eni-bp1a3s5d7f9g1h3j5k7l", "srcaddr": "198.51.100.77", "srcport": "61022",
				"dstaddr": "10.20.4.37", "dstport": "3389", "protocol": "6", "direction": "in", "packets": "1", "bytes": "60",
				"start": "1741889863", "end": "1741889923", "log-status": "OK", "action": "REJECT",
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:17:43Z"), Gateway: "eni-bp1a3s5d7f9g1h3j5k7l", Format: "fields", Proto: ProtoTCP,
				Src: addr("198.51.100.77"), Dst: addr("10.20.4.37"), SrcPort: 61022, DstPort: 3389,
				Direction: DirectionInbound, Action: ActionReject, Counters: CountersTotal, OrigBytes: 60, OrigPackets: 1,
			},
		},
		{
			name: "Alibaba NAT session with the reference's spelling",
			record: map[string]any{
				"intstance": "ngw-bp1x2c3v4b5n6m7a8s9d", "portocol": "17", "pri_ip": "10.20.7.12", "pri_port": "53011",
				"pub_ip": "192.0.2.53", "pub_port": "53", "nat_ip": "203.0.113.10", "nat_port": "1031",
				"bytes_from_vpc": "61", "bytes_from_pub": "231", "start_time": "1741891450", "end_time": "1741891480",
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:44:10Z"), Gateway: "tag", Format: "fields", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53011, DstPort: 53,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 1031, Direction: DirectionOutbound,
				Counters: CountersTotal, OrigBytes: 61, ReplyBytes: 231,
			},
		},
		{
			name: "ulogd NFCT JSON fields",
			record: map[string]any{
				"orig.ip.protocol": 6, "orig.l4.sport": 52144, "orig.l4.dport": 443, "orig.raw.pktlen": 431877602,
				"reply.raw.pktlen": 9913021, "ct.event": 4, "flow.start.sec": 1741889359, "orig.ip.saddr.str": "10.20.4.37",
				"orig.ip.daddr.str": "198.51.100.23", "reply.ip.saddr.str": "198.51.100.23", "reply.ip.daddr.str": "203.0.113.10",
				"reply.l4.sport": 443, "reply.l4.dport": 41877,
			},
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:19Z"), Gateway: "tag", Format: "fields", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877, Direction: DirectionOutbound,
				Counters: CountersTotal, OrigBytes: 431877602, ReplyBytes: 9913021,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNormalizer(t, Options{InternalNets: officeNets})
			var ev ConnEvent
			if err := n.Record(decodeOne(t, tt.record), "tag", &ev); err != nil {
				t.Fatal(err)
			}
			checkEvent(t, ev, tt.want)
		})
	}
}

// TestRecordAllAzureLine checks that a record whose log field holds an Azure flow log document
// yields one event per tuple, with the gateway from the resource id.
func TestRecordAllAzureLine(t *testing.T) {
	line := `{"records":[{"resourceId":"/SUBSCRIPTIONS/X/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/EDGE-NSG","properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1741889359,10.20.4.37,198.51.100.23,52144,443,T,O,A,B,,,,","1741889659,10.20.4.37,198.51.100.23,52144,443,T,O,A,C,1210,1790466,980,61022","1741889863,198.51.100.77,10.20.4.37,61022,3389,T,I,D,B,,,,"]}]}]}}]}`
	n := newTestNormalizer(t, Options{InternalNets: officeNets})

	var got []ConnEvent
	var ev ConnEvent
	err := n.RecordAll(decodeOne(t, map[string]any{"log": line}), "azure.tag", &ev, func(e *ConnEvent) *ConnEvent {
		got = append(got, *e)
		return e
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("events = %d, want 3", len(got))
	}
	want := []struct {
		kind     Kind
		action   Action
		counters Counters
		bytes    uint64
		at       time.Time
	}{
		{KindStart, ActionAccept, CountersNone, 0, time.Unix(1741889359, 0).UTC()},
		{KindInterim, ActionAccept, CountersDelta, 1790466 + 61022, time.Unix(1741889659, 0).UTC()},
		{KindStart, ActionDrop, CountersNone, 0, time.Unix(1741889863, 0).UTC()},
	}
	for i, w := range want {
		e := got[i]
		if e.Kind != w.kind || e.Action != w.action || e.Counters != w.counters || e.Bytes() != w.bytes || !e.Time.Equal(w.at) {
			t.Errorf("event %d: kind %s, action %s, counters %d, bytes %d, time %v; want %s, %s, %d, %d, %v",
				i, e.Kind, e.Action, e.Counters, e.Bytes(), e.Time, w.kind, w.action, w.counters, w.bytes, w.at)
		}
		if e.Gateway != "EDGE-NSG" || e.Format != "azure" || e.RawKind != RawLine {
			t.Errorf("event %d: gateway %q, format %q, raw kind %d; want EDGE-NSG, azure, RawLine", i, e.Gateway, e.Format, e.RawKind)
		}
	}
	if stats := n.Stats(); stats.Read != 1 || stats.Parsed["azure"] != 3 {
		t.Errorf("read %d, parsed %d; want 1 record and 3 events", stats.Read, stats.Parsed["azure"])
	}
}

// TestRecordAllSingleEventNoAllocs checks that RecordAll on a one-connection line fills the
// caller's event in place and allocates nothing.
func TestRecordAllSingleEventNoAllocs(t *testing.T) {
	n := newTestNormalizer(t, Options{InternalNets: officeNets})
	rec := decodeOne(t, map[string]any{"log": "2 111122223333 eni-0c4d2e9f7a1b3c5d6 10.20.4.37 10.20.0.220 52144 443 6 9420 13937644 1741890001 1741890060 ACCEPT OK"})
	var ev ConnEvent
	calls := 0
	emit := func(e *ConnEvent) *ConnEvent {
		if e != &ev {
			t.Errorf("emit got another event than the one passed in")
		}
		calls++
		return e
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := n.RecordAll(rec, "tag", &ev, emit); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("RecordAll allocates %.1f times, want 0", allocs)
	}
	if calls != 101 || ev.Format != "awsvpc" {
		t.Errorf("emit calls %d, format %q; want 101, awsvpc", calls, ev.Format)
	}
}
