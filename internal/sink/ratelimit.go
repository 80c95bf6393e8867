package sink

import (
	"sync"
	"time"
)

// logInterval is the minimum time between two log lines about the same kind of failure.
const logInterval = time.Minute

// logLimiter lets one log line through per interval and counts the ones it holds back.
type logLimiter struct {
	mu         sync.Mutex
	interval   time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged at now, and how many lines were held back since the
// last one that was allowed.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()

	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return false, 0
	}

	suppressed = l.suppressed
	l.last = now
	l.suppressed = 0
	return true, suppressed
}

// reset lets the next line through at once, so the first failure after a recovery is logged.
func (l *logLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()

	l.last = time.Time{}
	l.suppressed = 0
}
