package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/spool"
)

// Defaults for the zero values of InfluxConfig.
const (
	DefaultBatchSize       = 1000
	DefaultFlushInterval   = time.Second
	DefaultQueueSize       = 100_000
	DefaultTimeout         = 10 * time.Second
	DefaultRetryMin        = time.Second
	DefaultRetryMax        = 30 * time.Second
	DefaultConfigRetryWait = time.Minute
)

// InfluxConfig configures an Influx sink. Zero values select the defaults above.
type InfluxConfig struct {
	URL    string // server base URL, e.g. http://127.0.0.1:8086
	Token  string // "" without authentication, "user:password" on InfluxDB 1.x, an API token on 2.x and 3.x
	Org    string // "" on InfluxDB 1.x
	Bucket string // "db" or "db/retention_policy" on InfluxDB 1.x

	BatchSize     int           // points per write request
	FlushInterval time.Duration // maximum time a point waits for its batch to fill
	QueueSize     int           // points held in memory before they are written or spooled
	Timeout       time.Duration // time limit of one write request

	RetryMin time.Duration // wait before the first retry of a failed request
	RetryMax time.Duration // maximum wait between retries; the wait doubles after each failure

	// ConfigRetryWait is the minimum wait after a 401, 403 or 404 response, which only an
	// operator can fix (credentials, permissions, a missing database), so retries stay rare.
	ConfigRetryWait time.Duration

	// SpoolDir is the directory of the disk spool. Empty keeps unsent points in memory only.
	SpoolDir      string
	SpoolMaxBytes int64 // maximum spool size; spool.DefaultMaxBytes when 0
	SpoolNoSync   bool  // skip fsync in the spool (tests)

	Logger *slog.Logger // nil means slog.Default()
}

// InfluxStats are an Influx sink's counters since it was created.
type InfluxStats struct {
	PointsWritten    uint64 // points InfluxDB accepted
	PointsDropped    uint64 // points discarded: queue or spool full, invalid, rejected by InfluxDB, or unsent at Close without a spool
	AnomaliesDropped uint64 // the anomaly points among PointsDropped
	PointsRejected   uint64 // the points among PointsDropped that InfluxDB rejected with 400, 413 or 422
	WriteErrors      uint64 // failed write requests, each retry counted again
	Queued           int    // points waiting in memory, including a batch that is being written

	// WriteErrorKinds splits WriteErrors by kind, indexed by ErrorKind.
	WriteErrorKinds [NumErrorKinds]uint64

	PointsSpooled int       // points waiting in the spool
	SpoolBytes    int64     // size of the spool's files
	SpoolOldest   time.Time // when the oldest point in the spool was spooled; zero when it is empty
}

// Influx writes anomalies, traffic rates and plugin counters to InfluxDB through the
// /api/v2/write endpoint, which InfluxDB 1.8, 2.x and 3.x serve, with gzip-compressed bodies.
//
// The Write methods encode a point and append it to an in-memory queue; they never wait for the
// network or the disk. A sender goroutine writes the queue in batches of BatchSize and, every
// FlushInterval, whatever is queued, with the client's WriteAPIBlocking. A failed request is
// retried with exponential backoff and jitter, at least ConfigRetryWait apart after 401, 403 and
// 404, and no sooner than a 429 or 503 response's Retry-After. InfluxDB stores a point again with
// the same series and time as one point, so a batch sent twice is stored once.
//
// With SpoolDir set, a spiller goroutine moves the queue to the disk spool whenever the sender is
// failing, a request has been running longer than FlushInterval, or the spool is not empty, and
// the sender writes the spool, anomalies first, oldest first, acknowledging each batch only after
// InfluxDB accepted it. A batch whose direct write failed is spooled after the batches that were
// spooled while it was in flight, so the spool keeps the order of arrival only approximately;
// every point carries its own time. When the spool reaches SpoolMaxBytes, its oldest traffic and
// plugin points are deleted first; anomalies are never deleted from the spool, and Admit reports
// when no room is left for them.
//
// At QueueSize, new traffic and plugin points are dropped, and a new anomaly evicts the oldest
// traffic or plugin point. Only a queue full of anomalies loses its oldest anomaly.
//
// A 400, 413 or 422 response is answered by writing each half of the batch again until the
// rejected points are found. Those are logged and dropped, and the rest is written.
type Influx struct {
	cfg    InfluxConfig
	logger *slog.Logger
	client influxdb2.Client
	writer api.WriteAPIBlocking
	spool  *spool.Spool // nil without SpoolDir

	mu     sync.Mutex
	queue  *pointQueue
	closed bool

	wake      chan struct{} // a full batch is queued
	spillWake chan struct{} // the queue should be spooled now
	stop      chan struct{} // Close was called
	done      chan struct{} // the sender has ended
	spillDone chan struct{} // the spiller has ended
	ctx       context.Context
	cancel    context.CancelFunc // ends ctx once Close's context ends

	// Owned by the sender goroutine.
	batch    []queuedPoint
	backoff  time.Duration
	failures int   // consecutive failed requests
	lastErr  error // the last failed request's error
	unsent   int   // points still queued when the sender ended without a spool

	failing        atomic.Bool  // the last request failed and will be retried
	requestStarted atomic.Int64 // Unix nanoseconds when the running request started, 0 when idle
	spoolRoom      atomic.Int64 // the spool's Room after the last spool operation

	written          atomic.Uint64
	dropped          atomic.Uint64
	anomaliesDropped atomic.Uint64
	rejected         atomic.Uint64
	writeErrors      atomic.Uint64
	errorKinds       [NumErrorKinds]atomic.Uint64
	inFlight         atomic.Int64

	writeLog   logLimiter
	dropLog    logLimiter
	invalidLog logLimiter
	rejectLog  logLimiter
	spoolLog   logLimiter
}

// NewInflux validates cfg, opens the spool and starts the sink's background goroutines. It does
// not contact the server: an unreachable server shows up as logged write errors and in Stats.
// Points left in the spool by an earlier run are sent first.
func NewInflux(cfg InfluxConfig) (*Influx, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}

	var sp *spool.Spool
	if cfg.SpoolDir != "" {
		sp, err = spool.Open(spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, NoSync: cfg.SpoolNoSync, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("InfluxDB output: %w", err)
		}
	}

	options := influxdb2.DefaultOptions().
		SetApplicationName("natwatch").
		SetPrecision(time.Nanosecond).
		SetUseGZip(true).
		SetHTTPRequestTimeout(uint(math.Ceil(cfg.Timeout.Seconds())))
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, options)

	ctx, cancel := context.WithCancel(context.Background())
	i := &Influx{
		cfg:        cfg,
		logger:     cfg.Logger,
		client:     client,
		writer:     client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		spool:      sp,
		queue:      newPointQueue(cfg.QueueSize),
		wake:       make(chan struct{}, 1),
		spillWake:  make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		spillDone:  make(chan struct{}),
		ctx:        ctx,
		cancel:     cancel,
		backoff:    cfg.RetryMin,
		writeLog:   logLimiter{interval: logInterval},
		dropLog:    logLimiter{interval: logInterval},
		invalidLog: logLimiter{interval: logInterval},
		rejectLog:  logLimiter{interval: logInterval},
		spoolLog:   logLimiter{interval: logInterval},
	}

	if sp != nil {
		i.spoolRoom.Store(sp.Room())
		if stats := sp.Stats(); stats.Items[spool.Events]+stats.Items[spool.Metrics] > 0 {
			i.logger.Info("InfluxDB output: resending points spooled by an earlier run",
				"spool_dir", cfg.SpoolDir, "anomalies", stats.Items[spool.Events], "metric_points", stats.Items[spool.Metrics],
				"bytes", stats.Bytes, "oldest", stats.Oldest)
		}
		go i.runSpiller()
	} else {
		close(i.spillDone)
	}
	go i.run()
	return i, nil
}

func (cfg InfluxConfig) withDefaults() (InfluxConfig, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return cfg, fmt.Errorf("invalid InfluxDB URL %q: %w", cfg.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return cfg, fmt.Errorf("invalid InfluxDB URL %q: expected an http:// or https:// URL", cfg.URL)
	}
	if u.Host == "" {
		return cfg, fmt.Errorf("invalid InfluxDB URL %q: missing host", cfg.URL)
	}
	if u.User != nil {
		return cfg, fmt.Errorf("invalid InfluxDB URL %q: put credentials in the token as \"user:password\", not in the URL", u.Redacted())
	}
	if cfg.Bucket == "" {
		return cfg, errors.New("missing InfluxDB bucket: set the database as \"db\" or \"db/retention_policy\" on InfluxDB 1.x")
	}

	checks := []struct {
		name     string
		negative bool
	}{
		{"batch size", cfg.BatchSize < 0},
		{"flush interval", cfg.FlushInterval < 0},
		{"queue size", cfg.QueueSize < 0},
		{"timeout", cfg.Timeout < 0},
		{"minimum retry wait", cfg.RetryMin < 0},
		{"maximum retry wait", cfg.RetryMax < 0},
		{"configuration retry wait", cfg.ConfigRetryWait < 0},
		{"spool size", cfg.SpoolMaxBytes < 0},
	}
	for _, check := range checks {
		if check.negative {
			return cfg, fmt.Errorf("invalid InfluxDB %s: must not be negative", check.name)
		}
	}

	cfg.BatchSize = orDefault(cfg.BatchSize, DefaultBatchSize)
	cfg.FlushInterval = orDefault(cfg.FlushInterval, DefaultFlushInterval)
	cfg.QueueSize = orDefault(cfg.QueueSize, DefaultQueueSize)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.RetryMin = orDefault(cfg.RetryMin, DefaultRetryMin)
	cfg.RetryMax = orDefault(cfg.RetryMax, DefaultRetryMax)
	cfg.ConfigRetryWait = orDefault(cfg.ConfigRetryWait, DefaultConfigRetryWait)
	cfg.SpoolMaxBytes = orDefault(cfg.SpoolMaxBytes, spool.DefaultMaxBytes)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	if cfg.QueueSize < 2 {
		return cfg, fmt.Errorf("invalid InfluxDB queue size %d: must be at least 2", cfg.QueueSize)
	}
	if cfg.RetryMin > cfg.RetryMax {
		return cfg, fmt.Errorf("invalid InfluxDB retry waits: minimum %v is above maximum %v", cfg.RetryMin, cfg.RetryMax)
	}
	return cfg, nil
}

// orDefault returns value, or fallback when value is zero.
func orDefault[T int | int64 | time.Duration](value, fallback T) T {
	if value == 0 {
		return fallback
	}
	return value
}

// WriteAnomaly queues a as a natwatch_anomaly point.
func (i *Influx) WriteAnomaly(a detector.Anomaly) {
	line, err := anomalyLine(a)
	if err != nil {
		i.dropInvalid(MeasurementAnomaly, a.Gateway, true, err)
		return
	}

	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		i.countDropped(1, 1)
		return
	}
	evicted, full := i.queue.pushAnomaly(line)
	queued := i.queue.len()
	i.mu.Unlock()

	if full {
		i.dropQueued(evicted)
	}
	i.signal(queued)
}

// WriteTraffic queues p as a natwatch_traffic point.
func (i *Influx) WriteTraffic(p detector.TrafficPoint) {
	line, err := trafficLine(p)
	if err != nil {
		i.dropInvalid(MeasurementTraffic, p.Gateway, false, err)
		return
	}
	i.pushMetric(line)
}

// WritePlugin queues p as a natwatch_plugin point.
func (i *Influx) WritePlugin(p PluginStats) {
	line, err := pluginLine(p)
	if err != nil {
		i.dropInvalid(MeasurementPlugin, p.Gateway, false, err)
		return
	}
	i.pushMetric(line)
}

func (i *Influx) pushMetric(line string) {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		i.countDropped(1, 0)
		return
	}
	ok := i.queue.pushMetric(line)
	queued := i.queue.len()
	i.mu.Unlock()

	if !ok {
		i.dropQueued(queuedPoint{line: line})
	}
	i.signal(queued)
}

// signal wakes the sender once a full batch is queued, and the spiller when the queue is half full.
func (i *Influx) signal(queued int) {
	if queued < i.cfg.BatchSize {
		return
	}
	select {
	case i.wake <- struct{}{}:
	default:
	}

	if queued >= i.cfg.QueueSize/2 {
		select {
		case i.spillWake <- struct{}{}:
		default:
		}
	}
}

func (i *Influx) countDropped(points, anomalies int) {
	i.dropped.Add(uint64(points))
	i.anomaliesDropped.Add(uint64(anomalies))
}

// dropQueued counts a point that did not fit in the full queue and logs at a bounded rate.
func (i *Influx) dropQueued(p queuedPoint) {
	anomalies := 0
	if p.anomaly {
		anomalies = 1
	}
	i.countDropped(1, anomalies)

	ok, suppressed := i.dropLog.allow(time.Now())
	if !ok {
		return
	}
	i.logger.Warn("InfluxDB output queue full, points dropped (traffic and plugin points first, anomalies only when the queue contains nothing else)",
		"bucket", i.cfg.Bucket,
		"queue_size", i.cfg.QueueSize,
		"points_dropped", i.dropped.Load(),
		"anomalies_dropped", i.anomaliesDropped.Load(),
		"suppressed", suppressed)
}

// dropInvalid counts a point that cannot be encoded and logs at a bounded rate.
func (i *Influx) dropInvalid(measurement, gateway string, anomaly bool, err error) {
	anomalies := 0
	if anomaly {
		anomalies = 1
	}
	i.countDropped(1, anomalies)

	ok, suppressed := i.invalidLog.allow(time.Now())
	if !ok {
		return
	}
	i.logger.Warn("InfluxDB output dropped a point that cannot be written",
		"measurement", measurement,
		"gateway", gateway,
		"error", err,
		"suppressed", suppressed)
}

// Stats returns the sink's counters.
func (i *Influx) Stats() InfluxStats {
	i.mu.Lock()
	queued := i.queue.len()
	i.mu.Unlock()

	stats := InfluxStats{
		PointsWritten:    i.written.Load(),
		PointsDropped:    i.dropped.Load(),
		AnomaliesDropped: i.anomaliesDropped.Load(),
		PointsRejected:   i.rejected.Load(),
		WriteErrors:      i.writeErrors.Load(),
		Queued:           queued + int(i.inFlight.Load()),
	}
	for kind := range stats.WriteErrorKinds {
		stats.WriteErrorKinds[kind] = i.errorKinds[kind].Load()
	}
	if i.spool != nil {
		spooled := i.spool.Stats()
		stats.PointsSpooled = spooled.Items[spool.Events] + spooled.Items[spool.Metrics]
		stats.SpoolBytes = spooled.Bytes
		stats.SpoolOldest = spooled.Oldest
		stats.PointsDropped += spooled.DroppedItems // traffic and plugin points deleted to make room
	}
	return stats
}

// Close stops accepting points and writes the queued ones, retrying failed requests, until all
// are written or ctx ends. With a spool, Close first moves every queued point to the spool, so
// what is not written before ctx ends stays there for the next start; Close then returns nil.
// Without a spool, the unwritten points are dropped and Close returns an error. With a context
// that never ends and a server that keeps failing, Close does not return. Later calls return nil.
func (i *Influx) Close(ctx context.Context) error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	i.mu.Unlock()

	close(i.stop)
	stopCancel := context.AfterFunc(ctx, i.cancel)
	<-i.spillDone
	if i.spool != nil {
		i.spill()
	}
	<-i.done
	stopCancel()
	i.cancel()
	i.client.Close()

	var spoolErr error
	if i.spool != nil {
		spoolErr = i.closeSpool()
	}
	if i.unsent == 0 {
		return spoolErr
	}
	cause := i.lastErr
	if cause == nil {
		cause = ctx.Err()
	}
	return errors.Join(spoolErr, fmt.Errorf("InfluxDB output: %d points for bucket %q not written before close: %w", i.unsent, i.cfg.Bucket, cause))
}

// closeSpool closes the spool and logs what it keeps for the next start.
func (i *Influx) closeSpool() error {
	stats := i.spool.Stats()
	err := i.spool.Close()
	if err != nil {
		return fmt.Errorf("InfluxDB output: close spool %s: %w", i.cfg.SpoolDir, err)
	}

	if kept := stats.Items[spool.Events] + stats.Items[spool.Metrics]; kept > 0 {
		i.logger.Warn("InfluxDB output closed with points in the spool; they are sent at the next start",
			"spool_dir", i.cfg.SpoolDir, "points", kept, "anomalies", stats.Items[spool.Events], "bytes", stats.Bytes,
			"last_error", errString(i.lastErr))
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
