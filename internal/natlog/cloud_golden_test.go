package natlog

import (
	"bufio"
	"bytes"
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

	compareGolden(t, filepath.Join(goldenDir, name+".golden.json"), got)
}

func TestUlogdGolden(t *testing.T)  { runCloudGolden(t, "ulogd") }
func TestAWSVPCGolden(t *testing.T) { runCloudGolden(t, "awsvpc") }
func TestGCPGolden(t *testing.T)    { runCloudGolden(t, "gcp") }
func TestAzureGolden(t *testing.T)  { runCloudGolden(t, "azure") }
func TestAliyunGolden(t *testing.T) { runCloudGolden(t, "aliyun") }
func TestZeekGolden(t *testing.T)   { runCloudGolden(t, "zeek") }
