package meter

import (
	"math"
	"testing"
)

func TestSketchEstimate(t *testing.T) {
	tests := []struct {
		distinct int
		maxError float64 // relative; three standard errors of 4.6 %
	}{
		{10, 0.01},
		{1000, 0.14},
		{10_000, 0.14},
		{200_000, 0.14},
	}
	for _, tt := range tests {
		var s sketch
		for i := range tt.distinct {
			var h host
			h[0], h[1], h[2], h[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			s.add(h.hash(), t0, 300)
			s.add(h.hash(), t0, 300) // a repeat changes nothing
		}
		got := s.estimate(t0)
		if rel := math.Abs(got-float64(tt.distinct)) / float64(tt.distinct); rel > tt.maxError {
			t.Errorf("estimate of %d distinct values = %.0f, off by %.1f %%, want at most %.0f %%",
				tt.distinct, got, 100*rel, 100*tt.maxError)
		}
	}
}

func TestSketchSlidingWindow(t *testing.T) {
	// 100 new ports every second for 300 s, each port seen once.
	var s sketch
	for sec := uint32(0); sec < 300; sec++ {
		for i := range uint32(100) {
			s.add(port(uint16(sec*100+i)).hash()^uint64(sec)<<40, t0+sec, 300)
		}
	}
	windows := []struct {
		from uint32
		want float64
	}{
		{t0 + 299, 100},
		{t0 + 290, 1000},
		{t0 + 200, 10_000},
		{t0, 30_000},
		{t0 + 300, 0},
	}
	for _, w := range windows {
		got := s.estimate(w.from)
		if w.want == 0 {
			if got != 0 {
				t.Errorf("estimate from t0+%d = %.0f, want 0", w.from-t0, got)
			}
			continue
		}
		if rel := math.Abs(got-w.want) / w.want; rel > 0.14 {
			t.Errorf("estimate from t0+%d = %.0f, want %.0f within 14 %%", w.from-t0, got, w.want)
		}
	}
}

func TestSketchForgetsExpiredEntries(t *testing.T) {
	var s sketch
	for i := range uint64(1000) {
		s.add(i*0x9e3779b97f4a7c15, t0, 60)
	}
	// Values 100 s later replace the expired entries of their registers, and a window that starts
	// after t0 counts none of the others.
	for i := range uint64(10) {
		s.add((i+5000)*0x9e3779b97f4a7c15, t0+100, 60)
	}
	if got := s.estimate(t0 + 41); math.Round(got) != 10 {
		t.Errorf("estimate after expiry = %.1f, want 10", got)
	}
}
