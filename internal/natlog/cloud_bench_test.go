package natlog

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// goldenLines returns the lines of testdata/natlog/name.log that p parses without error, in
// order, feeding header lines to p on the way.
func goldenLines(b *testing.B, p Parser, name string) []string {
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".log"))
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		ctx := ParseContext{Now: testNow}
		var ev ConnEvent
		if p.Detect(sc.Bytes()) && p.Parse(sc.Bytes(), &ctx, &ev) == nil {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

func BenchmarkUlogd(b *testing.B) { benchLines(b, Ulogd{}, goldenLines(b, Ulogd{}, "ulogd")) }

func BenchmarkAWSVPC(b *testing.B) {
	p := (&AWSVPC{}).NewInstance()
	lines := goldenLines(b, p, "awsvpc")
	p = (&AWSVPC{}).NewInstance() // in the default layout, records after a custom header do not fit
	var v2 []string
	for _, l := range lines {
		if p.Detect([]byte(l)) {
			v2 = append(v2, l)
		}
	}
	benchLines(b, p, v2)
}

func BenchmarkAWSVPCv5(b *testing.B) {
	p := (&AWSVPC{}).NewInstance()
	header := []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path")
	var ev ConnEvent
	_ = p.Parse(header, &ParseContext{}, &ev)
	benchLines(b, p, []string{
		"5 111122223333 eni-0c4d2e9f7a1b3c5d6 10.20.4.37 10.20.0.220 52144 443 6 1210 1790466 1741889359 1741889419 ACCEPT OK vpc-0e1d2c3b4a5968778 subnet-0a9b8c7d6e5f40312 - 2 IPv4 10.20.4.37 198.51.100.23 cn-northwest-1 cnnw1-az2 - - - - ingress -",
		"5 111122223333 eni-0c4d2e9f7a1b3c5d6 198.51.100.23 10.20.0.220 443 41877 6 980 61022 1741889359 1741889419 ACCEPT OK vpc-0e1d2c3b4a5968778 subnet-0a9b8c7d6e5f40312 - 18 IPv4 198.51.100.23 10.20.0.220 cn-northwest-1 cnnw1-az2 - - - - ingress -",
	})
}

func BenchmarkGCP(b *testing.B)    { benchLines(b, GCP{}, goldenLines(b, GCP{}, "gcp")) }
func BenchmarkAliyun(b *testing.B) { benchLines(b, Aliyun{}, goldenLines(b, Aliyun{}, "aliyun")) }

func BenchmarkZeekTSV(b *testing.B) {
	benchLines(b, (&Zeek{}).NewInstance(), []string{
		"1741889359.402211\tCwvS9b3Mvk0Vd4xA5\t10.20.4.37\t52144\t198.51.100.23\t443\ttcp\tssl\t1908.510043\t431800000\t9900000\tSF\tT\tF\t0\tShADadFf\t291877\t443475682\t150233\t15909341\t(empty)",
		"1741889863.118407\tCUM0KZ3MLUfNB0cl11\t198.51.100.77\t61022\t10.20.4.37\t3389\ttcp\t-\t-\t-\t-\tS0\tF\tT\t0\tS\t1\t60\t0\t0\t-",
	})
}

func BenchmarkZeekJSON(b *testing.B) {
	benchLines(b, (&Zeek{}).NewInstance(), []string{
		`{"ts":1741889359.402211,"uid":"CwvS9b3Mvk0Vd4xA5","id.orig_h":"10.20.4.37","id.orig_p":52144,"id.resp_h":"198.51.100.23","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1908.510043,"orig_bytes":431800000,"resp_bytes":9900000,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"ShADadFf","orig_pkts":291877,"orig_ip_bytes":443475682,"resp_pkts":150233,"resp_ip_bytes":15909341}`,
	})
}

// BenchmarkAzure measures LineAll on a blob of 50 NSG v2 tuples and reports tuples per second.
func BenchmarkAzure(b *testing.B) {
	var doc bytes.Buffer
	doc.WriteString(`{"records":[{"time":"2025-03-13T18:10:00Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/EDGE-NSG","properties":{"Version":2,"flows":[{"rule":"DefaultRule_AllowInternetOutBound","flows":[{"mac":"000D3A1B2C3D","flowTuples":[`)
	const tuples = 50
	for i := range tuples {
		if i > 0 {
			doc.WriteByte(',')
		}
		doc.WriteString(`"1741889659,10.20.4.37,198.51.100.23,52144,443,T,O,A,C,1210,1790466,980,61022"`)
	}
	doc.WriteString(`]}]}]}}]}`)
	line := doc.Bytes()

	n := newTestNormalizer(b, Options{InternalNets: officeNets})
	var ev ConnEvent
	emit := func(e *ConnEvent) *ConnEvent { return e }
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := n.LineAll(line, testNow, &ev, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*tuples)/time.Since(start).Seconds(), "tuples/s")
}
