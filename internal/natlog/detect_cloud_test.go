package natlog

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cloudFormats are the formats whose parsers live in ulogd.go, awsvpc.go, gcp.go, azure.go,
// aliyun.go and zeek.go, by the name of their testdata file.
var cloudFormats = []string{"ulogd", "awsvpc", "gcp", "azure", "aliyun", "zeek"}

// claimingFormat returns the format that claimed line: the event's format, the format of the
// skip, or "" when no parser claimed it.
func claimingFormat(n *Normalizer, line []byte) string {
	var ev ConnEvent
	format := ""
	err := n.LineAll(line, testNow, &ev, func(e *ConnEvent) *ConnEvent {
		format = e.Format
		return e
	})
	if err != nil {
		return err.(*SkipError).Format
	}
	return format
}

// TestDetectCloudFormats runs every line of every testdata log through a Normalizer and checks
// that the cloud and flow-log parsers claim exactly the lines of their own files. Lines that no
// parser should claim are listed by file and line number.
func TestDetectCloudFormats(t *testing.T) {
	unclaimed := map[string][]int{
		"awsvpc": {23}, // a record with fields missing fits no layout
		"zeek":   {17, 27},
	}

	var files []string
	for _, dir := range []string{goldenDir, "../../testdata/sample"} {
		matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	if len(files) < len(cloudFormats) {
		t.Fatalf("found %d log files, want at least %d", len(files), len(cloudFormats))
	}

	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".log")
		own := slices.Contains(cloudFormats, name) && filepath.Dir(path) == filepath.Clean(goldenDir)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := newTestNormalizer(t, Options{InternalNets: officeNets})
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for i := 1; sc.Scan(); i++ {
			got := claimingFormat(n, sc.Bytes())
			switch {
			case own && slices.Contains(unclaimed[name], i):
				if got != "" {
					t.Errorf("%s:%d: claimed by %q, want no parser", path, i, got)
				}
			case own:
				if got != name {
					t.Errorf("%s:%d: claimed by %q, want %q", path, i, got, name)
				}
			case slices.Contains(cloudFormats, got):
				t.Errorf("%s:%d: claimed by %q, which must not claim another format's line", path, i, got)
			}
		}
	}
}

// TestCloudDocExamples parses records copied from the vendors' documentation. Each must parse,
// or be skipped for the reason the documentation gives.
func TestCloudDocExamples(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		format string
		events int
		skip   Reason // for the last line
	}{
		{
			// https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples
			name:   "AWS accepted SSH",
			lines:  []string{"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"},
			format: "awsvpc", events: 1,
		},
		{
			name:   "AWS rejected RDP",
			lines:  []string{"2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"},
			format: "awsvpc", events: 1,
		},
		{
			name:   "AWS no data",
			lines:  []string{"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"},
			format: "awsvpc", skip: ReasonNotConnection,
		},
		{
			// https://gist.github.com/bysnupy/1e96d77a48f330bca85b496239ac6031 (an S3 flow log file)
			name: "AWS S3 file with header",
			lines: []string{
				"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
				"2 111111111111 eni-047359708552d4999 10.0.134.187 10.0.14.231 31790 31566 6 4 562 1617604407 1617604466 ACCEPT OK",
			},
			format: "awsvpc", events: 1,
		},
		{
			// https://gist.github.com/kongou-ae/7c39302c0ec7511662df7dbc39ca0d16 (NSG flow log v1)
			name:   "Azure NSG v1",
			lines:  []string{`{"records":[{"time":"2017-04-02T14:40:25.5360000Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/AZURELAB/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/US-WEST","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":1,"flows":[{"rule":"DefaultRule_AllowInternetOutBound","flows":[{"mac":"000D3A36C783","flowTuples":["1491143966,10.2.0.4,23.99.34.232,37560,443,T,O,A","1491143984,10.2.0.4,91.189.89.199,56559,123,U,O,A"]}]}]}}]}`},
			format: "azure", events: 2,
		},
		{
			// https://docs.cribl.io/stream/event-breaker-type-azure-vnet-flow (VNet flow log v4)
			name:   "Azure VNet v4",
			lines:  []string{`{"records":[{"time":"2022-09-14T09:00:52.5625085Z","flowLogVersion":4,"flowLogGUID":"66aa66aa-bb77-cc88-dd99-00ee00ee00ee","macAddress":"112233445566","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS2EUAP/FLOWLOGS/VNETFLOWLOG","targetResourceID":"/subscriptions/X/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/myVNet","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"00000000-1234-abcd-ef00-c1c2c3c4c5c6","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":["1663146003599,10.0.0.6,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0","1663146003606,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580"]}]}]}}]}`},
			format: "azure", events: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNormalizer(t, Options{InternalNets: officeNets})
			events := 0
			var err error
			for _, line := range tt.lines {
				var ev ConnEvent
				err = n.LineAll([]byte(line), testNow, &ev, func(e *ConnEvent) *ConnEvent {
					if e.Format != tt.format {
						t.Errorf("Format = %q, want %q", e.Format, tt.format)
					}
					events++
					return e
				})
			}
			if events != tt.events {
				t.Errorf("events = %d, want %d", events, tt.events)
			}
			if tt.skip == ReasonNone {
				if err != nil {
					t.Errorf("last line: %v", err)
				}
				return
			}
			if skip, ok := err.(*SkipError); !ok || skip.Reason != tt.skip || skip.Format != tt.format {
				t.Errorf("last line: error %v, want a %s skip of %s", err, tt.skip, tt.format)
			}
		})
	}
}

// TestAzureTupleSkipsCounted checks that tuples that cannot be read are counted as skipped while
// the good tuples of the same line still yield events.
func TestAzureTupleSkipsCounted(t *testing.T) {
	n := newTestNormalizer(t, Options{})
	line := []byte(`{"flowTuples":["1741893100000,10.20.4.37,198.51.100.23,52144,443,6,O,C,NX,1,2,3,4","1741893100000,10.20.4.999,198.51.100.23,1,2,6,O,C,NX,1,2,3,4","1741893100000,10.20.4.37"]}`)
	var ev ConnEvent
	events := 0
	if err := n.LineAll(line, testNow, &ev, func(e *ConnEvent) *ConnEvent { events++; return e }); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Errorf("events = %d, want 1", events)
	}
	stats := n.Stats()
	if got := stats.Parsed["azure"]; got != 1 {
		t.Errorf("parsed = %d, want 1", got)
	}
	if got := stats.SkippedByFormat["azure"]["bad_address"]; got != 1 {
		t.Errorf("bad_address skips = %d, want 1", got)
	}
	if got := stats.SkippedByFormat["azure"]["truncated"]; got != 1 {
		t.Errorf("truncated skips = %d, want 1", got)
	}
}

// TestAzureParseFirstTuple checks that the single-event Parse returns the first tuple.
func TestAzureParseFirstTuple(t *testing.T) {
	line := []byte(`{"records":[{"resourceId":"/x/NSG-A","properties":{"flows":[{"flows":[{"flowTuples":["1741889359,10.20.4.37,198.51.100.23,52144,443,T,O,A,B,,,,","1741889659,10.20.4.37,198.51.100.23,52144,443,T,O,A,C,1,2,3,4"]}]}]}}]}`)
	var ev ConnEvent
	ctx := ParseContext{Now: testNow}
	if err := (Azure{}).Parse(line, &ctx, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindStart || ev.Time != time.Unix(1741889359, 0).UTC() || ev.SrcPort != 52144 {
		t.Errorf("got %+v, want the state B tuple", ev)
	}
	if string(ctx.Host) != "NSG-A" {
		t.Errorf("Host = %q, want NSG-A", ctx.Host)
	}
}

// TestStatefulHeadersPerNormalizer checks that a header line changes the layout of the
// Normalizer that read it and of no other.
func TestStatefulHeadersPerNormalizer(t *testing.T) {
	header := []byte("srcaddr dstaddr srcport dstport protocol bytes packets start end action")
	record := []byte("10.20.7.12 192.0.2.53 53011 53 17 61 1 1741891450 1741891510 ACCEPT")

	a := newTestNormalizer(t, Options{})
	b := newTestNormalizer(t, Options{})
	var ev ConnEvent
	if err := a.Line(header, testNow, &ev); err == nil || err.(*SkipError).Format != "awsvpc" {
		t.Fatalf("header: %v, want an awsvpc skip", err)
	}
	if err := a.Line(record, testNow, &ev); err != nil {
		t.Fatalf("record after header: %v", err)
	}
	if ev.OrigBytes != 61 || ev.OrigPackets != 1 || ev.DstPort != 53 {
		t.Errorf("record after header: bytes %d, packets %d, dport %d; want 61, 1, 53", ev.OrigBytes, ev.OrigPackets, ev.DstPort)
	}
	if err := b.Line(record, testNow, &ev); err == nil || err.(*SkipError).Reason != ReasonUnknownFormat {
		t.Errorf("record in another Normalizer: %v, want unknown_format", err)
	}
}
