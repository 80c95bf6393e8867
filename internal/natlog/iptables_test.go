package natlog

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// testNow is the reference time for year inference in parser tests.
var testNow = time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// checkEvent compares got with want field by field, ignoring Raw and comparing times as instants.
func checkEvent(t *testing.T, got, want ConnEvent) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	got.Raw, got.RawKind = nil, RawNone
	want.Raw, want.RawKind = nil, RawNone
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event mismatch\n got  %+v\n want %+v", got, want)
	}
}

const scanMAC = "MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00"

func TestIPTablesParse(t *testing.T) {
	scan := ConnEvent{
		Time: utc("2025-03-14T02:17:43Z"), Format: "iptables", Proto: ProtoTCP,
		Src: addr("198.51.100.77"), Dst: addr("203.0.113.10"), SrcPort: 61022, DstPort: 3389,
		Action: ActionDrop, Kind: KindPacket, Flags: FlagSYN, Counters: CountersPacket,
		OrigBytes: 44, OrigPackets: 1, TTL: 49, HasIPID: true, IPID: 54321,
	}
	scanFields := "IN=eth0 OUT= " + scanMAC + " SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0 "
	noTime := func(e ConnEvent) ConnEvent { e.Time = time.Time{}; return e }
	withAction := func(e ConnEvent, a Action) ConnEvent { e.Action = a; return e }

	tests := []struct {
		name string
		line string
		host string
		want ConnEvent
	}{
		{
			name: "kern.log TCP SYN",
			line: "Mar 14 02:17:43 edge-gw01 kernel: [884512.113207] DROP " + scanFields,
			host: "edge-gw01",
			want: scan,
		},
		{
			name: "header stripped at uptime",
			line: "[884512.113207] DROP " + scanFields,
			want: noTime(scan),
		},
		{
			name: "header stripped at UFW prefix",
			line: "[UFW BLOCK] " + scanFields,
			want: noTime(scan),
		},
		{
			name: "header stripped at IN",
			line: scanFields,
			want: withAction(noTime(scan), ActionUnknown),
		},
		{
			name: "padded uptime and ACCEPT prefix",
			line: "Mar 14 02:17:43 edge-gw01 kernel: [   12.345678] FW-ACCEPT " + scanFields,
			host: "edge-gw01",
			want: withAction(scan, ActionAccept),
		},
		{
			name: "nft prefix with colon and REJECT",
			line: "Mar 14 02:17:43 edge-gw01 kernel: nft reject: " + scanFields,
			host: "edge-gw01",
			want: withAction(scan, ActionReject),
		},
		{
			name: "UFW ALLOW lower case",
			line: "Mar 14 02:17:43 edge-gw01 kernel: [ufw allow] " + scanFields,
			host: "edge-gw01",
			want: withAction(scan, ActionAccept),
		},
		{
			name: "rsyslog RFC 3339 header",
			line: "2025-03-14T02:17:43.123456+08:00 edge-gw01 kernel: [884512.113207] nft drop: " + scanFields,
			host: "edge-gw01",
			want: func() ConnEvent { e := scan; e.Time = utc("2025-03-13T18:17:43.123456Z"); return e }(),
		},
		{
			name: "journald short-iso zone without colon",
			line: "2025-03-14T02:17:43+0800 edge-gw01 kernel: DROP " + scanFields,
			host: "edge-gw01",
			want: func() ConnEvent { e := scan; e.Time = utc("2025-03-13T18:17:43Z"); return e }(),
		},
		{
			name: "journald short-precise",
			line: "Mar 14 02:17:43.113207 edge-gw01 kernel: DROP " + scanFields,
			host: "edge-gw01",
			want: func() ConnEvent { e := scan; e.Time = utc("2025-03-14T02:17:43.113207Z"); return e }(),
		},
		{
			name: "priority and space-padded day",
			line: "<4>Mar  4 02:17:43 edge-gw01 kernel: DROP " + scanFields,
			host: "edge-gw01",
			want: func() ConnEvent { e := scan; e.Time = utc("2025-03-04T02:17:43Z"); return e }(),
		},
		{
			name: "RFC 5424",
			line: "<4>1 2025-03-14T02:17:43.5Z edge-gw01 kernel - - - [884512.113207] DROP " + scanFields,
			host: "edge-gw01",
			want: func() ConnEvent { e := scan; e.Time = utc("2025-03-14T02:17:43.5Z"); return e }(),
		},
		{
			name: "placeholder host",
			line: "Mar 14 02:17:43 - kernel: DROP " + scanFields,
			want: scan,
		},
		{
			name: "no host before tag",
			line: "Mar 14 02:17:43 kernel: DROP " + scanFields,
			want: scan,
		},
		{
			name: "UDP prints LEN twice",
			line: "Mar 14 02:44:40 edge-gw01 kernel: [885929.004411] OUT-LOG IN=eth1 OUT=eth0 SRC=10.20.7.12 DST=192.0.2.53 LEN=61 TOS=0x00 PREC=0x00 TTL=63 ID=40021 DF PROTO=UDP SPT=53011 DPT=53 LEN=41 ",
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T02:44:40Z"), Format: "iptables", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53011, DstPort: 53,
				Kind: KindPacket, Counters: CountersPacket, OrigBytes: 61, OrigPackets: 1,
				TTL: 63, HasIPID: true, IPID: 40021,
			},
		},
		{
			name: "ICMP echo with its own ID",
			line: "Mar 14 03:10:02 edge-gw01 kernel: [887451.229817] DROP IN=eth0 OUT= " + scanMAC + " SRC=198.51.100.77 DST=203.0.113.10 LEN=84 TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=2931 SEQ=1 ",
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T03:10:02Z"), Format: "iptables", Proto: ProtoICMP,
				Src: addr("198.51.100.77"), Dst: addr("203.0.113.10"),
				Action: ActionDrop, Kind: KindPacket, Counters: CountersPacket, OrigBytes: 84, OrigPackets: 1,
				TTL: 52, HasIPID: true, IPID: 0, HasICMP: true, ICMPType: 8,
			},
		},
		{
			name: "ICMP error quoting the inner packet",
			line: "Mar 14 03:10:05 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=192.0.2.1 DST=203.0.113.10 LEN=72 TOS=0x00 PREC=0xC0 TTL=254 ID=7123 PROTO=ICMP TYPE=3 CODE=3 [SRC=203.0.113.10 DST=192.0.2.1 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=33434 DPT=33435 LEN=24 ] ",
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T03:10:05Z"), Format: "iptables", Proto: ProtoICMP,
				Src: addr("192.0.2.1"), Dst: addr("203.0.113.10"),
				Action: ActionDrop, Kind: KindPacket, Counters: CountersPacket, OrigBytes: 72, OrigPackets: 1,
				TTL: 254, HasIPID: true, IPID: 7123, HasICMP: true, ICMPType: 3, ICMPCode: 3,
			},
		},
		{
			name: "ICMPv6 echo",
			line: "Mar 14 03:11:40 edge-gw01 kernel: [887549.001002] DROP IN=eth0 OUT= SRC=2001:db8:aa::77 DST=2001:db8:1::10 LEN=104 TC=0 HOPLIMIT=57 FLOWLBL=318921 PROTO=ICMPv6 TYPE=128 CODE=0 ID=17 SEQ=4 ",
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T03:11:40Z"), Format: "iptables", Proto: ProtoICMPv6,
				Src: addr("2001:db8:aa::77"), Dst: addr("2001:db8:1::10"),
				Action: ActionDrop, Kind: KindPacket, Counters: CountersPacket, OrigBytes: 104, OrigPackets: 1,
				TTL: 57, HasICMP: true, ICMPType: 128,
			},
		},
		{
			name: "IPv6 TCP with ACK PSH",
			line: "Mar 14 03:12:00 edge-gw01 kernel: ACCEPT IN=eth1 OUT=eth0 SRC=2001:db8:1::37 DST=2001:db8:ff::23 LEN=1280 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=52144 DPT=443 WINDOW=501 RES=0x00 ACK PSH URGP=0 ",
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T03:12:00Z"), Format: "iptables", Proto: ProtoTCP,
				Src: addr("2001:db8:1::37"), Dst: addr("2001:db8:ff::23"), SrcPort: 52144, DstPort: 443,
				Action: ActionAccept, Kind: KindPacket, Flags: FlagACK | FlagPSH, Counters: CountersPacket,
				OrigBytes: 1280, OrigPackets: 1, TTL: 64,
			},
		},
		{
			name: "sequence numbers are not flags",
			line: "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=40 TOS=0x00 PREC=0x00 TTL=49 ID=1 PROTO=TCP SPT=61022 DPT=22 SEQ=3112 ACK=0 WINDOW=1024 RES=0x00 CWR ECE URG ACK PSH RST SYN FIN URGP=0 ",
			want: ConnEvent{
				Format: "iptables", Proto: ProtoTCP,
				Src: addr("198.51.100.77"), Dst: addr("203.0.113.10"), SrcPort: 61022, DstPort: 22,
				Kind: KindPacket, Flags: 0xff, Counters: CountersPacket,
				OrigBytes: 40, OrigPackets: 1, TTL: 49, HasIPID: true, IPID: 1,
			},
		},
		{
			name: "GRE as a number",
			line: "Mar 14 03:20:00 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=192.0.2.9 DST=203.0.113.10 LEN=96 TOS=0x00 PREC=0x00 TTL=250 ID=0 DF PROTO=47 ",
			host: "edge-gw01",
			want: ConnEvent{
				Time: utc("2025-03-14T03:20:00Z"), Format: "iptables", Proto: ProtoGRE,
				Src: addr("192.0.2.9"), Dst: addr("203.0.113.10"),
				Action: ActionDrop, Kind: KindPacket, Counters: CountersPacket, OrigBytes: 96, OrigPackets: 1,
				TTL: 250, HasIPID: true,
			},
		},
		{
			name: "non-first fragment without ports",
			line: "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=548 TOS=0x00 PREC=0x00 TTL=49 ID=40960 FRAG=185 PROTO=UDP ",
			want: ConnEvent{
				Format: "iptables", Proto: ProtoUDP, Src: addr("198.51.100.77"), Dst: addr("203.0.113.10"),
				Kind: KindPacket, Counters: CountersPacket, OrigBytes: 548, OrigPackets: 1,
				TTL: 49, HasIPID: true, IPID: 40960,
			},
		},
		{
			name: "rsyslog #012 escape",
			line: "Mar 14 02:17:43 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=3389#012WINDOW=1024 RES=0x00 SYN URGP=0#012",
			host: "edge-gw01",
			want: scan,
		},
		{
			name: "NUL terminator and trailing bytes",
			line: "Mar 14 02:17:43 edge-gw01 kernel: DROP " + scanFields + "\x00DPT=1 garbage",
			host: "edge-gw01",
			want: scan,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := IPTables{}
			if !p.Detect([]byte(tt.line)) {
				t.Fatalf("Detect = false")
			}
			ctx := ParseContext{Now: testNow}
			var ev ConnEvent
			if err := p.Parse([]byte(tt.line), &ctx, &ev); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkEvent(t, ev, tt.want)
			if string(ctx.Host) != tt.host {
				t.Errorf("Host = %q, want %q", ctx.Host, tt.host)
			}
		})
	}
}

func TestIPTablesParseLocation(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	line := []byte("Mar 14 02:17:43 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 ID=1 PROTO=TCP SPT=1 DPT=2 SYN URGP=0 ")
	ctx := ParseContext{Now: testNow, Location: shanghai}
	var ev ConnEvent
	if err := (IPTables{}).Parse(line, &ctx, &ev); err != nil {
		t.Fatal(err)
	}
	if want := utc("2025-03-13T18:17:43Z"); !ev.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", ev.Time.UTC(), want)
	}
}

func TestIPTablesParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		reason Reason
		field  string
	}{
		{"cut inside DST", "Mar 14 02:17:43 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.11", ReasonTruncated, "DST"},
		{"cut before PROTO", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TOS=0x00 ", ReasonTruncated, "PROTO"},
		{"cut before DPT", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 ID=1 PROTO=TCP SPT=61022 ", ReasonTruncated, "DPT"},
		{"cut after DPT", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 ID=1 PROTO=TCP SPT=61022 DPT=8", ReasonTruncated, "URGP"},
		{"UDP cut before its LEN", "IN=eth1 OUT=eth0 SRC=10.20.7.12 DST=192.0.2.53 LEN=61 TTL=63 ID=4 DF PROTO=UDP SPT=53011 DPT=53 ", ReasonTruncated, "LEN"},
		{"cut inside SPT", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 ID=1 PROTO=TCP SPT=6102x", ReasonTruncated, "SPT"},
		{"bad source", "IN=eth0 OUT= SRC=198.51.100.777 DST=203.0.113.10 LEN=44 TTL=49 PROTO=TCP SPT=1 DPT=2 ", ReasonBadAddress, "SRC"},
		{"TTL over 255", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=300 PROTO=TCP SPT=1 DPT=2 ", ReasonBadNumber, "TTL"},
		{"port over 65535", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=3 PROTO=UDP SPT=70000 DPT=2 ", ReasonBadNumber, "SPT"},
		{"IP ID over 16 bits", "IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=3 ID=65536 PROTO=UDP SPT=1 DPT=2 ", ReasonBadNumber, "ID"},
		{"ARP frame", "Mar 14 02:17:43 edge-gw01 kernel: ARP-DROP IN=br0 OUT= MAC=ff:ff:ff:ff:ff:ff:52:54:00:3a:1f:c2:08:06 ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 ", ReasonNotConnection, "SRC"},
		{"DST without SRC", "IN=eth0 OUT= DST=203.0.113.10 LEN=44 PROTO=ICMP TYPE=8 CODE=0 ", ReasonMissingField, "SRC"},
		{"NUL before IN", "Mar 14 02:17:43 edge-gw01 kernel: DROP\x00 IN=eth0 OUT= SRC=1.2.3.4", ReasonMissingField, "IN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ParseContext{Now: testNow}
			var ev ConnEvent
			err := (IPTables{}).Parse([]byte(tt.line), &ctx, &ev)
			skip, ok := err.(*SkipError)
			if !ok {
				t.Fatalf("Parse error = %v (%T), want *SkipError", err, err)
			}
			if skip.Reason != tt.reason {
				t.Errorf("Reason = %s, want %s (%v)", skip.Reason, tt.reason, err)
			}
			if skip.Field != tt.field {
				t.Errorf("Field = %q, want %q", skip.Field, tt.field)
			}
			if skip.Format != "iptables" {
				t.Errorf("Format = %q, want iptables", skip.Format)
			}
		})
	}
}

func TestIPTablesDetect(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"Mar 14 02:17:43 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=1.2.3.4", true},
		{"IN=eth0 OUT=eth1 SRC=1.2.3.4", true},
		{"[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37", false},
		{"Mar 14 02:17:43 edge-gw01 sshd[811]: LOGIN=root OUT= from 1.2.3.4", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := (IPTables{}).Detect([]byte(tt.line)); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestYearRollover(t *testing.T) {
	line := func(stamp string) []byte {
		return []byte(stamp + " edge-gw01 kernel: DROP IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 PROTO=TCP SPT=1 DPT=2 SYN URGP=0 ")
	}
	tests := []struct {
		name  string
		stamp string
		now   time.Time
		want  time.Time
	}{
		{"December line read on 1 January", "Dec 31 23:59:59", utc("2026-01-01T00:00:03Z"), utc("2025-12-31T23:59:59Z")},
		{"November line read in January", "Nov 30 10:00:00", utc("2026-01-15T00:00:00Z"), utc("2025-11-30T10:00:00Z")},
		{"January line read on 31 December", "Jan  1 00:00:02", utc("2025-12-31T23:59:59Z"), utc("2026-01-01T00:00:02Z")},
		{"same day", "Mar 14 02:17:43", utc("2025-03-14T02:18:00Z"), utc("2025-03-14T02:17:43Z")},
		{"clock a week ahead", "Mar 21 02:17:43", utc("2025-03-14T02:18:00Z"), utc("2025-03-21T02:17:43Z")},
		{"two months ahead is last year", "May 20 08:00:00", utc("2025-03-14T00:00:00Z"), utc("2024-05-20T08:00:00Z")},
		{"eleven months old", "Apr 20 08:00:00", utc("2025-03-14T00:00:00Z"), utc("2024-04-20T08:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ParseContext{Now: tt.now}
			var ev ConnEvent
			if err := (IPTables{}).Parse(line(tt.stamp), &ctx, &ev); err != nil {
				t.Fatal(err)
			}
			if !ev.Time.Equal(tt.want) {
				t.Errorf("Time = %v, want %v", ev.Time.UTC(), tt.want)
			}
		})
	}
}

func TestYearRolloverLocalZone(t *testing.T) {
	// At 2026-01-01T00:00:03+08:00 the UTC year is still 2025; the header is local time.
	shanghai := time.FixedZone("CST", 8*3600)
	ctx := ParseContext{Now: utc("2025-12-31T16:00:03Z"), Location: shanghai}
	line := []byte("Dec 31 23:59:59 edge-gw01 kernel: DROP IN=eth0 OUT= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TTL=49 PROTO=TCP SPT=1 DPT=2 SYN URGP=0 ")
	var ev ConnEvent
	if err := (IPTables{}).Parse(line, &ctx, &ev); err != nil {
		t.Fatal(err)
	}
	if want := utc("2025-12-31T15:59:59Z"); !ev.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", ev.Time.UTC(), want)
	}
}
