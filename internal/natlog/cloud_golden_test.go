package natlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// runCloudGolden normalises every line of testdata/natlog/name.log with LineAll, so that a line
// holding several connections gives one golden entry per connection, and compares the outcome
// with name.golden.json. One Normalizer reads the whole file, so header lines apply to the lines
// after them.
func runCloudGolden(t *testing.T, name string) {
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNormalizer(t, Options{Gateway: "replay", InternalNets: officeNets})
	now := time.Date(2025, 3, 20, 0, 0, 0, 0, time.UTC)

	var got []goldenEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
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

	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	path := filepath.Join(goldenDir, name+".golden.json")
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
	if len(got) != len(wantEvents) {
		t.Errorf("%s: %d outcomes, want %d", name, len(got), len(wantEvents))
	}
	for i := range min(len(got), len(wantEvents)) {
		gj, _ := json.Marshal(got[i])
		wj, _ := json.Marshal(wantEvents[i])
		if !bytes.Equal(gj, wj) {
			t.Errorf("outcome %d:\n got  %s\n want %s", i+1, gj, wj)
		}
	}
}

func TestUlogdGolden(t *testing.T)  { runCloudGolden(t, "ulogd") }
func TestAWSVPCGolden(t *testing.T) { runCloudGolden(t, "awsvpc") }
func TestGCPGolden(t *testing.T)    { runCloudGolden(t, "gcp") }
func TestAzureGolden(t *testing.T)  { runCloudGolden(t, "azure") }
func TestAliyunGolden(t *testing.T) { runCloudGolden(t, "aliyun") }
func TestZeekGolden(t *testing.T)   { runCloudGolden(t, "zeek") }
