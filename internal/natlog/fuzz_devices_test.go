package natlog

import (
	"testing"
)

// fuzzDevice runs one device parser on arbitrary input: Detect and Parse must not panic, errors
// must be *SkipError values of the format, and an event must be consistent.
func fuzzDevice(f *testing.F, p Parser, golden string, seeds ...string) {
	f.Helper()
	addGoldenSeeds(f, golden)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if !p.Detect(line) {
			return
		}
		ctx := ParseContext{Now: testNow}
		var ev ConnEvent
		err := p.Parse(line, &ctx, &ev)
		checkDeviceEvent(t, p.Name(), err, &ev)
	})
}

// checkDeviceEvent checks what must hold for any outcome of a device parser.
func checkDeviceEvent(t *testing.T, format string, err error, ev *ConnEvent) {
	t.Helper()
	if err != nil {
		checkParsed(t, format, err, ev)
		return
	}
	if ev.Format != format {
		t.Fatalf("Format = %q, want %q", ev.Format, format)
	}
	if !ev.Src.IsValid() {
		t.Fatalf("event without a source: %+v", ev)
	}
	// Only records that describe a binding or a host's traffic may lack a destination.
	if !ev.Dst.IsValid() && ev.Kind != KindInterim {
		t.Fatalf("%s event without a destination: %+v", ev.Kind, ev)
	}
	if ev.Kind == KindUnknown {
		t.Fatalf("event of unknown kind: %+v", ev)
	}
	if ev.Counters == CountersNone && ev.Bytes()+ev.Packets() != 0 {
		t.Fatalf("counters %d/%d without a counter kind", ev.Bytes(), ev.Packets())
	}
	if (ev.Proto == ProtoICMP || ev.Proto == ProtoICMPv6) && ev.SrcPort|ev.DstPort|ev.NATSrcPort|ev.NATDstPort != 0 {
		t.Fatalf("ICMP event with ports: %+v", ev)
	}
	if ev.Duration < 0 {
		t.Fatalf("Duration = %v", ev.Duration)
	}
}

func FuzzASA(f *testing.F) {
	fuzzDevice(f, ASA{}, "asa",
		"%ASA-6-302013: Built inbound TCP connection 1 for a:1::2/3 (",
		"%FTD-6-302014: Teardown TCP connection 1 for o:1.2.3.4/5 to i:::/0 duration 99999999999:00:00 bytes 1",
		"<1>1 - - - - - %ASA-6-302020: Built outbound ICMP connection for faddr 1.2.3.4/0 gaddr ::/1 laddr 1.1.1.1/9 type 300 code",
		"%ASA-session-6-106100: access-list x denied icmp a/1.2.3.4(65535) -> b/::(9) hit-cnt 1 first hit",
		"%ASA-2-106001: Inbound TCP connection denied from 1.2.3.4/1 to o:5.6.7.8/2 flags SYN ACK RST FIN PSH URG on interface o")
}

func FuzzFortiGate(f *testing.F) {
	fuzzDevice(f, FortiGate{}, "fortigate",
		`logid=1 date=2025-03-14 time=02:41:07 tz="UTC+5:30" type="traffic" srcip=::1 dstip=1.1.1.1 proto=1 srcport=9 action="accept" sentdelta=1 rcvddelta=x`,
		`logid="1 type=traffic devname="a\"`,
		"eventtime=99999999999999999999 logid= type=traffic srcip=1.1.1.1 dstip=2.2.2.2 transip=0.0.0.0 tranip=::")
}

func FuzzJunos(f *testing.F) {
	fuzzDevice(f, Junos{}, "junos",
		"RT_FLOW_SESSION_CLOSE: session closed x: 1.1.1.1/1->2.2.2.2/2 a 3.3.3.3/3->4.4.4.4/4 b c d e f 1(2) 3(4)",
		"RT_FLOW_SESSION_DENY: session denied 1.1.1.1/1->::/2 x 999(1)",
		`RT_FLOW_SESSION_CREATE [junos@1 source-address="1.1.1.1" destination-address="::" protocol-id="300"`)
}

func FuzzPANOS(f *testing.F) {
	fuzzDevice(f, PANOS{}, "panos",
		"1,2025/03/14 02:41:08,0,TRAFFIC,end,0,2025/03/14 02:41:07,::,1.1.1.1,0.0.0.0,::,\"a,\"\"b\",,,,,,,,,,,,,1,2,3,4,,icmp,allow,1,,,,,99999999999",
		"1,2025/03/14 02:41:08,0,TRAFFIC,\"")
}

func FuzzHuawei(f *testing.F) {
	fuzzDevice(f, Huawei{}, "huawei",
		"%%01SECLOG/6/SESSION_TEARDOWN(l):SourceIP=1.1.1.1,DestinationIP=::,BeginTime=9,EndTime=1,Protocol=icmp,SourcePort=1.",
		"%%SECLOG/SESSION_BUILT:")
}

func FuzzH3C(f *testing.F) {
	fuzzDevice(f, H3C{}, "h3c",
		"Protocol(1001)=ICMP;SrcIPAddr(1003)=1.1.1.1;Event(1048)=(5)x;BeginTime_e(1013)=99999999999999;",
		"00:00:00 icmp 1 ::(1.1.1.1):1(2)->2.2.2.2 1/1 2/2 TIME:99999999999",
		"23:59:60 tcp 8 a(->b")
}

func FuzzHillstone(f *testing.F) {
	fuzzDevice(f, Hillstone{}, "hillstone",
		"x Traffic@FLOW: SESSION: [::1]:1->1.1.1.1(ICMP), session end",
		"x Traffic@FLOW: NAT: 1.1.1.1:1->2.2.2.2:2(TCP), snat to ::,",
		"Traffic@FLOW: SESSION: 1.1.1.1:1->2.2.2.2:2(), start time 2025-13-40 99:99:99, close time 0000/00/00 00:00:00. session end.")
}

func FuzzSangfor(f *testing.F) {
	fuzzDevice(f, Sangfor{}, "sangfor",
		"fwlog: \xc8\xd5\xd6\xbe\xc0\xe0\xd0\xcd:\xc1\xf7\xc1\xbf\xc9\xf3\xbc\xc6, \xd3\xc3\xbb\xa7\xc3\xfb/\xd6\xf7\xbb\xfa:::1, \xc9\xcf\xd0\xd0\xc1\xf7\xc1\xbf(KB):99999999999999999",
		"fwlog: 日志类型:服务控制或应用控制, 源IP:1.1.1.1, 目的IP:::, 协议:icmp, 源端口:5, 系统动作:x")
}

func FuzzNatlogTool(f *testing.F) {
	fuzzDevice(f, NatlogTool{}, "natlogtool",
		"NATLOG: from Feb 29 23:59:59:999999 thru 1:1: icmp ::1:5 (via: [::]:0) to 1.1.1.1; sent: x",
		"x y: icmp src 1.1.1.1:1 dst ::1 nat - bytes 99999999999999999999 duration 99999999999")
}
