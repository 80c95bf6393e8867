package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/natwatch/natwatch/internal/influxtest"
)

// countPoints returns the number of points of a measurement, counted on one field.
func countPoints(t *testing.T, server *influxtest.Server, db, measurement, field string) float64 {
	t.Helper()
	series := server.Query(t, db, "SELECT count("+field+") FROM "+measurement)
	if len(series) == 0 {
		return 0
	}
	return series[0].Values[0][1].(float64)
}

// TestReplayThroughOutageExactlyOnce replays the sample while InfluxDB is down, so that every
// point goes to the spool, then starts a second run with the same spool after InfluxDB is back.
// The database must then hold exactly the points a run without an outage writes.
func TestReplayThroughOutageExactlyOnce(t *testing.T) {
	reference := influxtest.Start(t)
	referenceDB := influxtest.DatabaseName(t)
	reference.CreateDatabase(t, referenceDB)

	var stdout, stderr bytes.Buffer
	if code := run(sampleArgs("--influxdb-url", reference.URL, "--influxdb-bucket", referenceDB), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("reference replay: exit status %d, stderr:\n%s", code, stderr.String())
	}
	wantAnomalies := countPoints(t, reference, referenceDB, "natwatch_anomaly", "value")
	wantTraffic := countPoints(t, reference, referenceDB, "natwatch_traffic", "conns_per_s")
	if wantAnomalies != 7 || wantTraffic == 0 {
		t.Fatalf("reference run wrote %v anomalies and %v traffic points, want 7 and some", wantAnomalies, wantTraffic)
	}

	server := influxtest.StartDedicated(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)
	spool := filepath.Join(t.TempDir(), "spool")
	server.Kill(t)

	stdout.Reset()
	stderr.Reset()
	args := sampleArgs("--influxdb-url", server.URL, "--influxdb-bucket", db, "--spool-dir", spool, "--shutdown-timeout", "1s")
	if code := run(args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("replay during the outage: exit status %d, want 0 (points kept in the spool); stderr:\n%s", code, stderr.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte("closed with points in the spool")) {
		t.Fatalf("replay during the outage did not report points left in the spool:\n%s", stderr.String())
	}

	server.Restart(t)
	stdout.Reset()
	stderr.Reset()
	// A replay of no records with the same spool sends what the first run left behind.
	resend := []string{"replay", "--influxdb-url", server.URL, "--influxdb-bucket", db, "--spool-dir", spool, "-"}
	if code := run(resend, bytes.NewReader(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("replay after the outage: exit status %d, stderr:\n%s", code, stderr.String())
	}

	if got := countPoints(t, server, db, "natwatch_anomaly", "value"); got != wantAnomalies {
		t.Errorf("natwatch_anomaly holds %v points after the outage, want %v", got, wantAnomalies)
	}
	if got := countPoints(t, server, db, "natwatch_traffic", "conns_per_s"); got != wantTraffic {
		t.Errorf("natwatch_traffic holds %v points after the outage, want %v", got, wantTraffic)
	}
}
