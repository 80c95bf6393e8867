package sink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// run is the background writer: it sends full batches when woken, everything queued on each
// FlushInterval tick, and after a failure waits out the backoff before it sends again.
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

// drain sends everything queued after Close, retrying with backoff until i.ctx ends, and counts
// what is left as dropped.
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

// send writes batches until the queue holds less than a full batch (or nothing, when all is
// true). It returns false when a request failed and should be retried later.
func (i *Influx) send(all bool) bool {
	for {
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

		err := i.writeBatch()
		if err != nil && retryable(err) {
			i.recordFailure(err)
			return false
		}
		if err != nil {
			i.discardBatch(err)
		} else {
			i.recordSuccess()
		}
		i.batch = i.batch[:0]
		i.inFlight.Store(0)
	}
}

func (i *Influx) writeBatch() error {
	i.lines = i.lines[:0]
	for _, p := range i.batch {
		i.lines = append(i.lines, p.line)
	}

	ctx, cancel := context.WithTimeout(i.ctx, i.cfg.Timeout)
	defer cancel()
	return i.writer.WriteRecord(ctx, i.lines...)
}

// retryable reports whether a failed request may succeed later: network errors, time-outs, 429,
// 5xx, and 401, 403 and 404, which an operator can fix by creating the database or granting
// access while natwatch runs. Any other status rejects the batch itself.
func retryable(err error) bool {
	status := statusCode(err)
	switch {
	case status == 0:
		return true
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return true
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	case status >= 500:
		return true
	}
	return false
}

// statusCode returns the HTTP status of a failed write, or 0 when no response arrived.
func statusCode(err error) int {
	var httpErr *http2.Error
	if errors.As(err, &httpErr) {
		return httpErr.StatusCode
	}
	return 0
}

func (i *Influx) recordSuccess() {
	i.written.Add(uint64(len(i.batch)))
	if i.failures > 0 {
		i.logger.Info("InfluxDB writes succeed again", "bucket", i.cfg.Bucket, "failed_requests", i.failures)
		i.writeLog.reset()
	}
	i.failures = 0
	i.lastErr = nil
	i.backoff = i.cfg.RetryMin
}

// recordFailure counts a request that will be retried and logs it at a bounded rate. A request
// that failed because Close's context ended is not counted.
func (i *Influx) recordFailure(err error) {
	if i.ctx.Err() != nil {
		return
	}

	i.writeErrors.Add(1)
	i.failures++
	i.lastErr = err

	ok, suppressed := i.writeLog.allow(time.Now())
	if !ok {
		return
	}
	i.logger.Error(i.describe(err),
		"url", i.cfg.URL,
		"bucket", i.cfg.Bucket,
		"status", statusCode(err),
		"error", err,
		"queued", i.Stats().Queued,
		"failed_requests", i.failures,
		"suppressed", suppressed)
}

// describe returns the log message for a failed write, with the fix for the usual causes.
func (i *Influx) describe(err error) string {
	switch statusCode(err) {
	case http.StatusNotFound:
		return fmt.Sprintf("InfluxDB write failed: bucket %q not found; on InfluxDB 1.x create the database with CREATE DATABASE (the bucket is \"db\" or \"db/retention_policy\"), on 2.x create the bucket in org %q; points are kept and retried", i.cfg.Bucket, i.cfg.Org)
	case http.StatusUnauthorized:
		return fmt.Sprintf("InfluxDB write failed: credentials rejected for bucket %q; set the token to \"user:password\" on InfluxDB 1.x or to an API token on 2.x; points are kept and retried", i.cfg.Bucket)
	case http.StatusForbidden:
		return fmt.Sprintf("InfluxDB write failed: the token may not write to bucket %q; grant write access; points are kept and retried", i.cfg.Bucket)
	case 0:
		return "InfluxDB write failed: server unreachable or timed out; points are kept and retried"
	}
	return "InfluxDB write failed: server error; points are kept and retried"
}

// discardBatch drops a batch that InfluxDB rejected as invalid, since sending it again would fail
// the same way.
//
// NOTE: InfluxDB 1.x responds with 400 "partial write" when it stored some points of a batch and
// rejected others. All of them are counted as dropped here.
func (i *Influx) discardBatch(err error) {
	i.writeErrors.Add(1)
	i.lastErr = err
	i.failures = 0
	i.backoff = i.cfg.RetryMin

	anomalies := 0
	for _, p := range i.batch {
		if p.anomaly {
			anomalies++
		}
	}
	i.countDropped(len(i.batch), anomalies)

	ok, suppressed := i.writeLog.allow(time.Now())
	if !ok {
		return
	}
	i.logger.Error("InfluxDB rejected a batch, points dropped",
		"url", i.cfg.URL,
		"bucket", i.cfg.Bucket,
		"status", statusCode(err),
		"error", err,
		"points", len(i.batch),
		"anomalies", anomalies,
		"suppressed", suppressed)
}

// retryWait returns how long to wait before the next attempt and doubles the wait for the one
// after, up to RetryMax. A Retry-After header from the server raises the wait, also up to RetryMax.
func (i *Influx) retryWait() time.Duration {
	wait := i.backoff
	i.backoff = min(2*i.backoff, i.cfg.RetryMax)

	var httpErr *http2.Error
	if errors.As(i.lastErr, &httpErr) && httpErr.RetryAfter > 0 {
		wait = max(wait, time.Duration(httpErr.RetryAfter)*time.Second)
	}
	return min(wait, i.cfg.RetryMax)
}
