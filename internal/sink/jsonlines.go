package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/natwatch/natwatch/detector"
)

// jsonLines writes each anomaly as one JSON object on its own line. It does not write traffic
// points or plugin counters: WriteTraffic and WritePlugin discard them.
type jsonLines struct {
	mu      sync.Mutex
	w       io.Writer
	buf     bytes.Buffer
	encoder *json.Encoder
	closed  bool

	failures   uint64
	lastErr    error
	logger     *slog.Logger
	logLimiter logLimiter
}

// NewJSONLines returns a sink that writes anomalies to w, one JSON object per line:
//
//	{"time":"2024-05-01T10:00:00.5Z","gateway":"gw1","rule":"port_scan","level":"basic",
//	 "severity":"high","state":"firing","key":"10.0.0.5","value":120,"threshold":50,
//	 "summary":"…","src":"10.0.0.5","dst":""}
//
// (shown wrapped here; each object is on one line). The time is RFC 3339 in UTC with up to nine
// fractional digits. A value or threshold that is NaN or infinite is written as null. Each line
// goes to w in a single Write call during WriteAnomaly, so a slow w slows the caller. The sink is
// safe for concurrent use. A failed Write is
// logged with slog.Default, at most once a minute, and Close reports the failures. Close does not
// close w.
func NewJSONLines(w io.Writer) Sink {
	s := &jsonLines{
		w:          w,
		logger:     slog.Default(),
		logLimiter: logLimiter{interval: logInterval},
	}
	s.encoder = json.NewEncoder(&s.buf)
	s.encoder.SetEscapeHTML(false)
	return s
}

// anomalyJSON fixes the key order of a JSON line.
type anomalyJSON struct {
	Time      string    `json:"time"`
	Gateway   string    `json:"gateway"`
	Rule      string    `json:"rule"`
	Level     string    `json:"level"`
	Severity  string    `json:"severity"`
	State     string    `json:"state"`
	Key       string    `json:"key"`
	Value     jsonFloat `json:"value"`
	Threshold jsonFloat `json:"threshold"`
	Summary   string    `json:"summary"`
	Src       string    `json:"src"`
	Dst       string    `json:"dst"`

	Labels map[string]string `json:"labels,omitempty"` // the rule's static labels
}

// jsonFloat is a float64 that marshals NaN and ±Inf as null, which encoding/json rejects.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// AnomalyJSON encodes a as the JSON object that NewJSONLines writes, without the newline.
func AnomalyJSON(a detector.Anomaly) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(newAnomalyJSON(a)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func newAnomalyJSON(a detector.Anomaly) anomalyJSON {
	return anomalyJSON{
		Time:      a.Time.UTC().Format(time.RFC3339Nano),
		Gateway:   a.Gateway,
		Rule:      a.Rule,
		Level:     a.Level,
		Severity:  a.Severity,
		State:     a.State,
		Key:       a.Key,
		Value:     jsonFloat(a.Value),
		Threshold: jsonFloat(a.Threshold),
		Summary:   a.Summary,
		Src:       a.Src,
		Dst:       a.Dst,
		Labels:    a.Labels.Map(),
	}
}

// WriteAnomaly writes a as one JSON line.
func (s *jsonLines) WriteAnomaly(a detector.Anomaly) {
	line := newAnomalyJSON(a)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}

	s.buf.Reset()
	if err := s.encoder.Encode(line); err != nil {
		s.recordFailure(fmt.Errorf("encode anomaly %q for key %q as JSON: %w", a.Rule, a.Key, err))
		return
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		s.recordFailure(fmt.Errorf("write anomaly %q for key %q: %w", a.Rule, a.Key, err))
	}
}

// recordFailure counts err and logs it at a bounded rate. s.mu must be held.
func (s *jsonLines) recordFailure(err error) {
	s.failures++
	s.lastErr = err

	ok, suppressed := s.logLimiter.allow(time.Now())
	if ok {
		s.logger.Error("JSON lines output failed", "error", err, "failures", s.failures, "suppressed", suppressed)
	}
}

// WriteTraffic discards p: JSON lines carry anomalies only.
func (s *jsonLines) WriteTraffic(p detector.TrafficPoint) {}

// WritePlugin discards p: JSON lines carry anomalies only.
func (s *jsonLines) WritePlugin(p PluginStats) {}

// Close stops further writes. It returns an error when any anomaly could not be written; it does
// not close the underlying writer.
func (s *jsonLines) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.closed = true
	if s.failures > 0 {
		return fmt.Errorf("JSON lines output: %d anomalies not written, last error: %w", s.failures, s.lastErr)
	}
	return nil
}
