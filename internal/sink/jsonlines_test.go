package sink

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
)

func TestJSONLinesExactOutput(t *testing.T) {
	var out bytes.Buffer
	s := NewJSONLines(&out)

	shanghai := time.FixedZone("CST", 8*3600)
	s.WriteAnomaly(detector.Anomaly{
		Time:      time.Date(2024, 5, 1, 18, 0, 0, 123456789, shanghai),
		Gateway:   "gw-edge-1",
		Rule:      "port_scan_vertical",
		Level:     "basic",
		Severity:  "high",
		State:     "firing",
		Key:       "203.0.113.7",
		Value:     120,
		Threshold: 50,
		Summary:   `203.0.113.7 probed 120 ports <in 5m> & "fast"`,
		Src:       "203.0.113.7",
		Dst:       "198.51.100.10",
	})
	s.WriteAnomaly(detector.Anomaly{
		Time:      time.Date(2024, 5, 1, 10, 5, 0, 0, time.UTC),
		Gateway:   "gw-edge-1",
		Rule:      "baseline_conns",
		Level:     "intelligent",
		Severity:  "medium",
		State:     "resolved",
		Key:       "",
		Value:     math.NaN(),
		Threshold: 2500000.5,
	})
	s.WriteTraffic(detector.TrafficPoint{Time: time.Now(), Gateway: "gw-edge-1", ConnsPerS: 1})
	s.WritePlugin(PluginStats{RecordsIn: 1})
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	want := `{"time":"2024-05-01T10:00:00.123456789Z","gateway":"gw-edge-1","rule":"port_scan_vertical","level":"basic","severity":"high","state":"firing","key":"203.0.113.7","value":120,"threshold":50,"summary":"203.0.113.7 probed 120 ports <in 5m> & \"fast\"","src":"203.0.113.7","dst":"198.51.100.10"}
{"time":"2024-05-01T10:05:00Z","gateway":"gw-edge-1","rule":"baseline_conns","level":"intelligent","severity":"medium","state":"resolved","key":"","value":null,"threshold":2500000.5,"summary":"","src":"","dst":""}
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nexpected:\n%s", got, want)
	}
}

func TestJSONLinesDiscardsAfterClose(t *testing.T) {
	var out bytes.Buffer
	s := NewJSONLines(&out)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s.WriteAnomaly(detector.Anomaly{Rule: "late"})

	if out.Len() != 0 {
		t.Errorf("write after Close produced %q, expected nothing", out.String())
	}
}

// lineRecorder records every Write call separately, so interleaved lines would show.
type lineRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (r *lineRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func TestJSONLinesConcurrentWritesStayWhole(t *testing.T) {
	recorder := &lineRecorder{}
	s := NewJSONLines(recorder)

	const goroutines, perGoroutine = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perGoroutine {
				s.WriteAnomaly(detector.Anomaly{
					Time:    time.Unix(int64(n), 0),
					Rule:    "r",
					Key:     strings.Repeat("k", g+1),
					Summary: strings.Repeat("x", 500),
				})
			}
		}()
	}
	wg.Wait()

	if len(recorder.writes) != goroutines*perGoroutine {
		t.Fatalf("got %d writes, expected %d", len(recorder.writes), goroutines*perGoroutine)
	}
	for _, write := range recorder.writes {
		if strings.Count(write, "\n") != 1 || !strings.HasSuffix(write, "}\n") || !strings.HasPrefix(write, `{"time":`) {
			t.Fatalf("write is not one whole JSON line: %q", write)
		}
	}
}

type failingWriter struct{ calls int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, errors.New("disk full")
}

func TestJSONLinesCloseReportsWriteFailures(t *testing.T) {
	w := &failingWriter{}
	s := NewJSONLines(w)

	s.WriteAnomaly(detector.Anomaly{Rule: "a", Key: "k1"})
	s.WriteAnomaly(detector.Anomaly{Rule: "b", Key: "k2"})
	err := s.Close(context.Background())

	if w.calls != 2 {
		t.Errorf("writer called %d times, expected 2", w.calls)
	}
	if err == nil {
		t.Fatal("Close returned nil after failed writes")
	}
	want := `JSON lines output: 2 anomalies not written, last error: write anomaly "b" for key "k2": disk full`
	if err.Error() != want {
		t.Errorf("Close error = %q, expected %q", err, want)
	}
}
