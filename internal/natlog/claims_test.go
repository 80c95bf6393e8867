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

// sharedFormatsDir holds the sample lines every format owner works from. CI clones the project
// next to shared/, so it is reached from the package directory; the test skips when it is absent.
const sharedFormatsDir = "../../../shared/formats"

// deviceFormats are the formats whose parsers live in asa.go … natlogtool.go.
var deviceFormats = []string{"asa", "fortigate", "junos", "panos", "huawei", "h3c", "hillstone", "sangfor", "natlog"}

// TestFormatClaims runs every sample line through Detect of every registered parser and through
// a Normalizer, and checks that exactly the expected format claims it. Lines of formats parsed
// elsewhere (cloud flow logs, ulogd, Zeek) must not be claimed by any device parser.
func TestFormatClaims(t *testing.T) {
	files := map[string]string{ // file → the format that must claim each of its lines, "" for none of the device formats
		"cisco-asa.log":            "asa",
		"fortigate.log":            "fortigate",
		"juniper-srx.log":          "junos",
		"juniper-srx-plain.log":    "junos",
		"panos-traffic.csv":        "panos",
		"huawei-usg.log":           "huawei",
		"h3c-nat.log":              "h3c",
		"h3cflowd.log":             "h3c",
		"hillstone.log":            "hillstone",
		"sangfor-af.log":           "sangfor",
		"homegrown.log":            "natlog",
		"iptables.log":             "iptables",
		"conntrack.log":            "conntrack",
		"ulogd-nfct.jsonl":         "ulogd",
		"ulogd-printflow.log":      "ulogd",
		"aws-vpc-flow-v2.log":      "awsvpc",
		"aws-vpc-flow-v5.log":      "awsvpc",
		"gcp-cloud-nat.jsonl":      "gcp",
		"gcp-vpc-flow.jsonl":       "gcp",
		"aliyun-flow.jsonl":        "aliyun",
		"aliyun-nat-session.jsonl": "aliyun",
	}
	checked := 0
	if entries, err := os.ReadDir(sharedFormatsDir); err == nil {
		for _, e := range entries {
			if e.IsDir() || e.Name() == "README.md" {
				continue
			}
			want, mine := files[e.Name()]
			if !mine {
				want = "" // ulogd, AWS, GCP, Azure, Alibaba, Zeek: not ours
			}
			checked += checkClaims(t, filepath.Join(sharedFormatsDir, e.Name()), want)
		}
	} else {
		t.Logf("no shared samples at %s: checking testdata only", sharedFormatsDir)
	}

	golden := map[string]string{
		"asa.log": "asa", "fortigate.log": "fortigate", "junos.log": "junos", "panos.log": "panos",
		"huawei.log": "huawei", "h3c.log": "h3c", "hillstone.log": "hillstone", "sangfor.log": "sangfor",
		"natlogtool.log": "natlog", "iptables.log": "iptables", "conntrack.log": "conntrack",
	}
	for name, want := range golden {
		checked += checkClaims(t, filepath.Join(goldenDir, name), want)
	}
	for _, name := range []string{"iptables.log", "conntrack.log"} {
		checked += checkClaims(t, filepath.Join("../../testdata/sample", name), name[:len(name)-4])
	}
	if checked < 100 {
		t.Fatalf("checked only %d lines", checked)
	}
}

// checkClaims checks each non-comment line of path and returns how many it checked. want is the
// format that must claim every line, or "" when no device parser may claim any.
func checkClaims(t *testing.T, path, want string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNormalizer(t, Options{})
	now := time.Date(2025, 3, 20, 0, 0, 0, 0, time.UTC)
	count := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		count++
		var claimed []string
		for _, p := range Parsers() {
			if p.Detect(line) {
				claimed = append(claimed, p.Name())
			}
		}
		if len(claimed) > 1 {
			t.Errorf("%s:%d claimed by several formats %v", path, i, claimed)
		}
		if want == "" {
			for _, f := range claimed {
				if slices.Contains(deviceFormats, f) {
					t.Errorf("%s:%d claimed by %s, which must leave it to its own format", path, i, f)
				}
			}
			continue
		}
		if len(claimed) == 0 && parsedByNormalizer(n, line, now, want) {
			continue // a record that only its header line, held by the Normalizer, identifies
		}
		if len(claimed) == 0 && want == "iptables" && !strings.HasPrefix(path, sharedFormatsDir) {
			continue // the iptables golden file holds an unrelated syslog line on purpose
		}
		if len(claimed) != 1 || claimed[0] != want {
			t.Errorf("%s:%d claimed by %v, want %s", path, i, claimed, want)
			continue
		}
		var ev ConnEvent
		err := n.Line(line, now, &ev)
		if skip, ok := err.(*SkipError); ok && skip.Format != want {
			t.Errorf("%s:%d skipped as %q, want format %s", path, i, skip.Format, want)
		}
		if err == nil && ev.Format != want {
			t.Errorf("%s:%d parsed as %q, want %s", path, i, ev.Format, want)
		}
	}
	return count
}

// parsedByNormalizer reports whether n turns line into an event of format want. Detect sees one
// line at a time, so it cannot claim an AWS record written in a custom field order: only the
// header line before it, which the Normalizer remembers, names the fields.
func parsedByNormalizer(n *Normalizer, line []byte, now time.Time, want string) bool {
	var ev ConnEvent
	err := n.Line(line, now, &ev)
	return err == nil && ev.Format == want
}
