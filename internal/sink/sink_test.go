package sink

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/natwatch/natwatch/detector"
)

// recordingSink records what reaches it.
type recordingSink struct {
	anomalies []detector.Anomaly
	traffic   []detector.TrafficPoint
	plugin    []PluginStats
	closed    bool
	closeErr  error
}

func (s *recordingSink) WriteAnomaly(a detector.Anomaly)      { s.anomalies = append(s.anomalies, a) }
func (s *recordingSink) WriteTraffic(p detector.TrafficPoint) { s.traffic = append(s.traffic, p) }
func (s *recordingSink) WritePlugin(p PluginStats)            { s.plugin = append(s.plugin, p) }

func (s *recordingSink) Close(ctx context.Context) error {
	s.closed = true
	return s.closeErr
}

func TestMultiFansOutEveryWrite(t *testing.T) {
	first, second := &recordingSink{}, &recordingSink{}
	s := Multi(first, second)

	s.WriteAnomaly(detector.Anomaly{Rule: "port_scan"})
	s.WriteTraffic(detector.TrafficPoint{Gateway: "gw1"})
	s.WritePlugin(PluginStats{RecordsIn: 7})
	err := s.Close(context.Background())

	if err != nil {
		t.Errorf("Close: %v", err)
	}
	for name, sink := range map[string]*recordingSink{"first": first, "second": second} {
		if len(sink.anomalies) != 1 || sink.anomalies[0].Rule != "port_scan" {
			t.Errorf("%s sink anomalies = %+v, expected one port_scan", name, sink.anomalies)
		}
		if len(sink.traffic) != 1 || sink.traffic[0].Gateway != "gw1" {
			t.Errorf("%s sink traffic = %+v, expected one point for gw1", name, sink.traffic)
		}
		if len(sink.plugin) != 1 || sink.plugin[0].RecordsIn != 7 {
			t.Errorf("%s sink plugin stats = %+v, expected one with 7 records in", name, sink.plugin)
		}
		if !sink.closed {
			t.Errorf("%s sink not closed", name)
		}
	}
}

func TestMultiCloseJoinsErrors(t *testing.T) {
	first := &recordingSink{closeErr: errors.New("first failed")}
	middle := &recordingSink{}
	last := &recordingSink{closeErr: errors.New("last failed")}

	err := Multi(first, middle, last).Close(context.Background())

	if !middle.closed || !last.closed {
		t.Errorf("closed middle %v, last %v: expected every sink closed after a failure", middle.closed, last.closed)
	}
	if err == nil {
		t.Fatal("Close returned nil although two sinks failed")
	}
	if !errors.Is(err, first.closeErr) || !errors.Is(err, last.closeErr) {
		t.Errorf("Close error %q does not wrap both sink errors", err)
	}
	if !strings.Contains(err.Error(), "first failed\nlast failed") {
		t.Errorf("Close error = %q, expected both messages in order", err)
	}
}

func TestMultiWithoutSinks(t *testing.T) {
	s := Multi()

	s.WriteAnomaly(detector.Anomaly{Rule: "r"})
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestMultiCopiesSinkList(t *testing.T) {
	first, replacement := &recordingSink{}, &recordingSink{}
	sinks := []Sink{first}
	s := Multi(sinks...)

	sinks[0] = replacement
	s.WriteAnomaly(detector.Anomaly{Rule: "r"})

	if len(first.anomalies) != 1 || len(replacement.anomalies) != 0 {
		t.Errorf("anomalies reached first %d, replacement %d: expected Multi to keep its own list",
			len(first.anomalies), len(replacement.anomalies))
	}
}
