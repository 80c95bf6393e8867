package sink

// queuedPoint is one encoded point waiting to be written.
type queuedPoint struct {
	seq     uint64 // arrival order across both kinds of points
	line    string
	anomaly bool
}

// fifo is a first-in, first-out list of points.
type fifo struct {
	items []queuedPoint
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(p queuedPoint) { f.items = append(f.items, p) }

func (f *fifo) front() queuedPoint { return f.items[f.head] }

func (f *fifo) pop() queuedPoint {
	p := f.items[f.head]
	f.items[f.head] = queuedPoint{}
	f.head++

	// Reuse the slice once it is empty, and move the live items down once more than half of it
	// is spent, so a queue that never empties does not grow without bound.
	switch {
	case f.head == len(f.items):
		f.items = f.items[:0]
		f.head = 0
	case f.head > 1024 && f.head > len(f.items)/2:
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items = f.items[:n]
		f.head = 0
	}
	return p
}

// pointQueue holds at most capacity points in arrival order. Metric points (traffic and plugin
// counters) may fill only metricLimit of it, so the rest is kept for anomalies, and an anomaly
// that finds the queue full evicts the oldest metric point. Only when the whole queue holds
// anomalies does a new anomaly evict the oldest anomaly.
type pointQueue struct {
	capacity    int
	metricLimit int
	anomalies   fifo
	metrics     fifo
	nextSeq     uint64
}

// newPointQueue returns a queue for capacity points, a quarter of which (at least one) is
// reserved for anomalies.
func newPointQueue(capacity int) *pointQueue {
	reserved := max(capacity/4, 1)
	return &pointQueue{capacity: capacity, metricLimit: capacity - reserved}
}

func (q *pointQueue) len() int { return q.anomalies.len() + q.metrics.len() }

// pushAnomaly adds an anomaly point. When the queue is full it evicts the oldest metric point, or
// the oldest anomaly if there is none, and returns the evicted point.
func (q *pointQueue) pushAnomaly(line string) (evicted queuedPoint, ok bool) {
	if q.len() >= q.capacity {
		if q.metrics.len() > 0 {
			evicted = q.metrics.pop()
		} else {
			evicted = q.anomalies.pop()
		}
		ok = true
	}

	q.nextSeq++
	q.anomalies.push(queuedPoint{seq: q.nextSeq, line: line, anomaly: true})
	return evicted, ok
}

// pushMetric adds a metric point, or returns false when metric points already fill their share.
func (q *pointQueue) pushMetric(line string) bool {
	if q.metrics.len() >= q.metricLimit {
		return false
	}

	q.nextSeq++
	q.metrics.push(queuedPoint{seq: q.nextSeq, line: line})
	return true
}

// take removes up to n points in arrival order and appends them to dst.
func (q *pointQueue) take(n int, dst []queuedPoint) []queuedPoint {
	for ; n > 0; n-- {
		anomalies, metrics := q.anomalies.len(), q.metrics.len()
		switch {
		case anomalies == 0 && metrics == 0:
			return dst
		case metrics == 0:
			dst = append(dst, q.anomalies.pop())
		case anomalies == 0:
			dst = append(dst, q.metrics.pop())
		case q.anomalies.front().seq < q.metrics.front().seq:
			dst = append(dst, q.anomalies.pop())
		default:
			dst = append(dst, q.metrics.pop())
		}
	}
	return dst
}
