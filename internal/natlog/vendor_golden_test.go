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

// vendorDir holds log lines taken from vendor documentation, one file per format. Lines that
// begin with "//" name the source of the lines below them and are not parsed, because none of
// these formats has a comment syntax of its own (Zeek's "#" lines are headers).
const vendorDir = goldenDir + "/vendor"

// vendorSkips lists the documentation lines that natlog skips on purpose, by format and line
// number, with the reason. Every other line of a vendor file must parse.
var vendorSkips = map[string]map[int]string{
	"aliyun": {
		// The session log page masks public addresses, as in 106.XX.XX.203.
		3: "masked address 106.XX.XX.203 is not an address",
		// Alibaba Cloud logs no connection in a NODATA window.
		11: "NODATA entry describes no connection",
	},
	"zeek": {
		// The HTML page renders Zeek's tabs as runs of spaces, which the declared
		// separator (\x09) does not split.
		13: "record pasted with spaces in place of tabs",
	},
}

// runVendorGolden normalises every line of testdata/natlog/vendor/name.log with LineAll, compares
// the outcome with vendor/name.golden.json and fails on a skip that vendorSkips does not list.
func runVendorGolden(t *testing.T, name string) {
	data, err := os.ReadFile(filepath.Join(vendorDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNormalizer(t, Options{Gateway: "replay", InternalNets: officeNets})
	now := time.Date(2025, 3, 20, 0, 0, 0, 0, time.UTC)

	var got []goldenEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		if bytes.HasPrefix(sc.Bytes(), []byte("//")) {
			continue
		}
		var ev ConnEvent
		err := n.LineAll(sc.Bytes(), now, &ev, func(e *ConnEvent) *ConnEvent {
			got = append(got, toGolden(i, e, nil))
			return e
		})
		if err != nil {
			got = append(got, toGolden(i, &ev, err))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	for _, g := range got {
		// Header lines (Zeek's #fields and the like) describe the lines after them.
		if g.Skip == "" || (g.Skip == ReasonNotConnection.String() && g.SkipField == "header") {
			continue
		}
		if _, ok := vendorSkips[name][g.Line]; !ok {
			t.Errorf("%s.log line %d: unexplained skip %s (format %q, field %q)", name, g.Line, g.Skip, g.SkipFormat, g.SkipField)
		}
	}
	for line := range vendorSkips[name] {
		if !skippedLine(got, line) {
			t.Errorf("%s.log line %d: listed in vendorSkips but parsed", name, line)
		}
	}

	compareGolden(t, filepath.Join(vendorDir, name+".golden.json"), got)
}

func skippedLine(got []goldenEvent, line int) bool {
	for _, g := range got {
		if g.Line == line && g.Skip != "" {
			return true
		}
	}
	return false
}

func TestUlogdVendorGolden(t *testing.T)  { runVendorGolden(t, "ulogd") }
func TestGCPVendorGolden(t *testing.T)    { runVendorGolden(t, "gcp") }
func TestAliyunVendorGolden(t *testing.T) { runVendorGolden(t, "aliyun") }
func TestZeekVendorGolden(t *testing.T)   { runVendorGolden(t, "zeek") }

// TestVendorFilesNameSources checks that every vendor file starts with a source line.
func TestVendorFilesNameSources(t *testing.T) {
	for _, name := range []string{"ulogd", "gcp", "aliyun", "zeek"} {
		data, err := os.ReadFile(filepath.Join(vendorDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), "// ") {
			t.Errorf("%s.log: first line is not a // source line", name)
		}
	}
}
