package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natwatch/natwatch/internal/influxtest"
)

var update = flag.Bool("update", false, "rewrite testdata/sample/expected.jsonl from the current output")

func TestMain(m *testing.M) {
	os.Exit(influxtest.Main(m))
}

// sampleArgs replays the bundled sample as `make demo` does.
func sampleArgs(extra ...string) []string {
	args := []string{"replay",
		"--time-zone", "Asia/Shanghai",
		"--now", "2026-12-01T00:00:00+08:00",
		"--gateway", "edge-gw01",
		"--internal-networks", "10.20.0.0/16,203.0.113.10/32",
	}
	args = append(args, extra...)
	return append(args,
		filepath.Join("..", "..", "testdata", "sample", "iptables.log"),
		filepath.Join("..", "..", "testdata", "sample", "conntrack.log"))
}

func TestReplaySampleMatchesExpected(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(sampleArgs(), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}

	golden := filepath.Join("..", "..", "testdata", "sample", "expected.jsonl")
	if *update {
		if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(want) {
		t.Errorf("anomalies differ from %s (run with -update after checking them)\ngot:\n%s\nwant:\n%s", golden, stdout.String(), want)
	}

	summary := "natwatch replay: 12785 records read, 12785 parsed, 0 skipped;"
	if !strings.Contains(stderr.String(), summary) {
		t.Errorf("stderr lacks the summary %q:\n%s", summary, stderr.String())
	}
}

func TestReplaySampleFindsAttackers(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(sampleArgs(), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}

	for _, want := range []string{
		`"rule":"port_scan_vertical","level":"basic","severity":"high","state":"firing","key":"198.51.100.77"`,
		`"rule":"port_scan_vertical","level":"basic","severity":"high","state":"firing","key":"198.51.100.99"`,
		`"rule":"syn_flood_source","level":"basic","severity":"critical","state":"firing","key":"192.0.2.66"`,
		`"rule":"smtp_from_office","level":"basic","severity":"medium","state":"firing","key":"10.20.7.15"`,
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %s", want)
		}
	}
}

func TestReplayStdinAndStats(t *testing.T) {
	lines := strings.Join([]string{
		"Mar 14 02:17:43 edge-gw01 kernel: [884512.113207] DROP IN=eth0 OUT= MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00 SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0 ",
		"this line is of no known format",
		"",
		"[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=443 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=443 dport=41877",
	}, "\n")

	var stdout, stderr bytes.Buffer
	code := run([]string{"replay", "--stats", "--now", "2025-03-20T00:00:00Z", "-"}, strings.NewReader(lines), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}

	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want no anomalies", stdout.String())
	}
	summary := "natwatch replay: 3 records read, 2 parsed, 1 skipped (unknown_format: 1); 0 anomalies fired, 0 resolved"
	if !strings.Contains(stderr.String(), summary) {
		t.Errorf("stderr lacks %q:\n%s", summary, stderr.String())
	}
	for _, want := range []string{`"iptables": 1`, `"conntrack": 1`, `"unknown_format": 1`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--stats output lacks %s:\n%s", want, stderr.String())
		}
	}
}

func TestReplayUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"replay"}, "no input"},
		{"bad time zone", []string{"replay", "--time-zone", "Mars/Olympus", "x.log"}, `key Time_Zone: invalid value "Mars/Olympus"`},
		{"bad now", []string{"replay", "--now", "yesterday", "x.log"}, `invalid -now "yesterday"`},
		{"unknown command", []string{"watch"}, `unknown command "watch"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, nil, &stdout, &stderr); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestReplayMissingFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"replay", filepath.Join(t.TempDir(), "missing.log")}, nil, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "missing.log: no such file or directory") {
		t.Errorf("stderr does not name the missing file:\n%s", stderr.String())
	}
}

func TestReplayWritesAnomaliesToInfluxDB(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)

	var stdout, stderr bytes.Buffer
	code := run(sampleArgs("--influxdb-url", server.URL, "--influxdb-bucket", db), nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}

	printed := strings.Count(stdout.String(), "\n")
	if printed != 7 {
		t.Fatalf("printed %d anomalies, want 7:\n%s", printed, stdout.String())
	}

	series := server.Query(t, db, `SELECT rule, state, "key", value, threshold, src FROM natwatch_anomaly`)
	if len(series) != 1 {
		t.Fatalf("natwatch_anomaly: %d series, want 1", len(series))
	}
	rows := series[0].Rows()
	if len(rows) != printed {
		t.Fatalf("natwatch_anomaly has %d points, want the %d printed", len(rows), printed)
	}
	flood := 0
	for _, row := range rows {
		if row["rule"] == "syn_flood_source" && row["state"] == "firing" {
			flood++
			if row["key"] != "192.0.2.66" || row["value"] != 2500.0 || row["threshold"] != 2000.0 {
				t.Errorf("SYN flood point = %v, want key 192.0.2.66, value 2500, threshold 2000", row)
			}
		}
	}
	if flood != 1 {
		t.Errorf("found %d firing SYN flood points, want 1", flood)
	}

	tagged := server.Query(t, db, `SELECT count(value) FROM natwatch_anomaly GROUP BY gateway, severity`)
	if len(tagged) != 3 {
		t.Errorf("natwatch_anomaly has %d gateway/severity series, want 3 (critical, high, medium): %v", len(tagged), tagged)
	}

	traffic := server.Query(t, db, `SELECT max(conns_per_s) FROM natwatch_traffic WHERE direction = 'inbound' AND gateway = 'edge-gw01'`)
	if len(traffic) != 1 || len(traffic[0].Values) != 1 {
		t.Fatalf("natwatch_traffic inbound query returned %v", traffic)
	}
	if peak := traffic[0].Values[0][1]; peak != 2500.0 {
		t.Errorf("inbound peak conns_per_s = %v, want 2500 (the SYN flood)", peak)
	}

	plugin := server.Query(t, db, `SELECT records_in, parsed FROM natwatch_plugin`)
	if len(plugin) != 1 || len(plugin[0].Values) != 1 {
		t.Fatalf("natwatch_plugin query returned %v, want one point", plugin)
	}
	if got := plugin[0].Values[0][1]; got != 12785.0 {
		t.Errorf("natwatch_plugin records_in = %v, want 12785", got)
	}
}

func TestReplayUntimedLines(t *testing.T) {
	dmesg := "[1200.000000] DROP IN=ppp0 OUT= MAC= SRC=203.0.113.201 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=1 PROTO=TCP SPT=61022 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0"
	timed := "Mar 14 02:17:43 edge-gw01 kernel: [884512.113207] DROP IN=eth0 OUT= MAC= SRC=198.51.100.77 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0"
	input := strings.Join([]string{dmesg, timed, dmesg}, "\n")

	var stdout, stderr bytes.Buffer
	code := run([]string{"replay", "--stats", "--time-zone", "UTC", "--now", "2025-03-20T00:00:00Z", "-"}, strings.NewReader(input), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}

	summary := "natwatch replay: 3 records read, 2 parsed, 1 skipped (no_timestamp: 1)"
	if !strings.Contains(stderr.String(), summary) {
		t.Errorf("stderr lacks %q:\n%s", summary, stderr.String())
	}
	if strings.Contains(stderr.String(), `"late_dropped": 1`) || strings.Contains(stderr.String(), `"LateDropped": 1`) {
		t.Errorf("a line without a time made later records late:\n%s", stderr.String())
	}
}

func TestReplayJSONRecordsThroughFieldMap(t *testing.T) {
	var lines []string
	for port := 1; port <= 60; port++ {
		lines = append(lines, fmt.Sprintf(`{"ts":"2025-03-14T02:17:%02dZ","source":{"address":"198.51.100.250"},"target":{"address":"203.0.113.10","port":%d},"transport":"tcp","verdict":"drop"}`, port%60, port))
	}
	args := []string{"replay", "--time-zone", "UTC", "--gateway", "fw-json",
		"--field-map", "src=source.address,dst=target.address,dport=target.port,proto=transport,action=verdict,time=ts", "-"}

	var stdout, stderr bytes.Buffer
	if code := run(args, strings.NewReader(strings.Join(lines, "\n")), &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}

	if !strings.Contains(stderr.String(), "60 records read, 60 parsed, 0 skipped") {
		t.Errorf("JSON records were not read through the field map:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), `"rule":"port_scan_vertical"`) || !strings.Contains(stdout.String(), `"key":"198.51.100.250"`) {
		t.Errorf("no vertical scan reported for the JSON records:\n%s", stdout.String())
	}
}

func TestReplayGatewayFromFileName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "branch-fw7.log")
	line := "[1741889359.402211]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.20.4.37 dst=198.51.100.23 sport=52144 dport=25 [UNREPLIED] src=198.51.100.23 dst=203.0.113.10 sport=25 dport=41877\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"replay", "--internal-networks", "10.20.0.0/16", path}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"gateway":"branch-fw7","rule":"smtp_from_office"`) {
		t.Errorf("the anomaly does not carry the file name as gateway:\n%s", stdout.String())
	}
}

func TestReplayRejectsStdinTwice(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"replay", "-", "-"}, strings.NewReader(""), &stdout, &stderr); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "stdin (-) is named more than once") {
		t.Errorf("stderr = %q", stderr.String())
	}
}
