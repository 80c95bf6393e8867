package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// These tests build the plugin as a shared library and drive it with testhost/flbhost.c, a C
// program that makes the calls Fluent Bit makes.
//
// NOTE: the library is built without -race. A -race c-shared library loaded by flbhost stopped at
// start-up with "ThreadSanitizer failed to allocate … (errno: 12)" (Go 1.26.8, linux/amd64), so
// TestInstanceConcurrentFlush covers the instance's concurrency under -race in-process instead.

const (
	scanSource = "198.51.100.77"
	scanTarget = "203.0.113.10"
	scanPorts  = 60
	parsedRows = 50
)

var standIn struct {
	once    sync.Once
	dir     string
	library string
	host    string
	err     error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natwatch-standin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	standIn.dir = dir

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildStandIn builds natwatch.so and flbhost once per test binary and returns their paths.
func buildStandIn(t *testing.T) (library, host string) {
	t.Helper()

	standIn.once.Do(func() {
		cc := os.Getenv("CC")
		if cc == "" {
			cc = "gcc"
		}
		if _, err := exec.LookPath(cc); err != nil {
			standIn.err = fmt.Errorf("C compiler %q not found: %w", cc, err)
			return
		}

		library := filepath.Join(standIn.dir, "natwatch.so")
		args := []string{"build", "-buildmode=c-shared", "-o", library}
		args = append(args, ".")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			standIn.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}

		host := filepath.Join(standIn.dir, "flbhost")
		ccArgs := []string{"-Wall", "-Wextra", "-Werror", "-O1", "-pthread", "-o", host,
			filepath.Join("testhost", "flbhost.c"), "-ldl"}
		if out, err := exec.Command(cc, ccArgs...).CombinedOutput(); err != nil {
			standIn.err = fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(ccArgs, " "), err, out)
			return
		}

		standIn.library = library
		standIn.host = host
	})

	if standIn.err != nil {
		t.Fatalf("building the stand-in: %v", standIn.err)
	}
	return standIn.library, standIn.host
}

// hostRun is the outcome of one flbhost run.
type hostRun struct {
	stdout, stderr string
	exitErr        error
	results        map[string][]int // "init 0", "flush 2", "exit 1" → return codes in output order
}

// runHost runs flbhost on the plugin with args and parses its "host …" result lines.
func runHost(t *testing.T, args ...string) hostRun {
	t.Helper()
	library, host := buildStandIn(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, host, append([]string{library}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()

	run := hostRun{stdout: stdout.String(), stderr: stderr.String(), exitErr: err}
	run.results = parseHostLines(t, run.stdout)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("flbhost %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), run.stdout, run.stderr)
		}
	})
	return run
}

var (
	initOrExitLine = regexp.MustCompile(`^host (init|exit) (\d+) rc=(-?\d+)$`)
	flushLine      = regexp.MustCompile(`^host flush step=(\d+) instance=\d+ thread=\d+ call=\d+ rc=(-?\d+) us=(\d+)$`)
)

func parseHostLines(t *testing.T, stdout string) map[string][]int {
	t.Helper()
	results := make(map[string][]int)

	scanner := bufio.NewScanner(strings.NewReader(stdout))
	for scanner.Scan() {
		line := scanner.Text()
		if m := initOrExitLine.FindStringSubmatch(line); m != nil {
			rc, _ := strconv.Atoi(m[3])
			key := m[1] + " " + m[2]
			results[key] = append(results[key], rc)
		}
		if m := flushLine.FindStringSubmatch(line); m != nil {
			rc, _ := strconv.Atoi(m[2])
			key := "flush " + m[1]
			results[key] = append(results[key], rc)
		}
	}
	return results
}

// checkCodes fails unless the result lines for key carry exactly the codes in want.
func checkCodes(t *testing.T, run hostRun, key string, want ...int) {
	t.Helper()
	if got := run.results[key]; !slicesEqual(got, want) {
		t.Errorf("%s: return codes %v, want %v", key, got, want)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func repeatCode(code, n int) []int {
	codes := make([]int, n)
	for i := range codes {
		codes[i] = code
	}
	return codes
}

// checkClean fails when the host did not finish with exit status 0 or the plugin logged a panic.
func checkClean(t *testing.T, run hostRun) {
	t.Helper()
	if run.exitErr != nil {
		t.Errorf("flbhost failed: %v", run.exitErr)
	}
	if !strings.Contains(run.stdout, "host done\n") {
		t.Errorf("flbhost did not reach the end of its shutdown")
	}
	if strings.Contains(run.stderr, "panic: ") || strings.Contains(run.stderr, `msg="panic`) {
		t.Errorf("a panic was logged")
	}
}

// logLines returns the natwatch log lines on stderr that contain every one of parts.
func logLines(stderr string, parts ...string) []string {
	var found []string
	for line := range strings.SplitSeq(stderr, "\n") {
		if !strings.HasPrefix(line, logPrefix) {
			continue
		}
		matches := true
		for _, part := range parts {
			if !strings.Contains(line, part) {
				matches = false
				break
			}
		}
		if matches {
			found = append(found, line)
		}
	}
	return found
}

// writeChunk writes the events as one chunk file and returns its path.
func writeChunk(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// scanChunk holds kernel LOG lines of one source probing scanPorts TCP ports of one address with
// SYN packets that the firewall drops. The lines are as `dmesg --follow` prints them, without a
// syslog header, so the gateway name comes from the instance's Gateway key.
func scanChunk(now time.Time) []byte {
	var data []byte
	for i := range scanPorts {
		line := fmt.Sprintf("[884512.%06d] DROP IN=eth0 OUT= "+
			"MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00 SRC=%s DST=%s LEN=44 TOS=0x00 PREC=0x00 "+
			"TTL=49 ID=%d PROTO=TCP SPT=61022 DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0 ",
			113207+i*181, scanSource, scanTarget, 54321+i, 1000+i*7)
		t := now.Add(time.Duration(i) * 5 * time.Millisecond)
		data = chunk.AppendEventV2(data, t, map[string]any{"log": line})
	}
	return data
}

// parsedFieldMap maps natwatch's field names to the keys of parsedChunk's records.
const parsedFieldMap = "src=src_ip,dst=dst_ip,sport=src_port,dport=dst_port,proto=protocol," +
	"action=action,bytes=bytes,packets=packets"

// parsedChunk holds records whose fields Fluent Bit already parsed: outbound HTTPS connections
// from one internal host.
func parsedChunk(now time.Time) []byte {
	var data []byte
	for i := range parsedRows {
		record := map[string]any{
			"src_ip":   "10.20.4.37",
			"dst_ip":   "198.51.100.23",
			"src_port": 52144 + i,
			"dst_port": 443,
			"protocol": "tcp",
			"action":   "accept",
			"bytes":    1200 + i,
			"packets":  9,
		}
		data = chunk.AppendEventV2(data, now.Add(time.Duration(i)*time.Millisecond), record)
	}
	return data
}

// malformedChunk is one valid event followed by an event cut off inside its timestamp.
func malformedChunk(now time.Time) []byte {
	data := chunk.AppendEventV2(nil, now, map[string]any{"log": "ok"})
	return append(data, 0x92, 0x92, 0xd7, 0x00, 0x65)
}

// anomalies returns the JSON anomaly lines on stdout.
func anomalies(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var found []map[string]any
	for line := range strings.SplitSeq(stdout, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Errorf("stdout line is not valid JSON: %v: %s", err, line)
			continue
		}
		found = append(found, a)
	}
	return found
}

func TestStandInTwoInstances(t *testing.T) {
	now := time.Now()
	scan := writeChunk(t, "scan.msgpack", scanChunk(now))
	parsed := writeChunk(t, "parsed.msgpack", parsedChunk(now))
	malformed := writeChunk(t, "malformed.msgpack", malformedChunk(now))
	empty := writeChunk(t, "empty.msgpack", nil)

	run := runHost(t,
		"--instance",
		"--prop", "Gateway=gw-a",
		"--prop", "Anomaly_Stdout=on",
		"--prop", "Time_Zone=UTC",
		"--prop", "Tick_Interval=1s",
		"--instance",
		"--prop", "gateway=gw-b", // Fluent Bit matches property names case-insensitively
		"--prop", "Anomaly_Stdout=off",
		"--prop", "Internal_Networks=10.20.0.0/16, 192.168.0.0/16",
		"--prop", "Field_Map="+parsedFieldMap,
		"--prop", "Plugin_Log_Level=debug",
		"--flush", "0:kern.dmesg:"+scan+":4:1",
		"--flush", "1:fw.parsed:"+parsed+":4:2",
		"--flush", "0:kern.dmesg:"+malformed,
		"--flush", "0:kern.dmesg:"+scan,
		"--flush", "0:kern.dmesg:"+empty,
		"--sleep", "1500",
	)

	checkClean(t, run)
	checkCodes(t, run, "init 0", 1)
	checkCodes(t, run, "init 1", 1)
	checkCodes(t, run, "flush 0", repeatCode(1, 4)...)
	checkCodes(t, run, "flush 1", repeatCode(1, 8)...)
	checkCodes(t, run, "flush 2", 0)
	checkCodes(t, run, "flush 3", 1)
	checkCodes(t, run, "flush 4", 1)
	checkCodes(t, run, "exit 0", 1)
	checkCodes(t, run, "exit 1", 1)
	if !strings.Contains(run.stdout, "host register rc=0 type=2 proxy=11 name=natwatch\n") {
		t.Errorf("registration line missing or wrong")
	}

	if len(logLines(run.stderr, "instance=natwatch.0", "msg=started", "gateway=gw-a", "anomaly_stdout=true")) != 1 {
		t.Errorf("no single start line with the settings of instance natwatch.0")
	}
	if len(logLines(run.stderr, "instance=natwatch.1", "msg=started", "gateway=gw-b",
		"internal_networks=10.20.0.0/16,192.168.0.0/16", "plugin_log_level=DEBUG")) != 1 {
		t.Errorf("no single start line with the settings of instance natwatch.1")
	}
	if len(logLines(run.stderr, "instance=natwatch.0", "level=ERROR", "malformed chunk", "tag=kern.dmesg")) != 1 {
		t.Errorf("no error line about the malformed chunk")
	}

	// Every call delivers its chunk exactly once: 5 scan chunks and the malformed chunk's one
	// valid event reach instance 0, and 8 chunks of parsed records reach instance 1.
	recordsA := fmt.Sprintf("records=%d", 5*scanPorts+1)
	if len(logLines(run.stderr, "instance=natwatch.0", "msg=stopped", recordsA, "decode_errors=1")) != 1 {
		t.Errorf("instance natwatch.0 did not log a stop line with %s and decode_errors=1", recordsA)
	}
	recordsB := fmt.Sprintf("records=%d", 8*parsedRows)
	parsedB := fmt.Sprintf("parsed=%d", 8*parsedRows)
	if len(logLines(run.stderr, "instance=natwatch.1", "msg=stopped", recordsB, parsedB, "decode_errors=0")) != 1 {
		t.Errorf("instance natwatch.1 did not log a stop line with %s and %s", recordsB, parsedB)
	}

	var scanAlerts int
	for _, a := range anomalies(t, run.stdout) {
		if a["gateway"] != "gw-a" {
			t.Errorf("anomaly on stdout for gateway %v; only instance natwatch.0 (gw-a) writes to stdout", a["gateway"])
		}
		if a["state"] == "firing" && (a["key"] == scanSource || a["src"] == scanSource) {
			scanAlerts++
		}
	}
	if scanAlerts == 0 {
		t.Errorf("no firing anomaly for scan source %s on stdout", scanSource)
	}
}

func TestStandInInvalidConfig(t *testing.T) {
	scan := writeChunk(t, "scan.msgpack", scanChunk(time.Now()))

	run := runHost(t,
		"--instance",
		"--prop", "Time_Zone=Mars/Olympus",
		"--prop", "Tick_Interval=fast",
		"--prop", "Gateway=gw-bad",
		"--instance",
		"--prop", "Gateway=gw-good",
		"--flush", "0:kern:"+scan,
		"--flush", "1:kern:"+scan,
	)

	checkClean(t, run)
	if codes := run.results["init 0"]; len(codes) != 1 || codes[0] > 0 {
		t.Errorf("init 0: return codes %v, want one code ≤ 0", codes)
	}
	checkCodes(t, run, "init 1", 1)
	if !strings.Contains(run.stdout, "host flush step=0 instance=0 skipped=not-initialized\n") {
		t.Errorf("the flush to the failed instance was not skipped")
	}
	checkCodes(t, run, "flush 1", 1)
	checkCodes(t, run, "exit 0")
	checkCodes(t, run, "exit 1", 1)

	bad := logLines(run.stderr, "instance=natwatch.0", "level=ERROR", "invalid configuration",
		"Time_Zone", "Mars/Olympus", "Tick_Interval", "fast")
	if len(bad) != 1 {
		t.Errorf("want one error line naming Time_Zone=Mars/Olympus and Tick_Interval=fast, got %d", len(bad))
	}
	if len(logLines(run.stderr, "instance=natwatch.0", "msg=started")) != 0 {
		t.Errorf("the instance with invalid settings logged a start")
	}
	if len(logLines(run.stderr, "instance=natwatch.1", "msg=started", "gateway=gw-good")) != 1 {
		t.Errorf("the valid instance did not start beside the invalid one")
	}
}

func TestStandInWithoutContext(t *testing.T) {
	scan := writeChunk(t, "scan.msgpack", scanChunk(time.Now()))

	tests := []struct {
		name      string
		instances int
		flushCode int
		logParts  []string
	}{
		{name: "one instance", instances: 1, flushCode: 1,
			logParts: []string{"instance=natwatch.0", "msg=stopped", fmt.Sprintf("records=%d", scanPorts)}},
		{name: "two instances", instances: 2, flushCode: 0,
			logParts: []string{"level=ERROR", "exactly one running instance", "running=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--no-ctx"}
			for i := range tt.instances {
				args = append(args, "--instance", "--prop", fmt.Sprintf("Gateway=gw-%d", i))
			}
			args = append(args, "--flush", "0:kern:"+scan)

			run := runHost(t, args...)

			checkClean(t, run)
			checkCodes(t, run, "flush 0", tt.flushCode)
			for i := range tt.instances {
				checkCodes(t, run, fmt.Sprintf("init %d", i), 1)
				checkCodes(t, run, fmt.Sprintf("exit %d", i), 1)
			}
			if len(logLines(run.stderr, tt.logParts...)) != 1 {
				t.Errorf("want one log line containing %q", tt.logParts)
			}
			if n := len(logLines(run.stderr, "msg=stopped")); n != tt.instances {
				t.Errorf("%d instances logged a stop, want %d", n, tt.instances)
			}
		})
	}
}
