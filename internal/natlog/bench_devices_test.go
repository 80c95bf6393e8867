package natlog

import (
	"testing"
	"time"
)

// Benchmarks of the device parsers, a few representative lines each, through Detect and Parse.
// `make bench` reports lines/s and allocs/op; docs/benchmarks.md records the results.

func BenchmarkASA(b *testing.B) {
	benchLines(b, ASA{}, []string{
		"Mar 14 2025 02:09:19 fw-asa-01 : %ASA-6-302013: Built outbound TCP connection 488213907 for outside:198.51.100.23/443 (198.51.100.23/443) to inside:10.20.4.37/52144 (203.0.113.10/41877)",
		"<166>Mar 14 2025 02:41:07: %ASA-6-302014: Teardown TCP connection 488213907 for outside:198.51.100.23/443 to inside:10.20.4.37/52144 duration 0:31:48 bytes 441790623 TCP FINs from inside",
		"Mar 14 2025 02:09:19 fw-asa-01 : %ASA-6-305011: Built dynamic TCP translation from inside:10.20.4.37/52144 to outside:203.0.113.10/41877",
		"Mar 14 2025 02:17:43 fw-asa-01 : %ASA-4-106023: Deny tcp src outside:198.51.100.77/61022 dst inside:203.0.113.10/3389 by access-group \"outside_access_in\" [0x0, 0x0]",
	})
}

func BenchmarkFortiGate(b *testing.B) {
	benchLines(b, FortiGate{}, []string{
		`<189>date=2025-03-14 time=02:41:07 devname="FGT-EDGE-01" devid="FG100FTK23009999" eventtime=1741891267381924511 tz="+0800" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.20.4.37 srcport=52144 srcintf="port2" srcintfrole="lan" dstip=198.51.100.23 dstport=443 dstintf="wan1" dstintfrole="wan" srccountry="Reserved" dstcountry="Netherlands" sessionid=73120544 proto=6 action="close" policyid=12 policytype="policy" poluuid="9f2c1a4e-0d1b-51ef-7a3c-5e0b8d1c2f40" policyname="LAN-to-WAN" service="HTTPS" trandisp="snat" transip=203.0.113.10 transport=41877 appcat="unscanned" duration=1908 sentbyte=431877602 rcvdbyte=9913021 sentpkt=291877 rcvdpkt=150233`,
	})
}

func BenchmarkJunos(b *testing.B) {
	benchLines(b, Junos{}, []string{
		`<14>1 2025-03-14T02:41:07.912+08:00 srx-edge-01 RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.129 reason="TCP FIN" source-address="10.20.4.37" source-port="52144" destination-address="198.51.100.23" destination-port="443" connection-tag="0" service-name="junos-https" nat-source-address="203.0.113.10" nat-source-port="41877" nat-destination-address="198.51.100.23" nat-destination-port="443" nat-connection-tag="0" src-nat-rule-type="source rule" src-nat-rule-name="snat-lan-out" dst-nat-rule-type="N/A" dst-nat-rule-name="N/A" protocol-id="6" policy-name="trust-to-untrust" source-zone-name="trust" destination-zone-name="untrust" session-id-32="220481337" packets-from-client="291877" bytes-from-client="431877602" packets-from-server="150233" bytes-from-server="9913021" elapsed-time="1908" application="SSL" nested-application="UNKNOWN" username="N/A" roles="N/A" packet-incoming-interface="ge-0/0/1.0" encrypted="No" application-category="Web" application-sub-category="N/A" application-risk="3" application-characteristics="N/A"]`,
		"Mar 14 02:41:07 srx-edge-02 RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: 10.20.4.37/52144->198.51.100.23/443 0x0 junos-https 203.0.113.10/41877->198.51.100.23/443 0x0 source rule snat-lan-out N/A N/A 6 trust-to-untrust trust untrust 220481337 291877(431877602) 150233(9913021) 1908 SSL UNKNOWN N/A(N/A) ge-0/0/1.0 No N/A N/A -1 N/A NA 0 0",
	})
}

func BenchmarkPANOS(b *testing.B) {
	benchLines(b, PANOS{}, []string{
		"Mar 14 02:41:08 PA-3220-EDGE 1,2025/03/14 02:41:08,013201009999,TRAFFIC,end,2561,2025/03/14 02:41:07,10.20.4.37,198.51.100.23,203.0.113.10,198.51.100.23,lan-to-internet,,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd-syslog,2025/03/14 02:41:07,118822,1,52144,443,41877,443,0x400053,tcp,allow,441790623,431877602,9913021,442110,2025/03/14 02:09:19,1908,computer-and-internet-info,0,7733201,0x0,10.0.0.0-10.255.255.255,Netherlands,0,291877,150233,tcp-fin,0,0,0,0,,PA-3220-EDGE,from-policy,,,0,,0,,N/A,0,0,0,0",
	})
}

func BenchmarkHuawei(b *testing.B) {
	benchLines(b, Huawei{}, []string{
		"<190>2025-03-13 18:41:07 USG6650E-EDGE %%01SECLOG/6/SESSION_TEARDOWN(l):IPVer=4,Protocol=tcp,SourceIP=10.20.4.37,DestinationIP=198.51.100.23,SourcePort=52144,DestinationPort=443,SourceNatIP=203.0.113.10,SourceNatPort=41877,BeginTime=1741889359,EndTime=1741891267,SendPkts=291877,SendBytes=431877602,RcvPkts=150233,RcvBytes=9913021,SourceVpnID=0,DestinationVpnID=0,SourceZone=trust,DestinationZone=untrust,PolicyName=lan-to-internet,UserName=liu.yang,CloseReason=aged-out.",
	})
}

func BenchmarkH3C(b *testing.B) {
	benchLines(b, H3C{}, []string{
		"<6> Mar 14 02:41:07 2025 FW-F1060-EDGE %%10session/6/SESSION_IPV4_FLOW: Protocol(1001)=TCP;Application(1002)=https;SrcIPAddr(1003)=10.20.4.37;SrcPort(1004)=52144;NatSrcIPAddr(1005)=203.0.113.10;NatSrcPort(1006)=41877;DstIPAddr(1007)=198.51.100.23;DstPort(1008)=443;NatDstIPAddr(1009)=198.51.100.23;NatDstPort(1010)=443;InitPktCount(1044)=291877;InitByteCount(1046)=431877602;RplyPktCount(1045)=150233;RplyByteCount(1047)=9913021;RcvVPNInstance(1042)=;SndVPNInstance(1043)=;RcvDSLiteTunnelPeer(1040)=;SndDSLiteTunnelPeer(1041)=;BeginTime_e(1013)=03132025180919;EndTime_e(1014)=03132025184107;Event(1048)=(1)Normal over;",
		"02:41:07 tcp 1 10.20.4.37(203.0.113.10):52144(41877)->198.51.100.23:443 291877/431877602 150233/9913021 TIME:1908",
	})
}

func BenchmarkHillstone(b *testing.B) {
	benchLines(b, Hillstone{}, []string{
		"<190>Mar 14 02:41:07 2812019203004521(root) 44243624 Traffic@FLOW: SESSION: 10.20.4.37:52144->198.51.100.23:443(TCP), application HTTPS, interface ethernet0/2, vr trust-vr, policy 12, user -@-, host -, send packets 291877,send bytes 431877602,receive packets 150233,receive bytes 9913021,start time 2025-03-14 02:09:19,close time 2025-03-14 02:41:07,session end,TCP FIN",
		"<190>Mar 14 02:09:19 2812019203004521(root) 46083623 Traffic@FLOW: NAT: 10.20.4.37:52144->198.51.100.23:443(TCP), snat to 203.0.113.10:41877, vr trust-vr, user -@UNKNOWN, host -, rule 4",
	})
}

func BenchmarkSangfor(b *testing.B) {
	benchLines(b, Sangfor{}, []string{
		"<134>Mar 14 02:41:07 localhost fwlog: 日志类型:服务控制或应用控制, 策略名称:-, 用户:(null), 源IP:10.20.4.37, 源端口:52144, 目的IP:198.51.100.23, 目的端口:443, 应用类型:访问网站, 应用名称:HTTPS, 系统动作:允许",
		"<134>Mar 14 02:44:10 localhost fwlog: \xc8\xd5\xd6\xbe\xc0\xe0\xd0\xcd:\xb7\xfe\xce\xf1\xbf\xd8\xd6\xc6\xbb\xf2\xd3\xa6\xd3\xc3\xbf\xd8\xd6\xc6, \xd4\xb4IP:10.20.7.12, \xd4\xb4\xb6\xcb\xbf\xda:53011, \xc4\xbf\xb5\xc4IP:192.0.2.53, \xc4\xbf\xb5\xc4\xb6\xcb\xbf\xda:53, \xcf\xb5\xcd\xb3\xb6\xaf\xd7\xf7:\xd4\xca\xd0\xed",
	})
}

func BenchmarkNatlogTool(b *testing.B) {
	benchLines(b, NatlogTool{}, []string{
		"Mar 14 02:41:07 edge-gw01 natlog[1730]: NATLOG: from 1741889359:402211 thru 1741891267:912254 (UTC): tcp 10.20.4.37:52144 (via: 203.0.113.10:41877) to 198.51.100.23:443; sent: 431877602, received: 9913021",
	})
}

// BenchmarkNormalizerASA measures ASA lines through the whole Normalizer: detection among every
// registered parser, parsing, gateway interning and direction.
func BenchmarkNormalizerASA(b *testing.B) {
	n := newTestNormalizer(b, Options{InternalNets: officeNets})
	lines := [][]byte{
		[]byte("Mar 14 2025 02:09:19 fw-asa-01 : %ASA-6-302013: Built outbound TCP connection 488213907 for outside:198.51.100.23/443 (198.51.100.23/443) to inside:10.20.4.37/52144 (203.0.113.10/41877)"),
		[]byte("<166>Mar 14 2025 02:41:07: %ASA-6-302014: Teardown TCP connection 488213907 for outside:198.51.100.23/443 to inside:10.20.4.37/52144 duration 0:31:48 bytes 441790623 TCP FINs from inside"),
	}
	var ev ConnEvent
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if err := n.Line(lines[i%len(lines)], testNow, &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
}
