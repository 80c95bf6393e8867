package sink

import (
	"slices"
	"testing"
)

func lines(points []queuedPoint) []string {
	var out []string
	for _, p := range points {
		out = append(out, p.line)
	}
	return out
}

func TestQueueTakeKeepsArrivalOrder(t *testing.T) {
	q := newPointQueue(100)
	q.pushMetric("m1")
	q.pushAnomaly("a1")
	q.pushMetric("m2")
	q.pushMetric("m3")
	q.pushAnomaly("a2")

	first := lines(q.take(3, nil))
	rest := lines(q.take(10, nil))

	if want := []string{"m1", "a1", "m2"}; !slices.Equal(first, want) {
		t.Errorf("first take = %v, expected %v", first, want)
	}
	if want := []string{"m3", "a2"}; !slices.Equal(rest, want) {
		t.Errorf("second take = %v, expected %v", rest, want)
	}
	if q.len() != 0 {
		t.Errorf("queue length after taking all = %d, expected 0", q.len())
	}
}

func TestQueueMetricsLimitedToTheirShare(t *testing.T) {
	q := newPointQueue(8) // 2 places reserved for anomalies

	accepted := 0
	for range 10 {
		if q.pushMetric("m") {
			accepted++
		}
	}

	if accepted != 6 {
		t.Errorf("accepted %d metric points, expected 6", accepted)
	}
}

func TestQueueAnomalyEvictsOldestMetric(t *testing.T) {
	q := newPointQueue(4) // 1 place reserved for anomalies
	q.pushMetric("m1")
	q.pushMetric("m2")
	q.pushMetric("m3")
	q.pushAnomaly("a1")

	evicted, full := q.pushAnomaly("a2")

	if !full || evicted.line != "m1" || evicted.anomaly {
		t.Errorf("pushAnomaly evicted %+v (full %v), expected metric m1", evicted, full)
	}
	if got, want := lines(q.take(10, nil)), []string{"m2", "m3", "a1", "a2"}; !slices.Equal(got, want) {
		t.Errorf("queue = %v, expected %v", got, want)
	}
}

func TestQueueFullOfAnomaliesEvictsOldestAnomaly(t *testing.T) {
	q := newPointQueue(2)
	q.pushAnomaly("a1")
	q.pushAnomaly("a2")

	evicted, full := q.pushAnomaly("a3")

	if !full || evicted.line != "a1" || !evicted.anomaly {
		t.Errorf("pushAnomaly evicted %+v (full %v), expected anomaly a1", evicted, full)
	}
	if got, want := lines(q.take(10, nil)), []string{"a2", "a3"}; !slices.Equal(got, want) {
		t.Errorf("queue = %v, expected %v", got, want)
	}
}

func TestQueueLongRunKeepsBoundedSlice(t *testing.T) {
	q := newPointQueue(3000)
	for n := range 100_000 {
		q.pushMetric("m")
		if n%2 == 0 {
			q.pushAnomaly("a")
		}
		q.take(1, nil)
	}

	if cap(q.metrics.items) > 4*3000 || cap(q.anomalies.items) > 4*3000 {
		t.Errorf("slice capacities %d and %d grew past 4× the queue size 3000",
			cap(q.metrics.items), cap(q.anomalies.items))
	}
	if q.len() > 3000 {
		t.Errorf("queue length %d above its capacity 3000", q.len())
	}
}
