package main

import (
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

var flushMicros = regexp.MustCompile(`(?m)^host flush step=\d+ instance=\d+ thread=\d+ call=\d+ rc=-?\d+ us=(\d+)$`)

// flushDurations returns the duration of every flush call that flbhost printed, sorted.
func flushDurations(stdout string) []time.Duration {
	var durations []time.Duration
	for _, m := range flushMicros.FindAllStringSubmatch(stdout, -1) {
		us, _ := strconv.ParseInt(m[1], 10, 64)
		durations = append(durations, time.Duration(us)*time.Microsecond)
	}
	slices.Sort(durations)
	return durations
}

// TestStandInInfluxDown flushes chunks while InfluxDB_URL names a 127.0.0.1 port where nothing
// listens: every flush must return FLB_OK without waiting for the network, and what could not be
// sent must stay in the spool at exit.
func TestStandInInfluxDown(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + listener.Addr().String()
	listener.Close()

	spoolDir := filepath.Join(t.TempDir(), "spool")
	scan := writeChunk(t, "scan.msgpack", scanChunk(time.Now()))

	run := runHost(t,
		"--instance",
		"--prop", "Gateway=gw-down",
		"--prop", "Time_Zone=UTC",
		"--prop", "InfluxDB_URL="+downURL,
		"--prop", "InfluxDB_Bucket=natwatch",
		"--prop", "Spool_Dir="+spoolDir,
		"--prop", "Shutdown_Timeout=1s",
		"--flush", "0:kern.dmesg:"+scan+":4:25",
		"--sleep", "1500",
		"--flush", "0:kern.dmesg:"+scan+":4:25",
	)

	checkClean(t, run)
	checkCodes(t, run, "flush 0", repeatCode(1, 100)...)
	checkCodes(t, run, "flush 2", repeatCode(1, 100)...)
	checkCodes(t, run, "exit 0", 1)

	durations := flushDurations(run.stdout)
	if len(durations) != 200 {
		t.Fatalf("found %d flush durations, want 200", len(durations))
	}
	p50 := durations[len(durations)/2]
	p99 := durations[len(durations)*99/100]
	longest := durations[len(durations)-1]
	t.Logf("flush durations with InfluxDB down (200 flushes of %d records, 4 threads): p50 %v, p99 %v, max %v", scanPorts, p50, p99, longest)

	// A guard against a flush that waits for the network, not a latency target.
	if longest > 2*time.Second {
		t.Errorf("longest flush took %v with InfluxDB down, want well under 2s", longest)
	}
	if len(logLines(run.stderr, "instance=natwatch.0", "InfluxDB write failed: server unreachable")) == 0 {
		t.Errorf("no log line about the unreachable server")
	}
	if len(logLines(run.stderr, "instance=natwatch.0", "closed with points in the spool")) != 1 {
		t.Errorf("no log line about the points kept in the spool at exit")
	}
	if segments, _ := filepath.Glob(filepath.Join(spoolDir, "*.seg")); len(segments) == 0 {
		t.Errorf("no spool segment left in %s for the next start", spoolDir)
	}
}
