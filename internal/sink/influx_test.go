package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.Main(m)) }

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

// waitFor polls condition until it holds, and fails the test after 20 s.
func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedPortURL returns the URL of a 127.0.0.1 port that was just opened and closed, so
// connections to it are refused.
func closedPortURL(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	url := "http://" + listener.Addr().String()
	listener.Close()
	return url
}

func newTestInflux(t *testing.T, cfg InfluxConfig) *Influx {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	i, err := NewInflux(cfg)
	if err != nil {
		t.Fatalf("NewInflux: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		i.Close(ctx)
	})
	return i
}

func closeWithin(t *testing.T, i *Influx, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return i.Close(ctx)
}

func TestNewInfluxRejectsInvalidConfig(t *testing.T) {
	valid := InfluxConfig{URL: "http://127.0.0.1:8086", Bucket: "natwatch"}
	tests := []struct {
		name   string
		change func(*InfluxConfig)
		want   string
	}{
		{"unparsable URL", func(c *InfluxConfig) { c.URL = "http://[::1" }, `invalid InfluxDB URL "http://[::1"`},
		{"no scheme", func(c *InfluxConfig) { c.URL = "127.0.0.1:8086" }, `invalid InfluxDB URL "127.0.0.1:8086"`},
		{"ftp scheme", func(c *InfluxConfig) { c.URL = "ftp://127.0.0.1" }, `invalid InfluxDB URL "ftp://127.0.0.1": expected an http:// or https:// URL`},
		{"missing host", func(c *InfluxConfig) { c.URL = "http://" }, `invalid InfluxDB URL "http://": missing host`},
		{"credentials in URL", func(c *InfluxConfig) { c.URL = "http://u:secret@127.0.0.1" }, `invalid InfluxDB URL "http://u:xxxxx@127.0.0.1": put credentials in the token`},
		{"missing bucket", func(c *InfluxConfig) { c.Bucket = "" }, "missing InfluxDB bucket"},
		{"negative batch size", func(c *InfluxConfig) { c.BatchSize = -1 }, "invalid InfluxDB batch size: must not be negative"},
		{"negative flush interval", func(c *InfluxConfig) { c.FlushInterval = -time.Second }, "invalid InfluxDB flush interval: must not be negative"},
		{"negative timeout", func(c *InfluxConfig) { c.Timeout = -time.Second }, "invalid InfluxDB timeout: must not be negative"},
		{"queue size 1", func(c *InfluxConfig) { c.QueueSize = 1 }, "invalid InfluxDB queue size 1: must be at least 2"},
		{"retry waits reversed", func(c *InfluxConfig) { c.RetryMin = time.Minute; c.RetryMax = time.Second }, "invalid InfluxDB retry waits: minimum 1m0s is above maximum 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)

			i, err := NewInflux(cfg)

			if err == nil {
				i.Close(context.Background())
				t.Fatal("NewInflux returned no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, expected it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestNewInfluxAppliesDefaults(t *testing.T) {
	i := newTestInflux(t, InfluxConfig{URL: "http://127.0.0.1:8086", Bucket: "natwatch"})

	cfg := i.cfg
	if cfg.BatchSize != DefaultBatchSize || cfg.FlushInterval != DefaultFlushInterval ||
		cfg.QueueSize != DefaultQueueSize || cfg.Timeout != DefaultTimeout ||
		cfg.RetryMin != DefaultRetryMin || cfg.RetryMax != DefaultRetryMax {
		t.Errorf("config after defaults = %+v", cfg)
	}
}

func TestInfluxWritesToRealServer(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)

	// A flush interval of an hour leaves all sending to Close.
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: db, FlushInterval: time.Hour})
	i.WriteAnomaly(detector.Anomaly{
		Time: pointTime, Gateway: "gw-edge-1", Rule: "port_scan_vertical", Level: "basic",
		Severity: "high", State: "firing", Key: "203.0.113.7", Value: 120, Threshold: 50,
		Summary: `203.0.113.7 probed 120 ports, "fast"`, Src: "203.0.113.7", Dst: "198.51.100.10",
	})
	i.WriteAnomaly(detector.Anomaly{
		Time: pointTime.Add(time.Second), Gateway: "gw edge,2", Rule: "smtp_from_office",
		Level: "behavior", Severity: "medium", State: "resolved", Key: "10.20.0.5", Value: 0.5,
		Threshold: 1, Summary: "back to normal\n\\ \"ok\"", Src: "10.20.0.5", Dst: "192.0.2.25",
	})
	i.WriteTraffic(detector.TrafficPoint{
		Time: pointTime, Gateway: "gw-edge-1", Direction: "outbound",
		ConnsPerS: 12.5, BytesPerS: 1048576, PacketsPerS: 900, DropsPerS: 0.25, OutInRatio: 3,
	})
	i.WritePlugin(PluginStats{
		Time: pointTime, Gateway: "gw-edge-1", Instance: "natwatch.0",
		RecordsIn: 1000, Parsed: 990, Skipped: 10, Anomalies: 2,
		SkipReasons: map[string]uint64{"no_match": 10},
	})

	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	stats := i.Stats()
	if stats != (InfluxStats{PointsWritten: 4}) {
		t.Errorf("stats = %+v, expected 4 points written and nothing else", stats)
	}

	anomalies := server.Query(t, db, "SELECT * FROM natwatch_anomaly")
	if len(anomalies) != 1 {
		t.Fatalf("got %d anomaly series, expected 1", len(anomalies))
	}
	wantAnomalies := []map[string]any{
		{
			"time": "2024-05-01T10:00:00.123456789Z", "gateway": "gw-edge-1", "rule": "port_scan_vertical",
			"level": "basic", "severity": "high", "state": "firing", "key": "203.0.113.7",
			"value": 120.0, "threshold": 50.0, "summary": `203.0.113.7 probed 120 ports, "fast"`,
			"src": "203.0.113.7", "dst": "198.51.100.10",
		},
		{
			"time": "2024-05-01T10:00:01.123456789Z", "gateway": "gw edge,2", "rule": "smtp_from_office",
			"level": "behavior", "severity": "medium", "state": "resolved", "key": "10.20.0.5",
			"value": 0.5, "threshold": 1.0, "summary": "back to normal\n\\ \"ok\"",
			"src": "10.20.0.5", "dst": "192.0.2.25",
		},
	}
	assertRows(t, anomalies[0].Rows(), wantAnomalies)

	traffic := server.Query(t, db, "SELECT * FROM natwatch_traffic")
	if len(traffic) != 1 {
		t.Fatalf("got %d traffic series, expected 1", len(traffic))
	}
	assertRows(t, traffic[0].Rows(), []map[string]any{{
		"time": "2024-05-01T10:00:00.123456789Z", "gateway": "gw-edge-1", "direction": "outbound",
		"conns_per_s": 12.5, "bytes_per_s": 1048576.0, "packets_per_s": 900.0, "drops_per_s": 0.25,
		"out_in_ratio": 3.0,
	}})

	plugin := server.Query(t, db, "SELECT * FROM natwatch_plugin")
	if len(plugin) != 1 {
		t.Fatalf("got %d plugin series, expected 1", len(plugin))
	}
	assertRows(t, plugin[0].Rows(), []map[string]any{{
		"time": "2024-05-01T10:00:00.123456789Z", "gateway": "gw-edge-1", "instance": "natwatch.0",
		"records_in": 1000.0, "parsed": 990.0, "skipped": 10.0, "anomalies": 2.0,
		"points_written": 0.0, "points_dropped": 0.0, "write_errors": 0.0, "flush_panics": 0.0,
		"rule_reloads": 0.0, "rule_reload_failures": 0.0, "evictions": 0.0, "skipped_no_match": 10.0,
		"rules_loaded": 0.0, "chunks_retried": 0.0, "points_rejected": 0.0, "points_queued": 0.0,
		"points_spooled": 0.0, "spool_bytes": 0.0, "spool_oldest_age_s": 0.0,
		"write_errors_network": 0.0, "write_errors_auth": 0.0, "write_errors_not_found": 0.0,
		"write_errors_bad_request": 0.0, "write_errors_throttled": 0.0, "write_errors_server": 0.0,
		"webhook_sent": 0.0, "webhook_failed": 0.0, "webhook_dropped": 0.0, "blocklist_entries": 0.0,
		"flushes": 0.0, "flush_p50_us": 0.0, "flush_p99_us": 0.0, "flush_max_us": 0.0,
	}})

	tagKeys := server.Query(t, db, "SHOW TAG KEYS FROM natwatch_anomaly")
	var keys []string
	for _, row := range tagKeys[0].Rows() {
		keys = append(keys, row["tagKey"].(string))
	}
	if got, want := strings.Join(keys, ","), "gateway,level,rule,severity,state"; got != want {
		t.Errorf("anomaly tag keys = %s, expected %s", got, want)
	}
}

// assertRows compares query rows with want, column by column.
func assertRows(t *testing.T, got, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, expected %d:\n%v", len(got), len(want), got)
	}
	for n := range want {
		for column, value := range want[n] {
			if got[n][column] != value {
				t.Errorf("row %d column %s = %#v, expected %#v", n, column, got[n][column], value)
			}
		}
		if len(got[n]) != len(want[n]) {
			t.Errorf("row %d has columns %v, expected exactly %v", n, got[n], want[n])
		}
	}
}

func TestInfluxRetentionPolicyBucket(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)
	server.Query(t, db, `CREATE RETENTION POLICY "week" ON "`+db+`" DURATION 7d REPLICATION 1`)

	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: db + "/week", FlushInterval: time.Hour})
	i.WriteAnomaly(detector.Anomaly{Time: time.Now(), Rule: "r", State: "firing", Value: 1})
	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if series := server.Query(t, db, `SELECT "value" FROM "week".natwatch_anomaly`); len(series) != 1 || len(series[0].Values) != 1 {
		t.Errorf("retention policy week holds %+v, expected one point", series)
	}
	if series := server.Query(t, db, `SELECT "value" FROM "autogen".natwatch_anomaly`); series != nil {
		t.Errorf("retention policy autogen holds %+v, expected nothing", series)
	}
}

func TestInfluxQueueFullDropsTrafficFirst(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)

	// A batch larger than the queue and an hour between flushes leave every point queued until
	// Close, so the queue's behaviour is all that decides what is kept.
	i := newTestInflux(t, InfluxConfig{
		URL: server.URL, Bucket: db, QueueSize: 8, BatchSize: 100, FlushInterval: time.Hour,
	})
	for n := 1; n <= 10; n++ {
		i.WriteTraffic(detector.TrafficPoint{Time: pointTime.Add(time.Duration(n) * time.Second), Gateway: "gw1", ConnsPerS: float64(n)})
	}
	if got := i.Stats(); got.Queued != 6 || got.PointsDropped != 4 || got.AnomaliesDropped != 0 {
		t.Errorf("after 10 traffic points: stats = %+v, expected 6 queued and 4 dropped", got)
	}

	for n := 1; n <= 4; n++ {
		i.WriteAnomaly(detector.Anomaly{Time: pointTime.Add(time.Duration(n) * time.Second), Rule: "r", Value: float64(n)})
	}
	if got := i.Stats(); got.Queued != 8 || got.PointsDropped != 6 || got.AnomaliesDropped != 0 {
		t.Errorf("after 4 anomalies: stats = %+v, expected 8 queued and 6 dropped", got)
	}

	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	anomalies := server.Query(t, db, "SELECT value FROM natwatch_anomaly")
	if len(anomalies) != 1 || len(anomalies[0].Values) != 4 {
		t.Fatalf("anomalies in InfluxDB = %+v, expected 4", anomalies)
	}
	traffic := server.Query(t, db, "SELECT conns_per_s FROM natwatch_traffic")
	if len(traffic) != 1 {
		t.Fatalf("traffic series = %+v, expected 1", traffic)
	}
	var kept []string
	for _, row := range traffic[0].Rows() {
		kept = append(kept, fmt.Sprint(row["conns_per_s"]))
	}
	if got, want := strings.Join(kept, ","), "3,4,5,6"; got != want {
		t.Errorf("traffic points kept = %s, expected %s (the oldest two evicted by anomalies)", got, want)
	}
}

func TestInfluxUnreachableNeverBlocksWriters(t *testing.T) {
	const writes = 10_000
	i := newTestInflux(t, InfluxConfig{
		URL: closedPortURL(t), Bucket: "natwatch", QueueSize: 2 * writes,
		BatchSize: 100, FlushInterval: 5 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
	})

	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range writes {
			i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r", Value: float64(n)})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d writes to an unreachable server did not return within 30 s", writes)
	}

	waitFor(t, "two failed write requests", func() bool { return i.Stats().WriteErrors >= 2 })
	if got := i.Stats(); got.Queued != writes || got.PointsWritten != 0 || got.PointsDropped != 0 {
		t.Errorf("stats during the outage = %+v, expected %d queued, none written or dropped", got, writes)
	}

	err := closeWithin(t, i, 50*time.Millisecond)
	if err == nil {
		t.Fatal("Close returned nil with every point unsent")
	}
	if want := `InfluxDB output: 10000 points for bucket "natwatch" not written before close`; !strings.Contains(err.Error(), want) {
		t.Errorf("Close error = %q, expected it to contain %q", err, want)
	}
	if got := i.Stats(); got.Queued != 0 || got.PointsDropped != writes || got.AnomaliesDropped != writes {
		t.Errorf("stats after Close = %+v, expected %d anomalies dropped and none queued", got, writes)
	}
}

// recordingServer is an InfluxDB stand-in that responds to each write with the next status from
// statuses (204 once they run out) and records the bodies it accepted.
type recordingServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests []*http.Request
	bodies   []string // every request's decoded body
	accepted []string
	down     atomic.Bool // respond 503 to every request
}

func newRecordingServer(t *testing.T, statuses ...int) *recordingServer {
	s := &recordingServer{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var body []byte
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "invalid gzip body: "+err.Error(), http.StatusBadRequest)
				return
			}
			body, _ = io.ReadAll(zr)
		} else {
			body, _ = io.ReadAll(r.Body)
		}

		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r)
		s.bodies = append(s.bodies, string(body))
		status := http.StatusNoContent
		if len(s.statuses) > 0 {
			status, s.statuses = s.statuses[0], s.statuses[1:]
		}
		if status == http.StatusNoContent {
			s.accepted = append(s.accepted, string(body))
		}

		if status == http.StatusNotFound {
			// The body and header InfluxDB 1.8.10 sends for a missing database.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Influxdb-Error", `database not found: "nodb"`)
			w.WriteHeader(status)
			io.WriteString(w, `{"error":"database not found: \"nodb\""}`)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *recordingServer) acceptedBodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

func (s *recordingServer) request(n int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[n]
}

func trafficBody(first, last int) string {
	var lines []string
	for n := first; n <= last; n++ {
		lines = append(lines, fmt.Sprintf("natwatch_traffic,gateway=gw1 conns_per_s=%d,bytes_per_s=0,packets_per_s=0,drops_per_s=0,out_in_ratio=0 %d", n, pointTime.UnixNano()+int64(n)))
	}
	return strings.Join(lines, "\n")
}

func writeTraffic(i *Influx, first, last int) {
	for n := first; n <= last; n++ {
		i.WriteTraffic(detector.TrafficPoint{Time: pointTime.Add(time.Duration(n)), Gateway: "gw1", ConnsPerS: float64(n)})
	}
}

func TestInfluxBatchesBySize(t *testing.T) {
	server := newRecordingServer(t)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: "natwatch", BatchSize: 3, FlushInterval: time.Hour})

	writeTraffic(i, 1, 7)
	waitFor(t, "two full batches", func() bool { return i.Stats().PointsWritten == 6 })
	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	got := server.acceptedBodies()
	want := []string{trafficBody(1, 3), trafficBody(4, 6), trafficBody(7, 7)}
	if strings.Join(got, "\n--\n") != strings.Join(want, "\n--\n") {
		t.Errorf("request bodies:\n%s\nexpected:\n%s", strings.Join(got, "\n--\n"), strings.Join(want, "\n--\n"))
	}
}

func TestInfluxFlushesOnInterval(t *testing.T) {
	server := newRecordingServer(t)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: "natwatch", BatchSize: 1000, FlushInterval: 10 * time.Millisecond})

	writeTraffic(i, 1, 2)

	waitFor(t, "the interval flush", func() bool { return i.Stats().PointsWritten == 2 })
	if got := server.acceptedBodies(); len(got) != 1 || got[0] != trafficBody(1, 2) {
		t.Errorf("request bodies = %q, expected one with both points", got)
	}
}

func TestInfluxSendsBucketOrgAndToken(t *testing.T) {
	server := newRecordingServer(t)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Token: "natwatch:s3cret", Bucket: "telemetry/week", FlushInterval: time.Hour})

	writeTraffic(i, 1, 1)
	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	r := server.request(0)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/write" {
		t.Errorf("request = %s %s, expected POST /api/v2/write", r.Method, r.URL.Path)
	}
	query := r.URL.Query()
	if query.Get("bucket") != "telemetry/week" || query.Get("org") != "" || query.Get("precision") != "ns" {
		t.Errorf("query = %q, expected bucket=telemetry/week, org= and precision=ns", r.URL.RawQuery)
	}
	if got := r.Header.Get("Authorization"); got != "Token natwatch:s3cret" {
		t.Errorf("Authorization = %q, expected %q", got, "Token natwatch:s3cret")
	}
}

func TestInfluxRetriesInOrder(t *testing.T) {
	server := newRecordingServer(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	i := newTestInflux(t, InfluxConfig{
		URL: server.URL, Bucket: "natwatch", BatchSize: 2, FlushInterval: time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
	})

	writeTraffic(i, 1, 5)
	waitFor(t, "all 5 points written", func() bool { return i.Stats().PointsWritten == 5 })

	got := strings.Join(server.acceptedBodies(), "\n")
	if want := trafficBody(1, 5); got != want {
		t.Errorf("points arrived as:\n%s\nexpected:\n%s", got, want)
	}
	if stats := i.Stats(); stats.WriteErrors != 2 || stats.PointsDropped != 0 {
		t.Errorf("stats = %+v, expected 2 write errors and nothing dropped", stats)
	}
}

func TestInfluxBisectsRejectedBatch(t *testing.T) {
	var logs logBuffer
	// The 4-point batch is rejected, then its first half, then point 1 alone; point 2 and the
	// second half are accepted.
	server := newRecordingServer(t, http.StatusBadRequest, http.StatusBadRequest, http.StatusBadRequest)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: "natwatch", BatchSize: 4, FlushInterval: time.Hour, Logger: logs.logger()})

	writeTraffic(i, 1, 4)
	waitFor(t, "the batch to be bisected", func() bool { s := i.Stats(); return s.PointsWritten+s.PointsDropped == 4 })

	if got, want := server.acceptedBodies(), []string{trafficBody(2, 2), trafficBody(3, 4)}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("accepted bodies = %q, expected %q", got, want)
	}
	stats := i.Stats()
	if stats.PointsWritten != 3 || stats.PointsDropped != 1 || stats.PointsRejected != 1 {
		t.Errorf("stats = %+v, expected 3 written and 1 rejected", stats)
	}
	if stats.WriteErrors != 3 || stats.WriteErrorKinds[KindBadRequest] != 3 {
		t.Errorf("write errors = %d, bad_request = %d, expected 3 of kind bad_request", stats.WriteErrors, stats.WriteErrorKinds[KindBadRequest])
	}
	if !strings.Contains(logs.String(), "InfluxDB rejected a point, point dropped") || !strings.Contains(logs.String(), "conns_per_s=1,") {
		t.Errorf("log does not name the rejected point:\n%s", logs.String())
	}
}

func TestInfluxMissingDatabaseLogNamesBucket(t *testing.T) {
	var logs logBuffer
	server := newRecordingServer(t, http.StatusNotFound, http.StatusNotFound, http.StatusNotFound)
	i := newTestInflux(t, InfluxConfig{
		URL: server.URL, Bucket: "nodb", BatchSize: 1, FlushInterval: time.Hour,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond, ConfigRetryWait: time.Millisecond, Logger: logs.logger(),
	})

	i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r", Value: 1})
	waitFor(t, "the retried write to succeed", func() bool { return i.Stats().PointsWritten == 1 })

	log := logs.String()
	if !strings.Contains(log, `bucket \"nodb\" not found`) || !strings.Contains(log, `CREATE DATABASE \"nodb\"`) {
		t.Errorf("log does not name the missing bucket:\n%s", log)
	}
	if !strings.Contains(log, `database not found: \"nodb\"`) {
		t.Errorf("log does not carry the server's error:\n%s", log)
	}
	if n := strings.Count(log, "level=ERROR"); n != 1 {
		t.Errorf("log has %d error lines for 3 failures, expected 1 (rate-limited):\n%s", n, log)
	}
	if !strings.Contains(log, "InfluxDB writes succeed again") {
		t.Errorf("log does not report the recovery:\n%s", log)
	}
	if stats := i.Stats(); stats.WriteErrors != 3 || stats.PointsDropped != 0 {
		t.Errorf("stats = %+v, expected 3 write errors and nothing dropped", stats)
	}
}

func TestInfluxRealServerMissingDatabase(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t) // never created

	var logs logBuffer
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: db, BatchSize: 1, FlushInterval: time.Hour, Logger: logs.logger()})
	i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r", Value: 1})
	waitFor(t, "a failed write", func() bool { return i.Stats().WriteErrors >= 1 })

	err := closeWithin(t, i, 50*time.Millisecond)

	log := logs.String()
	if want := fmt.Sprintf(`bucket \"%s\" not found`, db); !strings.Contains(log, want) {
		t.Errorf("log does not contain %s:\n%s", want, log)
	}
	if want := fmt.Sprintf(`database not found: \"%s\"`, db); !strings.Contains(log, want) {
		t.Errorf("log does not contain the server's error %s:\n%s", want, log)
	}
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("database not found: %q", db)) {
		t.Errorf("Close error = %v, expected it to name database %s", err, db)
	}
}

func TestInfluxCloseAbortsHangingRequest(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })

	i := newTestInflux(t, InfluxConfig{URL: hanging.URL, Bucket: "natwatch", BatchSize: 1, Timeout: time.Hour})
	i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r", Value: 1})
	waitFor(t, "the request to start", func() bool { return i.Stats().Queued == 1 && i.inFlight.Load() == 1 })

	closed := make(chan error, 1)
	go func() { closed <- closeWithin(t, i, 50*time.Millisecond) }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "1 points") {
			t.Errorf("Close error = %v, expected 1 point not written", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after its context ended")
	}
	if stats := i.Stats(); stats.AnomaliesDropped != 1 || stats.WriteErrors != 0 {
		t.Errorf("stats = %+v, expected 1 anomaly dropped and no write error counted for the abort", stats)
	}
}

func TestInfluxWritesAfterCloseAreDropped(t *testing.T) {
	server := newRecordingServer(t)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: "natwatch"})
	if err := closeWithin(t, i, time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r"})
	i.WriteTraffic(detector.TrafficPoint{Time: pointTime, ConnsPerS: 1})
	i.WritePlugin(PluginStats{Time: pointTime})

	if stats := i.Stats(); stats != (InfluxStats{PointsDropped: 3, AnomaliesDropped: 1}) {
		t.Errorf("stats = %+v, expected 3 dropped, 1 of them an anomaly", stats)
	}
	if err := closeWithin(t, i, time.Second); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestInfluxDropsPointWithoutFiniteField(t *testing.T) {
	var logs logBuffer
	server := newRecordingServer(t)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: "natwatch", Logger: logs.logger()})

	nan := math.NaN()
	i.WriteTraffic(detector.TrafficPoint{Time: pointTime, Gateway: "gw1", ConnsPerS: nan, BytesPerS: nan, PacketsPerS: nan, DropsPerS: nan, OutInRatio: nan})

	if stats := i.Stats(); stats.PointsDropped != 1 || stats.Queued != 0 {
		t.Errorf("stats = %+v, expected the point dropped, not queued", stats)
	}
	if !strings.Contains(logs.String(), "measurement=natwatch_traffic gateway=gw1") {
		t.Errorf("log does not name the dropped point:\n%s", logs.String())
	}
}

func TestInfluxRealServerMissingRetentionPolicy(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)

	var logs logBuffer
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: db + "/rp30", BatchSize: 1, FlushInterval: time.Hour, Logger: logs.logger()})
	i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r", Value: 1})
	waitFor(t, "a failed write", func() bool { return i.Stats().WriteErrors >= 1 })
	closeWithin(t, i, 50*time.Millisecond)

	if got := i.Stats().WriteErrorKinds[KindNotFound]; got < 1 {
		t.Errorf("write errors of kind not_found = %d, want the missing retention policy counted there", got)
	}
	want := `retention policy \"rp30\" of database \"` + db + `\" not found`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
}
