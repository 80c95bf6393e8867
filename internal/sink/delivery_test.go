package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/influxtest"
)

// scenario writes traffic points and anomalies with distinct times, so that each point is its own
// point in InfluxDB and a count query shows every point lost.
type scenario struct {
	traffic, anomalies int
}

func (s *scenario) write(i *Influx, traffic, anomalies int) {
	for range traffic {
		s.traffic++
		i.WriteTraffic(detector.TrafficPoint{Time: pointTime.Add(time.Duration(s.traffic) * time.Millisecond), Gateway: "gw1", Direction: "inbound", ConnsPerS: float64(s.traffic)})
	}
	for range anomalies {
		s.anomalies++
		i.WriteAnomaly(detector.Anomaly{Time: pointTime.Add(time.Duration(s.anomalies) * time.Millisecond), Gateway: "gw1", Rule: "scan", State: "firing", Key: "198.51.100.77", Value: float64(s.anomalies)})
	}
}

// countPoints returns the number of points of measurement in db.
func countPoints(t *testing.T, server *influxtest.Server, db, measurement, field string) int {
	t.Helper()
	series := server.Query(t, db, fmt.Sprintf("SELECT count(%q) FROM %q", field, measurement))
	if len(series) == 0 || len(series[0].Values) == 0 {
		return 0
	}
	return int(series[0].Values[0][1].(float64))
}

func checkArrived(t *testing.T, server *influxtest.Server, db string, want scenario) {
	t.Helper()
	if got := countPoints(t, server, db, MeasurementAnomaly, "value"); got != want.anomalies {
		t.Errorf("%d anomalies in InfluxDB, want %d", got, want.anomalies)
	}
	if got := countPoints(t, server, db, MeasurementTraffic, "conns_per_s"); got != want.traffic {
		t.Errorf("%d traffic points in InfluxDB, want %d", got, want.traffic)
	}
}

func TestInfluxOutageExactlyOnce(t *testing.T) {
	server := influxtest.StartDedicated(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)

	var logs logBuffer
	i := newTestInflux(t, InfluxConfig{
		URL: server.URL, Bucket: db, SpoolDir: t.TempDir(), BatchSize: 100, FlushInterval: 20 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, Timeout: 5 * time.Second, Logger: logs.logger(),
	})

	var sc scenario
	spooledDuringOutage := 0
	for step := range 30 {
		sc.write(i, 100, 10)
		switch step {
		case 10:
			server.Kill(t)
		case 20:
			spooledDuringOutage = i.Stats().PointsSpooled
			server.Restart(t)
		}
		waitFor(t, "the queue to be written or spooled", func() bool { return i.Stats().Queued == 0 })
	}
	waitFor(t, "the spool to drain", func() bool { s := i.Stats(); return s.PointsSpooled == 0 && s.Queued == 0 })
	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	checkArrived(t, server, db, sc)
	stats := i.Stats()
	if spooledDuringOutage == 0 {
		t.Errorf("no points were spooled during the outage")
	}
	if stats.PointsDropped != 0 || stats.WriteErrorKinds[KindNetwork] == 0 {
		t.Errorf("stats = %+v, want nothing dropped and network errors counted", stats)
	}
	if stats.PointsWritten < uint64(sc.traffic+sc.anomalies) {
		t.Errorf("PointsWritten = %d, want at least %d", stats.PointsWritten, sc.traffic+sc.anomalies)
	}
	t.Logf("%d points, %d spooled during the outage, %d counted as written, %d failed requests",
		sc.traffic+sc.anomalies, spooledDuringOutage, stats.PointsWritten, stats.WriteErrors)
}

// holdingProxy forwards requests to a server after the test releases them, and counts them.
type holdingProxy struct {
	*httptest.Server
	release   chan struct{}
	waiting   atomic.Int64
	completed atomic.Int64
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	reverse := httputil.NewSingleHostReverseProxy(u)
	p := &holdingProxy{release: make(chan struct{})}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.waiting.Add(1)
		select {
		case <-p.release:
		case <-r.Context().Done():
		}
		p.waiting.Add(-1)
		reverse.ServeHTTP(w, r)
		p.completed.Add(1)
	}))
	t.Cleanup(p.Close)
	return p
}

func TestInfluxSlowServerNeverBlocksWriters(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)
	proxy := newHoldingProxy(t, server.URL)

	i := newTestInflux(t, InfluxConfig{
		URL: proxy.URL, Bucket: db, SpoolDir: t.TempDir(), BatchSize: 10, FlushInterval: 20 * time.Millisecond,
		Timeout: time.Minute,
	})

	var sc scenario
	sc.write(i, 10, 0)
	waitFor(t, "the first request to reach the proxy", func() bool { return proxy.waiting.Load() == 1 })

	// Every write below returns while the first request is still waiting in the proxy, so none waited for it.
	sc.write(i, 2000, 200)
	if waiting, completed := proxy.waiting.Load(), proxy.completed.Load(); waiting != 1 || completed != 0 {
		t.Fatalf("after the writes: %d requests waiting and %d completed, want 1 and 0", waiting, completed)
	}
	waitFor(t, "the queue to move to the spool", func() bool { return i.Stats().PointsSpooled >= 2200 })
	if admit := i.Admit(); admit != nil {
		t.Errorf("Admit during a slow request: %v, want nil while the spool has room", admit)
	}

	close(proxy.release)
	waitFor(t, "everything to be written", func() bool {
		s := i.Stats()
		return s.PointsSpooled == 0 && s.Queued == 0 && s.PointsWritten == uint64(sc.traffic+sc.anomalies)
	})
	checkArrived(t, server, db, sc)
}

// acceptedLines counts the accepted lines that start with prefix.
func (s *recordingServer) acceptedLines(prefix string) int {
	n := 0
	for _, body := range s.acceptedBodies() {
		for line := range strings.SplitSeq(body, "\n") {
			if strings.HasPrefix(line, prefix) {
				n++
			}
		}
	}
	return n
}

func TestInfluxSpoolCapDropsMetricsFirst(t *testing.T) {
	server := newRecordingServer(t)
	server.down.Store(true)
	var logs logBuffer
	i := newTestInflux(t, InfluxConfig{
		URL: server.URL, Bucket: "natwatch", SpoolDir: t.TempDir(), SpoolMaxBytes: 48 << 10, SpoolNoSync: true,
		QueueSize: 400, BatchSize: 50, FlushInterval: 10 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Logger: logs.logger(),
	})

	// Traffic alone fills the spool: its oldest points are dropped, and the spool stays in bounds.
	var sc scenario
	for range 40 {
		sc.write(i, 100, 0)
		waitFor(t, "the queue to be spooled", func() bool { return i.Stats().Queued == 0 })
	}
	stats := i.Stats()
	if stats.PointsDropped == 0 || stats.AnomaliesDropped != 0 || stats.SpoolBytes > 48<<10 {
		t.Fatalf("after 4000 traffic points: stats = %+v, want traffic dropped and at most 48 KiB spooled", stats)
	}

	// Anomalies push out the remaining traffic points, then fill the spool and the memory
	// queue until Admit reports back-pressure.
	var admitErr error
	for n := 0; n < 2000 && admitErr == nil; n++ {
		sc.write(i, 0, 10)
		waitFor(t, "the spiller to take the anomalies", func() bool {
			return i.Stats().Queued == 0 || i.spoolRoom.Load() < 6<<10
		})
		admitErr = i.Admit()
	}
	if !errors.Is(admitErr, ErrBackPressure) || !strings.Contains(admitErr.Error(), "holds its maximum") {
		t.Fatalf("Admit = %v, want back-pressure naming the full spool", admitErr)
	}
	stats = i.Stats()
	if stats.AnomaliesDropped != 0 {
		t.Errorf("%d anomalies dropped before back-pressure, want 0", stats.AnomaliesDropped)
	}
	if stats.PointsSpooled+stats.Queued != sc.anomalies {
		t.Errorf("%d points spooled and %d queued, want the %d anomalies and no traffic point", stats.PointsSpooled, stats.Queued, sc.anomalies)
	}

	server.down.Store(false)
	waitFor(t, "everything to be written", func() bool { s := i.Stats(); return s.Queued == 0 && s.PointsSpooled == 0 })
	if got := server.acceptedLines(MeasurementAnomaly); got != sc.anomalies {
		t.Errorf("%d anomalies arrived, want all %d", got, sc.anomalies)
	}
	if err := i.Admit(); err != nil {
		t.Errorf("Admit after the spool drained: %v", err)
	}
}

// TestSpoolChildProcess is the process that TestInfluxSpoolSurvivesKill kills: it spools points
// for an unreachable server and then waits to be killed.
func TestSpoolChildProcess(t *testing.T) {
	dir := os.Getenv("NATWATCH_SPOOL_CHILD")
	if dir == "" {
		t.Skip("runs only as the child of TestInfluxSpoolSurvivesKill")
	}
	i, err := NewInflux(InfluxConfig{URL: closedPortURL(t), Bucket: "natwatch", SpoolDir: dir, BatchSize: 50,
		FlushInterval: 10 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	sc.write(i, 500, 50)
	waitFor(t, "every point to be spooled", func() bool { return i.Stats().PointsSpooled == 550 })
	fmt.Println("spooled")
	select {}
}

func TestInfluxSpoolSurvivesKill(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)
	dir := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSpoolChildProcess$")
	child.Env = append(os.Environ(), "NATWATCH_SPOOL_CHILD="+dir)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(stdout)
	ready := false
	for scanner.Scan() {
		if scanner.Text() == "spooled" {
			ready = true
			break
		}
	}
	child.Process.Kill() // SIGKILL: no Close, no deferred code
	child.Wait()
	if !ready {
		t.Fatalf("the child process ended before it spooled its points")
	}

	segments, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segments) == 0 {
		t.Fatalf("no spool segments left by the killed process")
	}

	i := newTestInflux(t, InfluxConfig{URL: server.URL, Bucket: db, SpoolDir: dir, FlushInterval: 10 * time.Millisecond})
	waitFor(t, "the spool to drain", func() bool { return i.Stats().PointsSpooled == 0 })
	checkArrived(t, server, db, scenario{traffic: 500, anomalies: 50})
}

func TestInfluxV2RequestShape(t *testing.T) {
	server := newRecordingServer(t)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Token: "v2-api-token", Org: "acme", Bucket: "natwatch", FlushInterval: time.Hour})
	writeTraffic(i, 1, 2)
	if err := closeWithin(t, i, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	r := server.request(0)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/write" {
		t.Errorf("request = %s %s, want POST /api/v2/write", r.Method, r.URL.Path)
	}
	query := r.URL.Query()
	if query.Get("org") != "acme" || query.Get("bucket") != "natwatch" || query.Get("precision") != "ns" {
		t.Errorf("query = %q, want org=acme, bucket=natwatch and precision=ns", r.URL.RawQuery)
	}
	if got := r.Header.Get("Authorization"); got != "Token v2-api-token" {
		t.Errorf("Authorization = %q, want %q", got, "Token v2-api-token")
	}
	if got := r.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("Content-Encoding = %q, want gzip", got)
	}
	if got := server.acceptedBodies(); len(got) != 1 || got[0] != trafficBody(1, 2) {
		t.Errorf("decoded bodies = %q, want points 1 and 2", got)
	}
}

func TestInfluxAuthErrorNamesUser(t *testing.T) {
	var logs logBuffer
	server := newRecordingServer(t, http.StatusUnauthorized)
	i := newTestInflux(t, InfluxConfig{URL: server.URL, Token: "natwatch:s3cret", Bucket: "natwatch", BatchSize: 1,
		FlushInterval: time.Hour, ConfigRetryWait: time.Millisecond, RetryMin: time.Millisecond, RetryMax: time.Millisecond, Logger: logs.logger()})

	i.WriteAnomaly(detector.Anomaly{Time: pointTime, Rule: "r", Value: 1})
	waitFor(t, "the retried write", func() bool { return i.Stats().PointsWritten == 1 })

	log := logs.String()
	if !strings.Contains(log, `user \"natwatch\"`) || !strings.Contains(log, "401 Unauthorized") {
		t.Errorf("log does not name the user and the status:\n%s", log)
	}
	if strings.Contains(log, "s3cret") {
		t.Errorf("log contains the password:\n%s", log)
	}
	if got := i.Stats().WriteErrorKinds[KindAuth]; got != 1 {
		t.Errorf("write_errors_auth = %d, want 1", got)
	}
}

func TestInfluxRetryWait(t *testing.T) {
	i := &Influx{cfg: InfluxConfig{RetryMin: time.Second, RetryMax: 8 * time.Second, ConfigRetryWait: time.Minute}}
	tests := []struct {
		name     string
		err      error
		min, max time.Duration
	}{
		{"network", errors.New("connection refused"), 500 * time.Millisecond, time.Second},
		{"server", &http2.Error{StatusCode: 500}, 500 * time.Millisecond, time.Second},
		{"auth", &http2.Error{StatusCode: 401}, time.Minute, time.Minute},
		{"not found", &http2.Error{StatusCode: 404}, time.Minute, time.Minute},
		{"throttled with Retry-After", &http2.Error{StatusCode: 429, RetryAfter: 7}, 7 * time.Second, 7 * time.Second},
		{"Retry-After above the cap", &http2.Error{StatusCode: 503, RetryAfter: 3600}, maxRetryAfter, maxRetryAfter},
	}
	for _, tt := range tests {
		i.backoff = time.Second
		i.lastErr = tt.err
		for range 20 {
			i.backoff = time.Second
			if got := i.retryWait(); got < tt.min || got > tt.max {
				t.Errorf("%s: wait %v, want from %v to %v", tt.name, got, tt.min, tt.max)
			}
		}
	}

	i.backoff = time.Second
	i.lastErr = errors.New("connection refused")
	for range 10 {
		i.retryWait()
	}
	if i.backoff != 8*time.Second {
		t.Errorf("backoff after 10 failures = %v, want RetryMax 8s", i.backoff)
	}
}

func TestTagAndFieldNamesDisjoint(t *testing.T) {
	plugin := PluginStats{Time: pointTime, Gateway: "gw1", Instance: "natwatch.0", SkipReasons: map[string]uint64{"gateway": 1}}
	lines := []func() (string, error){
		func() (string, error) {
			return anomalyLine(detector.Anomaly{Time: pointTime, Gateway: "gw1", Rule: "r", Level: "basic", Severity: "high", State: "firing"})
		},
		func() (string, error) {
			return trafficLine(detector.TrafficPoint{Time: pointTime, Gateway: "gw1", Direction: "inbound", ConnsPerS: 1})
		},
		func() (string, error) { return pluginLine(plugin) },
	}
	for _, line := range lines {
		text, err := line()
		if err != nil {
			t.Fatal(err)
		}
		head, rest, _ := strings.Cut(text, " ")
		fieldSet, _, _ := strings.Cut(rest, " ")

		tags := map[string]bool{}
		for _, tag := range strings.Split(head, ",")[1:] {
			name, _, _ := strings.Cut(tag, "=")
			tags[name] = true
		}
		for _, field := range strings.Split(fieldSet, ",") {
			name, _, _ := strings.Cut(field, "=")
			if tags[name] {
				t.Errorf("%s: %q is a tag and a field, which InfluxDB 3 rejects", head, name)
			}
		}
	}
}
