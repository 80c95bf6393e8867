package natlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/natlog")

const goldenDir = "../../testdata/natlog"

// goldenEvent is the JSON form of one line's outcome in a golden file.
type goldenEvent struct {
	Line         int    `json:"line"`
	Skip         string `json:"skip,omitempty"`
	SkipFormat   string `json:"skip_format,omitempty"`
	SkipField    string `json:"skip_field,omitempty"`
	Format       string `json:"format,omitempty"`
	Time         string `json:"time,omitempty"`
	Gateway      string `json:"gateway,omitempty"`
	Proto        string `json:"proto,omitempty"`
	Src          string `json:"src,omitempty"`
	SrcPort      uint16 `json:"sport,omitempty"`
	Dst          string `json:"dst,omitempty"`
	DstPort      uint16 `json:"dport,omitempty"`
	NATSrc       string `json:"nat_src,omitempty"`
	NATSrcPort   uint16 `json:"nat_sport,omitempty"`
	NATDst       string `json:"nat_dst,omitempty"`
	NATDstPort   uint16 `json:"nat_dport,omitempty"`
	Direction    string `json:"direction,omitempty"`
	Action       string `json:"action,omitempty"`
	Kind         string `json:"kind,omitempty"`
	State        string `json:"state,omitempty"`
	Flags        uint8  `json:"flags,omitempty"`
	Counters     uint8  `json:"counters,omitempty"`
	OrigBytes    uint64 `json:"orig_bytes,omitempty"`
	ReplyBytes   uint64 `json:"reply_bytes,omitempty"`
	OrigPackets  uint64 `json:"orig_packets,omitempty"`
	ReplyPackets uint64 `json:"reply_packets,omitempty"`
	Duration     string `json:"duration,omitempty"`
	TTL          uint8  `json:"ttl,omitempty"`
	IPID         *int   `json:"ip_id,omitempty"`
	ICMP         string `json:"icmp,omitempty"`
}

func addrText(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func toGolden(line int, ev *ConnEvent, err error) goldenEvent {
	g := goldenEvent{Line: line}
	if err != nil {
		skip := err.(*SkipError)
		g.Skip, g.SkipFormat, g.SkipField = skip.Reason.String(), skip.Format, skip.Field
		return g
	}
	g.Format, g.Gateway, g.Proto = ev.Format, ev.Gateway, ev.Proto.String()
	g.Time = ev.Time.UTC().Format(time.RFC3339Nano)
	g.Src, g.SrcPort, g.Dst, g.DstPort = addrText(ev.Src), ev.SrcPort, addrText(ev.Dst), ev.DstPort
	g.NATSrc, g.NATSrcPort = addrText(ev.NATSrc), ev.NATSrcPort
	g.NATDst, g.NATDstPort = addrText(ev.NATDst), ev.NATDstPort
	g.Direction, g.Action, g.Kind, g.State = ev.Direction.String(), ev.Action.String(), ev.Kind.String(), ev.State.String()
	g.Flags, g.Counters = uint8(ev.Flags), uint8(ev.Counters)
	g.OrigBytes, g.ReplyBytes, g.OrigPackets, g.ReplyPackets = ev.OrigBytes, ev.ReplyBytes, ev.OrigPackets, ev.ReplyPackets
	if ev.Duration != 0 {
		g.Duration = ev.Duration.String()
	}
	g.TTL = ev.TTL
	if ev.HasIPID {
		id := int(ev.IPID)
		g.IPID = &id
	}
	if ev.HasICMP {
		g.ICMP = ev.Proto.String() + " type " + itoa(int(ev.ICMPType)) + " code " + itoa(int(ev.ICMPCode))
	}
	return g
}

// runGolden normalises every line of testdata/natlog/name.log and compares the outcome with
// name.golden.json.
func runGolden(t *testing.T, name string) {
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNormalizer(t, Options{Gateway: "replay", InternalNets: officeNets})
	now := time.Date(2025, 3, 20, 0, 0, 0, 0, time.UTC)

	var got []goldenEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	for i := 1; sc.Scan(); i++ {
		var ev ConnEvent
		err := n.Line(sc.Bytes(), now, &ev)
		got = append(got, toGolden(i, &ev, err))
	}
	compareGolden(t, filepath.Join(goldenDir, name+".golden.json"), got)
}

// compareGolden writes got to the golden file at path under -update, else compares it with the
// file event by event.
func compareGolden(t *testing.T, path string, got []goldenEvent) {
	t.Helper()
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if bytes.Equal(out, want) {
		return
	}
	var wantEvents []goldenEvent
	if err := json.Unmarshal(want, &wantEvents); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i := range max(len(got), len(wantEvents)) {
		var g, w goldenEvent
		if i < len(got) {
			g = got[i]
		}
		if i < len(wantEvents) {
			w = wantEvents[i]
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("%s event %d:\n got  %s\n want %s", filepath.Base(path), i+1, gj, wj)
		}
	}
}

func TestIPTablesGolden(t *testing.T)  { runGolden(t, "iptables") }
func TestConntrackGolden(t *testing.T) { runGolden(t, "conntrack") }
