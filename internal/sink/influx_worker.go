package sink

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/natwatch/natwatch/internal/spool"
)

// maxRetryAfter bounds how long a Retry-After header can hold back the next request.
const maxRetryAfter = 5 * time.Minute

// run is the sender: it writes full batches when woken, everything queued and spooled on each
// FlushInterval tick, and after a failure waits out the backoff before it writes again.
func (i *Influx) run() {
	defer close(i.done)

	ticker := time.NewTicker(i.cfg.FlushInterval)
	defer ticker.Stop()
	var retry <-chan time.Time

	for {
		select {
		case <-i.stop:
			i.drain()
			return
		case <-i.wake:
			if retry != nil {
				continue
			}
			i.send(false)
		case <-ticker.C:
			if retry != nil {
				continue
			}
			i.send(true)
		case <-retry:
			i.send(true)
		}

		retry = nil
		if i.failures > 0 {
			retry = time.After(i.retryWait())
		}
	}
}

// drain writes everything queued and spooled after Close, retrying with backoff until i.ctx
// ends. What is left in memory then goes to the spool or, without one, is counted as dropped.
func (i *Influx) drain() {
	for !i.send(true) {
		if !i.sleep(i.retryWait()) {
			break
		}
	}

	i.mu.Lock()
	leftover := i.queue.take(i.queue.len(), i.batch)
	i.mu.Unlock()
	i.batch = nil
	i.inFlight.Store(0)

	if i.spool != nil {
		leftover = i.spoolBatch(leftover)
	}
	anomalies := 0
	for _, p := range leftover {
		if p.anomaly {
			anomalies++
		}
	}
	i.unsent = len(leftover)
	i.countDropped(len(leftover), anomalies)
}

// sleep waits for d and returns true, or returns false as soon as i.ctx ends.
func (i *Influx) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-i.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// send writes the spool and then the queue until the queue holds less than a full batch (or
// nothing, when all is true). It returns false when a request failed and should be retried later.
func (i *Influx) send(all bool) bool {
	for {
		if i.ctx.Err() != nil {
			return false
		}

		if i.spool != nil {
			sent, ok := i.sendSpooled()
			if !ok {
				return false
			}
			if sent {
				continue
			}
		}

		if len(i.batch) == 0 {
			i.mu.Lock()
			if !all && i.queue.len() < i.cfg.BatchSize {
				i.mu.Unlock()
				return true
			}
			i.batch = i.queue.take(i.cfg.BatchSize, i.batch[:0])
			i.inFlight.Store(int64(len(i.batch)))
			i.mu.Unlock()

			if len(i.batch) == 0 {
				return true
			}
		}

		lines := make([]string, len(i.batch))
		for n, p := range i.batch {
			lines[n] = p.line
		}
		rejected, err := i.writeLines(lines)
		if err != nil {
			i.recordFailure(err)
			if i.spool != nil {
				i.dropUnspooled(i.spoolBatch(i.batch))
				i.batch = i.batch[:0]
				i.inFlight.Store(0)
			}
			return false
		}

		i.recordSuccess(len(lines) - len(rejected))
		i.batch = i.batch[:0]
		i.inFlight.Store(0)
	}
}

// sendSpooled writes the oldest spooled batch and acknowledges it. sent is false when the spool
// is empty; ok is false when the write failed and should be retried later.
func (i *Influx) sendSpooled() (sent, ok bool) {
	rec, found, err := i.spool.Next()
	if err != nil {
		i.logSpoolError("InfluxDB output: cannot read the spool; retrying on the next flush", err)
		return false, true
	}
	if !found {
		return false, true
	}

	lines := strings.Split(string(rec.Payload), "\n")
	rejected, err := i.writeLines(lines)
	if err != nil {
		i.recordFailure(err)
		return false, false
	}

	if err := i.spool.Ack(rec); err != nil {
		// The batch is in InfluxDB; if the position did not reach the disk, the next start sends
		// it again, which InfluxDB stores as the same points.
		i.logSpoolError("InfluxDB output: cannot store the spool's read position", err)
	}
	i.spoolRoom.Store(i.spool.Room())
	i.recordSuccess(len(lines) - len(rejected))
	return true, true
}

// post sends lines in one write request.
func (i *Influx) post(lines []string) error {
	ctx, cancel := context.WithTimeout(i.ctx, i.cfg.Timeout)
	defer cancel()

	i.requestStarted.Store(time.Now().UnixNano())
	defer i.requestStarted.Store(0)
	return i.writer.WriteRecord(ctx, lines...)
}

// writeLines writes lines and returns the ones InfluxDB rejected as invalid. A 400, 413 or 422
// response may mean that InfluxDB stored some points and rejected others (a field type conflict
// is the usual cause), so each half is written again, down to single points, which are dropped
// when rejected. Points written twice this way are stored once. Any other failure is returned,
// and the caller retries all of lines.
func (i *Influx) writeLines(lines []string) (rejected []string, err error) {
	err = i.post(lines)
	if err == nil {
		return nil, nil
	}
	if classify(err) != KindBadRequest || i.ctx.Err() != nil {
		return nil, err
	}

	i.countError(err)
	if len(lines) == 1 {
		i.reject(lines[0], err)
		return lines, nil
	}

	mid := len(lines) / 2
	first, err := i.writeLines(lines[:mid])
	if err != nil {
		return nil, err
	}
	second, err := i.writeLines(lines[mid:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}

// reject counts a point that InfluxDB rejected and logs it at a bounded rate.
func (i *Influx) reject(line string, err error) {
	anomaly := strings.HasPrefix(line, MeasurementAnomaly+",") || strings.HasPrefix(line, MeasurementAnomaly+" ")
	anomalies := 0
	if anomaly {
		anomalies = 1
	}
	i.rejected.Add(1)
	i.countDropped(1, anomalies)

	ok, suppressed := i.rejectLog.allow(time.Now())
	if !ok {
		return
	}
	const maxLogged = 300
	if len(line) > maxLogged {
		line = line[:maxLogged] + "…"
	}
	i.logger.Error("InfluxDB rejected a point, point dropped; a field type conflict means the measurement already has that field with another type, so drop the measurement or write to another bucket",
		"url", i.cfg.URL,
		"bucket", i.cfg.Bucket,
		"status", statusCode(err),
		"error", err,
		"point", line,
		"points_rejected", i.rejected.Load(),
		"suppressed", suppressed)
}

func (i *Influx) countError(err error) {
	i.writeErrors.Add(1)
	i.errorKinds[classify(err)].Add(1)
}

func (i *Influx) recordSuccess(points int) {
	i.written.Add(uint64(points))
	if i.failures > 0 {
		i.logger.Info("InfluxDB writes succeed again", "bucket", i.cfg.Bucket, "failed_requests", i.failures)
		i.writeLog.reset()
	}
	i.failures = 0
	i.failing.Store(false)
	i.lastErr = nil
	i.backoff = i.cfg.RetryMin
}

// recordFailure counts a request that will be retried and logs it at a bounded rate. A request
// that failed because Close's context ended is not counted.
func (i *Influx) recordFailure(err error) {
	if i.ctx.Err() != nil {
		return
	}

	i.countError(err)
	i.failures++
	i.failing.Store(true)
	i.lastErr = err

	ok, suppressed := i.writeLog.allow(time.Now())
	if !ok {
		return
	}
	i.logger.Error(i.describe(err),
		"url", i.cfg.URL,
		"bucket", i.cfg.Bucket,
		"kind", classify(err).String(),
		"status", statusCode(err),
		"error", err,
		"queued", i.queuedInMemory(),
		"failed_requests", i.failures,
		"suppressed", suppressed)
}

func (i *Influx) queuedInMemory() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.queue.len() + int(i.inFlight.Load())
}

// retryWait returns how long to wait before the next attempt and doubles the backoff for the one
// after, up to RetryMax. The wait is the backoff with up to half of it taken off at random, so
// that several natwatch instances spread their retries. After 401, 403 or 404 it is at least
// ConfigRetryWait; after 429 or 503 it is at least the Retry-After header, up to maxRetryAfter.
func (i *Influx) retryWait() time.Duration {
	base := i.backoff
	i.backoff = min(2*i.backoff, i.cfg.RetryMax)
	wait := base - rand.N(base/2+1)

	switch classify(i.lastErr) {
	case KindAuth, KindNotFound:
		wait = max(wait, i.cfg.ConfigRetryWait)
	case KindThrottled:
		if after := retryAfter(i.lastErr); after > 0 {
			wait = max(wait, min(after, maxRetryAfter))
		}
	}
	return wait
}

// spoolBatch appends batch to the spool, anomalies and metric points as separate records, and
// returns the points it could not spool. Metric points that do not fit are dropped and counted;
// anomalies that do not fit are returned.
func (i *Influx) spoolBatch(batch []queuedPoint) (unspooled []queuedPoint) {
	var anomalies, metrics []string
	for _, p := range batch {
		if p.anomaly {
			anomalies = append(anomalies, p.line)
		} else {
			metrics = append(metrics, p.line)
		}
	}

	if len(anomalies) > 0 {
		err := i.spool.Append(spool.Events, []byte(strings.Join(anomalies, "\n")), len(anomalies))
		if err != nil {
			i.logSpoolError("InfluxDB output: cannot spool anomalies; they stay in memory", err)
			for _, p := range batch {
				if p.anomaly {
					unspooled = append(unspooled, p)
				}
			}
		}
	}
	if len(metrics) > 0 {
		err := i.spool.Append(spool.Metrics, []byte(strings.Join(metrics, "\n")), len(metrics))
		if err != nil {
			i.logSpoolError("InfluxDB output: cannot spool traffic and plugin points; they are dropped", err)
			i.countDropped(len(metrics), 0)
		}
	}

	i.spoolRoom.Store(i.spool.Room())
	return unspooled
}

// dropUnspooled puts anomalies that the spool rejected back in the queue; a full queue drops them.
func (i *Influx) dropUnspooled(points []queuedPoint) {
	for _, p := range points {
		i.mu.Lock()
		evicted, full := i.queue.pushAnomaly(p.line)
		i.mu.Unlock()
		if full {
			i.dropQueued(evicted)
		}
	}
}

func (i *Influx) logSpoolError(msg string, err error) {
	ok, suppressed := i.spoolLog.allow(time.Now())
	if !ok {
		return
	}
	i.logger.Error(msg, "spool_dir", i.cfg.SpoolDir, "error", err, "suppressed", suppressed)
}

// runSpiller moves the queue to the spool whenever the sender cannot keep up: while requests
// fail, while one request has been running longer than FlushInterval, while the spool holds
// points (so they keep their order), and when the queue is half full.
func (i *Influx) runSpiller() {
	defer close(i.spillDone)

	ticker := time.NewTicker(i.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-i.stop:
			return
		case <-i.spillWake:
			i.spill()
		case <-ticker.C:
			if i.shouldSpill() {
				i.spill()
			}
		}
	}
}

func (i *Influx) shouldSpill() bool {
	if i.failing.Load() {
		return true
	}
	if started := i.requestStarted.Load(); started != 0 && time.Since(time.Unix(0, started)) > i.cfg.FlushInterval {
		return true
	}
	return i.spool.Pending() > 0
}

// spill moves everything queued to the spool in batches of BatchSize.
func (i *Influx) spill() {
	for {
		i.mu.Lock()
		batch := i.queue.take(i.cfg.BatchSize, nil)
		i.mu.Unlock()
		if len(batch) == 0 {
			return
		}

		unspooled := i.spoolBatch(batch)
		if len(unspooled) > 0 {
			i.dropUnspooled(unspooled)
			return
		}
	}
}
