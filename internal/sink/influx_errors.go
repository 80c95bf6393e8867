package sink

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// ErrorKind classifies a failed write request for the logs and the natwatch_plugin counters.
type ErrorKind int

// The kinds of failed write requests.
const (
	KindNetwork    ErrorKind = iota // no response: refused, reset, DNS or timed out (also 408)
	KindAuth                        // 401 or 403
	KindNotFound                    // 404: database or bucket missing
	KindBadRequest                  // 400, 413 or 422: points rejected
	KindThrottled                   // 429 or 503
	KindServer                      // any other status

	NumErrorKinds = 6
)

var errorKindNames = [NumErrorKinds]string{"network", "auth", "not_found", "bad_request", "throttled", "server"}

// String returns the kind's name as written in the natwatch_plugin field write_errors_<name>.
func (k ErrorKind) String() string {
	if k >= 0 && int(k) < len(errorKindNames) {
		return errorKindNames[k]
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// classify returns the kind of a failed write request.
func classify(err error) ErrorKind {
	switch status := statusCode(err); {
	case status == 0, status == http.StatusRequestTimeout:
		return KindNetwork
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return KindAuth
	case status == http.StatusNotFound, retentionPolicyMissing(err):
		return KindNotFound
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		return KindBadRequest
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return KindThrottled
	default:
		return KindServer
	}
}

// retentionPolicyMissing reports whether InfluxDB 1.x rejected a write to a database/rp bucket
// whose retention policy does not exist; 1.8 answers that with status 500, not 404.
func retentionPolicyMissing(err error) bool {
	return statusCode(err) == http.StatusInternalServerError && strings.Contains(err.Error(), "retention policy not found")
}

// statusCode returns the HTTP status of a failed write, or 0 when no response arrived.
func statusCode(err error) int {
	var httpErr *http2.Error
	if errors.As(err, &httpErr) {
		return httpErr.StatusCode
	}
	return 0
}

// retryAfter returns the Retry-After header of a failed write, or 0.
func retryAfter(err error) time.Duration {
	var httpErr *http2.Error
	if errors.As(err, &httpErr) {
		return time.Duration(httpErr.RetryAfter) * time.Second
	}
	return 0
}

// describe returns the log message for a failed write, with the fix for the usual causes.
func (i *Influx) describe(err error) string {
	switch classify(err) {
	case KindNotFound:
		database, policy, hasPolicy := strings.Cut(i.cfg.Bucket, "/")
		if retentionPolicyMissing(err) && hasPolicy {
			return fmt.Sprintf("InfluxDB write failed: retention policy %q of database %q not found; create it with the InfluxQL statement CREATE RETENTION POLICY \"%s\" ON \"%s\" DURATION 30d REPLICATION 1, or write to the database's default policy with InfluxDB_Bucket %s; points are kept and retried every %v",
				policy, database, policy, database, database, i.cfg.ConfigRetryWait)
		}
		where := "create the bucket"
		if i.cfg.Org != "" {
			where = fmt.Sprintf("create the bucket in org %q", i.cfg.Org)
		}
		return fmt.Sprintf("InfluxDB write failed: bucket %q not found; on InfluxDB 1.x create the database with the InfluxQL statement CREATE DATABASE \"%s\", on 2.x or 3.x %s; points are kept and retried every %v",
			i.cfg.Bucket, database, where, i.cfg.ConfigRetryWait)
	case KindAuth:
		return i.describeAuth(statusCode(err))
	case KindThrottled:
		return "InfluxDB write failed: the server is throttling or unavailable; points are kept and retried after its Retry-After time"
	case KindNetwork:
		return "InfluxDB write failed: server unreachable or timed out; points are kept and retried"
	}
	return "InfluxDB write failed: server error; points are kept and retried"
}

// describeAuth names the user of a "user:password" token, or says an API token was used, and
// never includes the secret.
func (i *Influx) describeAuth(status int) string {
	who := "without credentials (InfluxDB_Token is empty)"
	if user, _, ok := strings.Cut(i.cfg.Token, ":"); ok {
		who = fmt.Sprintf("as InfluxDB 1.x user %q (InfluxDB_Token user:password)", user)
	} else if i.cfg.Token != "" {
		who = "with the API token in InfluxDB_Token"
	}

	if status == http.StatusForbidden {
		return fmt.Sprintf("InfluxDB write failed: 403 Forbidden: writing %s is not allowed to bucket %q; grant write access; points are kept and retried every %v",
			who, i.cfg.Bucket, i.cfg.ConfigRetryWait)
	}
	return fmt.Sprintf("InfluxDB write failed: 401 Unauthorized: credentials rejected when writing %s; fix InfluxDB_Token; points are kept and retried every %v",
		who, i.cfg.ConfigRetryWait)
}

// ErrBackPressure is matched by the error Admit returns when the sink has no room left.
var ErrBackPressure = errors.New("InfluxDB output full")

// BackPressureError says why the sink cannot take more points. It matches ErrBackPressure.
type BackPressureError struct {
	Reason string
}

func (e *BackPressureError) Error() string { return "InfluxDB output full: " + e.Reason }

func (e *BackPressureError) Is(target error) bool { return target == ErrBackPressure }

// Admit returns a *BackPressureError when the sink would have to drop anomalies to take more
// points: with a spool, when the spool has no room left for anomalies and the memory queue is at
// least half full, or when the memory queue is full; without a spool, when the memory queue is
// full. It reads counters only and never waits for the disk or the network.
func (i *Influx) Admit() error {
	i.mu.Lock()
	queued := i.queue.len()
	i.mu.Unlock()

	if queued >= i.cfg.QueueSize {
		return &BackPressureError{Reason: fmt.Sprintf("%d points queued in memory, the maximum", queued)}
	}
	if i.spool == nil {
		return nil
	}

	reserve := min(64<<10, i.cfg.SpoolMaxBytes/8)
	if i.spoolRoom.Load() < reserve && queued >= i.cfg.QueueSize/2 {
		return &BackPressureError{Reason: fmt.Sprintf("spool %s holds its maximum of %d bytes of unsent anomalies and %d points are queued in memory",
			i.cfg.SpoolDir, i.cfg.SpoolMaxBytes, queued)}
	}
	return nil
}
