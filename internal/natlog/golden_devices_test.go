package natlog

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Golden tests for the firewall and NAT device formats. Their .log files may hold comment lines
// starting with '#', which are not parsed. A comment "# skip: <reason> …" announces that the next
// line is skipped with that reason. Any other skip fails the test, so every skip in a golden file
// is explained next to its line.

// runDeviceGolden normalises the non-comment lines of testdata/natlog/name.log and compares the
// outcome with name.golden.json, as runGolden does.
func runDeviceGolden(t *testing.T, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNormalizer(t, Options{Gateway: "replay", InternalNets: officeNets, Location: shanghai(t)})
	now := time.Date(2025, 3, 20, 0, 0, 0, 0, time.UTC)

	var got []goldenEvent
	expectSkip := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		line := sc.Bytes()
		if len(line) > 0 && line[0] == '#' {
			if rest, ok := strings.CutPrefix(string(line), "# skip: "); ok {
				expectSkip, _, _ = strings.Cut(rest, " ")
			}
			continue
		}
		var ev ConnEvent
		err := n.Line(line, now, &ev)
		g := toGolden(i, &ev, err)
		if g.Skip != expectSkip {
			t.Errorf("%s.log line %d: skip %q, want %q (explain skips with a \"# skip: reason\" comment)", name, i, g.Skip, expectSkip)
		}
		expectSkip = ""
		got = append(got, g)
	}
	compareGolden(t, filepath.Join(goldenDir, name+".golden.json"), got)
}

// shanghai is the zone of the gateways in the shared samples (UTC+08:00, no daylight saving).
func shanghai(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("UTC+8", 8*3600)
	}
	return loc
}

func TestASAGolden(t *testing.T)        { runDeviceGolden(t, "asa") }
func TestFortiGateGolden(t *testing.T)  { runDeviceGolden(t, "fortigate") }
func TestJunosGolden(t *testing.T)      { runDeviceGolden(t, "junos") }
func TestPANOSGolden(t *testing.T)      { runDeviceGolden(t, "panos") }
func TestHuaweiGolden(t *testing.T)     { runDeviceGolden(t, "huawei") }
func TestH3CGolden(t *testing.T)        { runDeviceGolden(t, "h3c") }
func TestHillstoneGolden(t *testing.T)  { runDeviceGolden(t, "hillstone") }
func TestSangforGolden(t *testing.T)    { runDeviceGolden(t, "sangfor") }
func TestNatlogToolGolden(t *testing.T) { runDeviceGolden(t, "natlogtool") }
