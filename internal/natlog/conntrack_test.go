package natlog

import (
	"testing"
	"time"
)

func TestConntrackParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want ConnEvent
	}{
		{
			name: "NEW TCP source NAT",
			line: "[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877",
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:19.402211Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877,
				Action: ActionAccept, Kind: KindStart, State: StateSYNOnly,
			},
		},
		{
			name: "UPDATE SYN_RECV",
			line: "[1741889359.447930]\t [UPDATE] ipv4     2 tcp      6 60 SYN_RECV src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877",
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:19.44793Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877,
				Action: ActionAccept, Kind: KindInterim, State: StateEstablished,
			},
		},
		{
			name: "UPDATE running totals are dropped",
			line: "[1741889360.001000]\t [UPDATE] ipv4     2 tcp      6 432000 ESTABLISHED src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 packets=3 bytes=164 src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877 packets=2 bytes=112 [ASSURED] mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:09:20.001Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877,
				Action: ActionAccept, Kind: KindInterim, State: StateEstablished,
			},
		},
		{
			name: "DESTROY with accounting and delta-time",
			line: "[1741891267.912254]\t[DESTROY] ipv4     2 tcp      6 src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 packets=291877 bytes=431877602 src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877 packets=150233 bytes=9913021 [ASSURED] mark=0 delta-time=1908 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:41:07.912254Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877,
				Action: ActionAccept, Kind: KindEnd, State: StateEstablished,
				Counters: CountersTotal, OrigBytes: 431877602, OrigPackets: 291877,
				ReplyBytes: 9913021, ReplyPackets: 150233, Duration: 1908 * time.Second,
			},
		},
		{
			name: "DESTROY of an unanswered SYN",
			line: "[1741889400.000001]\t[DESTROY] ipv4     2 tcp      6 src=198.51.100.77 dst=203.0.113.10 sport=61022 dport=3389 packets=2 bytes=88 [UNREPLIED] src=203.0.113.10 dst=198.51.100.77 sport=3389 dport=61022 packets=0 bytes=0 mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:10:00.000001Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("198.51.100.77"), Dst: addr("203.0.113.10"), SrcPort: 61022, DstPort: 3389,
				Action: ActionAccept, Kind: KindEnd, State: StateSYNOnly,
				Counters: CountersTotal, OrigBytes: 88, OrigPackets: 2,
			},
		},
		{
			name: "without timestamp or extended",
			line: "    [NEW] udp      17 30 src=10.20.7.12 dst=192.0.2.53 sport=53011 dport=53 [UNREPLIED] src=192.0.2.53 dst=203.0.113.10 sport=53 dport=1031",
			want: ConnEvent{
				Format: "conntrack", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53011, DstPort: 53,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 1031,
				Action: ActionAccept, Kind: KindStart, State: StateUnreplied,
			},
		},
		{
			name: "UDP reply seen, with id",
			line: "[1741891450.130004]\t [UPDATE] ipv4     2 udp      17 30 src=10.20.7.12 dst=192.0.2.53 sport=53011 dport=53 src=192.0.2.53 dst=203.0.113.10 sport=53 dport=1031 mark=0 use=1 id=3014560042",
			want: ConnEvent{
				Time: utc("2025-03-13T18:44:10.130004Z"), Format: "conntrack", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53011, DstPort: 53,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 1031,
				Action: ActionAccept, Kind: KindInterim, State: StateEstablished,
			},
		},
		{
			name: "destination NAT port forward",
			line: "[1741892535.000100]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=192.0.2.200 dst=203.0.113.11 sport=40312 dport=2222 [UNREPLIED] src=172.16.5.20 dst=192.0.2.200 sport=22 dport=40312",
			want: ConnEvent{
				Time: utc("2025-03-13T19:02:15.0001Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("192.0.2.200"), Dst: addr("203.0.113.11"), SrcPort: 40312, DstPort: 2222,
				NATDst: addr("172.16.5.20"), NATDstPort: 22,
				Action: ActionAccept, Kind: KindStart, State: StateSYNOnly,
			},
		},
		{
			name: "ICMP echo",
			line: "[1741892000.500000]\t    [NEW] ipv4     2 icmp     1 30 src=10.20.4.37 dst=198.51.100.23 type=8 code=0 id=2931 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 type=0 code=0 id=2931 mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:53:20.5Z"), Format: "conntrack", Proto: ProtoICMP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"),
				NATSrc: addr("203.0.113.10"),
				Action: ActionAccept, Kind: KindStart, State: StateUnreplied,
				HasICMP: true, ICMPType: 8,
			},
		},
		{
			name: "IPv6 ICMPv6 without NAT",
			line: "[1741892001.000000]\t    [NEW] ipv6     10 icmpv6   58 30 src=2001:db8:1::37 dst=2001:db8:ff::23 type=128 code=0 id=17 [UNREPLIED] src=2001:db8:ff::23 dst=2001:db8:1::37 type=129 code=0 id=17 mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:53:21Z"), Format: "conntrack", Proto: ProtoICMPv6,
				Src: addr("2001:db8:1::37"), Dst: addr("2001:db8:ff::23"),
				Action: ActionAccept, Kind: KindStart, State: StateUnreplied,
				HasICMP: true, ICMPType: 128,
			},
		},
		{
			name: "IPv6 TCP reset",
			line: "[1741892002.000000]\t [UPDATE] ipv6     10 tcp      6 10 CLOSE src=2001:db8:1::37 dst=2001:db8:ff::23 sport=50000 dport=25 src=2001:db8:ff::23 dst=2001:db8:1::37 sport=25 dport=50000 mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:53:22Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("2001:db8:1::37"), Dst: addr("2001:db8:ff::23"), SrcPort: 50000, DstPort: 25,
				Action: ActionAccept, Kind: KindInterim, State: StateReset,
			},
		},
		{
			name: "TIME_WAIT is closed",
			line: "[1741892003.000000]\t [UPDATE] ipv4     2 tcp      6 120 TIME_WAIT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877 [ASSURED] mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:53:23Z"), Format: "conntrack", Proto: ProtoTCP,
				Src: addr("10.20.4.37"), Dst: addr("198.51.100.23"), SrcPort: 52144, DstPort: 443,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 41877,
				Action: ActionAccept, Kind: KindInterim, State: StateClosed,
			},
		},
		{
			name: "GRE keys and a start stamp with spaces",
			line: "[1741892004.000000]\t    [NEW] ipv4     2 gre      47 30 src=192.0.2.9 dst=203.0.113.10 srckey=0x0 dstkey=0x0 [UNREPLIED] src=203.0.113.10 dst=192.0.2.9 srckey=0x0 dstkey=0x0 [start=Fri Mar 14 02:53:24 2025] mark=0 use=1",
			want: ConnEvent{
				Time: utc("2025-03-13T18:53:24Z"), Format: "conntrack", Proto: ProtoGRE,
				Src: addr("192.0.2.9"), Dst: addr("203.0.113.10"),
				Action: ActionAccept, Kind: KindStart, State: StateUnreplied,
			},
		},
		{
			name: "port-only source NAT",
			line: "[NEW] tcp      6 120 SYN_SENT src=203.0.113.10 dst=198.51.100.23 sport=1024 dport=80 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=80 dport=61000",
			want: ConnEvent{
				Format: "conntrack", Proto: ProtoTCP,
				Src: addr("203.0.113.10"), Dst: addr("198.51.100.23"), SrcPort: 1024, DstPort: 80,
				NATSrc: addr("203.0.113.10"), NATSrcPort: 61000,
				Action: ActionAccept, Kind: KindStart, State: StateSYNOnly,
			},
		},
		{
			name: "NUL terminator",
			line: "[NEW] udp      17 30 src=10.20.7.12 dst=192.0.2.53 sport=53011 dport=53 [UNREPLIED] src=192.0.2.53 dst=10.20.7.12 sport=53 dport=53011\x00\x00",
			want: ConnEvent{
				Format: "conntrack", Proto: ProtoUDP,
				Src: addr("10.20.7.12"), Dst: addr("192.0.2.53"), SrcPort: 53011, DstPort: 53,
				Action: ActionAccept, Kind: KindStart, State: StateUnreplied,
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Conntrack{}
			if !p.Detect([]byte(tt.line)) {
				t.Fatalf("Detect = false")
			}
			ctx := ParseContext{Now: testNow}
			var ev ConnEvent
			if err := p.Parse([]byte(tt.line), &ctx, &ev); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkEvent(t, ev, tt.want)
		})
	}
}

func TestConntrackParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		reason Reason
		field  string
	}{
		{"cut after original tuple", "[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] ", ReasonTruncated, "reply"},
		{"cut inside reply address", "[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.1", ReasonTruncated, "dst"},
		{"cut in header", "[1741889359.402211]\t    [NEW] ipv4     2 tcp", ReasonTruncated, "protocol"},
		{"bad address", "[NEW] tcp      6 120 SYN_SENT src=10.20.4.370 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877", ReasonBadAddress, "src"},
		{"bad port", "[NEW] tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=99999 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877", ReasonBadNumber, "sport"},
		{"bad protocol number", "[NEW] tcp      6x 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=1 dport=443 src=198.51.100.23 dst=203.0.113.10 sport=443 dport=1", ReasonBadNumber, "protocol"},
		{"bad timestamp", "[17418x9359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37", ReasonBadTime, "timestamp"},
		{"third tuple", "[NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 src=10.0.0.3", ReasonNotConnection, "src"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ParseContext{Now: testNow}
			var ev ConnEvent
			err := (Conntrack{}).Parse([]byte(tt.line), &ctx, &ev)
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
		})
	}
}

func TestConntrackDetect(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37", true},
		{" [UPDATE] tcp      6 60 SYN_RECV src=10.20.4.37", true},
		{"[DESTROY] udp      17 src=10.20.7.12", true},
		{"[1741889359.402211]\t[OTHER] x", false},
		{"tcp      6 431999 ESTABLISHED src=10.20.4.37 dst=198.51.100.23", false},
		{"[884512.113207] DROP IN=eth0 OUT= SRC=1.2.3.4", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := (Conntrack{}).Detect([]byte(tt.line)); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}
