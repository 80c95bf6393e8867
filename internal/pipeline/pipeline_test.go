package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
	"github.com/natwatch/natwatch/internal/config"
)

func testConfig(t testing.TB, values map[string]string) config.Config {
	t.Helper()
	cfg, err := config.FromProperties(func(key string) string { return values[key] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// iptablesLine returns a kernel LOG line as Fluent Bit's syslog parser leaves it in `log`: without
// the syslog header, so the record's own time stamp applies.
func iptablesLine(src string, dport int) string {
	return fmt.Sprintf("kernel: [884512.113207] DROP IN=eth0 OUT= MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00 "+
		"SRC=%s DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=%d "+
		"WINDOW=1024 RES=0x00 SYN URGP=0", src, dport)
}

// scanChunk returns a chunk in which src probes ports 1..ports of the gateway, one every 100 ms.
func scanChunk(start time.Time, src string, ports int) []byte {
	var data []byte
	for i := range ports {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		data = chunk.AppendEventV2(data, at, map[string]any{"log": iptablesLine(src, i+1)})
	}
	return data
}

func newTestPipeline(t *testing.T, values map[string]string) (*Pipeline, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	p, err := New(testConfig(t, values), Options{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, out
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of several flushes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFlushDetectsScanInChunk(t *testing.T) {
	p, out := newTestPipeline(t, map[string]string{"Gateway": "gw-a", "Time_Zone": "UTC"})
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	if err := p.Flush(scanChunk(start, "198.51.100.77", 60), "gw.kern"); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	want := `"gateway":"gw-a","rule":"port_scan_vertical","level":"basic","severity":"high","state":"firing","key":"198.51.100.77"`
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %s:\n%s", want, out.String())
	}
	stats := p.Stats()
	if stats.Records != 60 || stats.Parsed != 60 || stats.Skipped != 0 {
		t.Errorf("records/parsed/skipped = %d/%d/%d, want 60/60/0", stats.Records, stats.Parsed, stats.Skipped)
	}
}

func TestFlushParsedFieldRecords(t *testing.T) {
	p, out := newTestPipeline(t, map[string]string{"Gateway": "gw-b", "Time_Zone": "UTC"})
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	var data []byte
	for i := range 3 {
		data = chunk.AppendEventV2(data, start.Add(time.Duration(i)*time.Second), map[string]any{
			"src_ip": "10.20.7.15", "dst_ip": "198.51.100.200", "proto": "tcp",
			"src_port": 50000 + i, "dst_port": 25, "action": "accept",
		})
	}
	if err := p.Flush(data, "fw.parsed"); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	p.Close(context.Background())

	if got := strings.Count(out.String(), `"rule":"smtp_from_office"`); got != 1 {
		t.Errorf("smtp_from_office fired %d times, want once per cooldown:\n%s", got, out.String())
	}
	if got := p.Stats().Normalizer.Parsed["fields"]; got != 3 {
		t.Errorf("records parsed through the field mapping = %d, want 3", got)
	}
}

func TestFlushMalformedChunk(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	good := scanChunk(start, "198.51.100.77", 3)
	malformed := append(append([]byte{}, good...), 0x92, 0x92, 0xd7, 0x00, 0x01)

	err := p.Flush(malformed, "gw.kern")
	var decodeErr *chunk.DecodeError
	if !errors.As(err, &decodeErr) {
		t.Fatalf("Flush of a truncated chunk returned %v, want a *chunk.DecodeError", err)
	}
	if decodeErr.Offset < len(good) {
		t.Errorf("error offset %d lies before the truncated event at %d", decodeErr.Offset, len(good))
	}

	stats := p.Stats()
	if stats.Parsed != 3 {
		t.Errorf("parsed %d records before the fault, want 3", stats.Parsed)
	}
	if stats.DecodeErrors != 1 {
		t.Errorf("DecodeErrors = %d, want 1", stats.DecodeErrors)
	}
	if err := p.Flush(good, "gw.kern"); err != nil {
		t.Errorf("Flush after a malformed chunk: %v", err)
	}
}

func TestFlushCountsSkippedRecords(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	at := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	var data []byte
	data = chunk.AppendEventV2(data, at, map[string]any{"log": "GET /index.html HTTP/1.1 200"})
	data = chunk.AppendEventV2(data, at, map[string]any{"cpu": 0.5})
	data = chunk.AppendEventV2(data, at, map[string]any{"log": iptablesLine("198.51.100.77", 22)})
	if err := p.Flush(data, "mixed"); err != nil {
		t.Fatal(err)
	}

	stats := p.Stats()
	if stats.Records != 3 || stats.Parsed != 1 || stats.Skipped != 2 {
		t.Errorf("records/parsed/skipped = %d/%d/%d, want 3/1/2", stats.Records, stats.Parsed, stats.Skipped)
	}
}

// TestConcurrentFlushes runs flushes from several goroutines, as Fluent Bit does with Workers, and
// checks under -race that every record is counted and each scan fires once.
func TestConcurrentFlushes(t *testing.T) {
	p, out := newTestPipeline(t, map[string]string{"Gateway": "gw-c", "Time_Zone": "UTC"})
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		data := scanChunk(start, fmt.Sprintf("198.51.100.%d", 70+w), 80)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := p.Flush(data, "gw.kern"); err != nil {
					t.Errorf("Flush: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	p.Close(context.Background())

	if got := p.Stats().Parsed; got != workers*5*80 {
		t.Errorf("parsed %d records, want %d", got, workers*5*80)
	}
	for w := range workers {
		key := fmt.Sprintf(`"state":"firing","key":"198.51.100.%d"`, 70+w)
		if got := strings.Count(out.String(), key); got != 1 {
			t.Errorf("scan from 198.51.100.%d fired %d times, want 1", 70+w, got)
		}
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	p, _ := newTestPipeline(t, map[string]string{"Tick_Interval": "1s"})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewRejectsBrokenRulesPath(t *testing.T) {
	_, err := New(testConfig(t, map[string]string{"Rules_Path": t.TempDir() + "/missing"}), Options{})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("New with a missing rules directory returned %v, want an error naming it", err)
	}
}

func TestLiveClampsFutureTimes(t *testing.T) {
	cfg := testConfig(t, map[string]string{"Gateway": "gw-d", "Time_Zone": "UTC"})
	out := &syncBuffer{}
	p, err := New(cfg, Options{Stdout: out, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())

	now := time.Now().UTC()
	if err := p.Flush(scanChunk(now.AddDate(3, 0, 0), "198.51.100.5", 1), "gw.kern"); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(scanChunk(now, "198.51.100.77", 60), "gw.kern"); err != nil {
		t.Fatal(err)
	}

	if got := p.Stats().FutureTimes; got != 1 {
		t.Errorf("FutureTimes = %d, want 1", got)
	}
	if got := p.Stats().Detector.LateDropped; got != 0 {
		t.Errorf("LateDropped = %d, want 0: a future record moved the clock", got)
	}
	p.Close(context.Background())
	if !strings.Contains(out.String(), `"state":"firing","key":"198.51.100.77"`) {
		t.Errorf("the scan after a far-future record was not detected:\n%s", out.String())
	}
}

func TestFlushJournaldRecordGateway(t *testing.T) {
	p, out := newTestPipeline(t, map[string]string{"Time_Zone": "UTC"})
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	var data []byte
	for i := range 60 {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		data = chunk.AppendEventV2(data, at, map[string]any{
			"MESSAGE":           iptablesLine("198.51.100.61", i+1),
			"_HOSTNAME":         "jd-gw9",
			"_TRANSPORT":        "kernel",
			"SYSLOG_IDENTIFIER": "kernel",
		})
	}
	if err := p.Flush(data, "gw.journal"); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())

	want := `"gateway":"jd-gw9","rule":"port_scan_vertical"`
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %s:\n%s", want, out.String())
	}
}

func TestSummaryLanguageChinese(t *testing.T) {
	p, out := newTestPipeline(t, map[string]string{"Gateway": "gw-zh", "Time_Zone": "UTC", "Summary_Language": "zh"})
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)

	if err := p.Flush(scanChunk(start, "198.51.100.77", 60), "gw.kern"); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())

	want := `"summary":"198.51.100.77 在 5m 内探测了 60 个目的端口，疑似端口扫描"`
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks the Chinese summary %s:\n%s", want, out.String())
	}
}
