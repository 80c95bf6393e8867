package pipeline

import (
	"testing"
	"time"
)

func TestFlushLatencyQuantiles(t *testing.T) {
	p := &Pipeline{}
	for n := 1; n <= 100; n++ {
		p.RecordFlush(time.Duration(n) * time.Microsecond)
	}

	count, p50, p99, longest := p.delivery.takeLatencies()
	if count != 100 {
		t.Errorf("count = %d, want 100", count)
	}
	if p50 != 50*time.Microsecond {
		t.Errorf("p50 = %v, want 50µs", p50)
	}
	if p99 != 99*time.Microsecond {
		t.Errorf("p99 = %v, want 99µs", p99)
	}
	if longest != 100*time.Microsecond {
		t.Errorf("max = %v, want 100µs", longest)
	}

	count, p50, _, longest = p.delivery.takeLatencies()
	if count != 0 || p50 != 0 || longest != 0 {
		t.Errorf("second interval: count %d, p50 %v, max %v, want all zero", count, p50, longest)
	}
}

func TestFlushLatencyBoundedSamples(t *testing.T) {
	p := &Pipeline{}
	for range 3 * maxLatencySamples {
		p.RecordFlush(time.Millisecond)
	}
	p.RecordFlush(time.Second)

	if n := len(p.delivery.samples); n != maxLatencySamples {
		t.Errorf("%d samples kept, want the bound %d", n, maxLatencySamples)
	}
	count, p50, _, longest := p.delivery.takeLatencies()
	if count != 3*maxLatencySamples+1 || p50 != time.Millisecond || longest != time.Second {
		t.Errorf("count %d, p50 %v, max %v, want %d, 1ms and 1s", count, p50, longest, 3*maxLatencySamples+1)
	}
}

func TestAdmitWithoutInflux(t *testing.T) {
	p := &Pipeline{}
	if err := p.Admit(); err != nil {
		t.Errorf("Admit without InfluxDB: %v, want nil", err)
	}
}
