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
)

// Defaults for the zero values of InfluxConfig.
const (
	DefaultBatchSize     = 1000
	DefaultFlushInterval = time.Second
	DefaultQueueSize     = 100_000
	DefaultTimeout       = 10 * time.Second
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = 30 * time.Second
)

// InfluxConfig configures an Influx sink. Zero values select the defaults above.
type InfluxConfig struct {
	URL    string // server base URL, e.g. http://127.0.0.1:8086
	Token  string // "" without authentication, "user:password" on InfluxDB 1.x, an API token on 2.x
	Org    string // "" on InfluxDB 1.x
	Bucket string // "db" or "db/retention_policy" on InfluxDB 1.x

	BatchSize     int           // points per write request
	FlushInterval time.Duration // maximum time a point waits for its batch to fill
	QueueSize     int           // points held in memory while InfluxDB is slow or unreachable
	Timeout       time.Duration // time limit of one write request

	RetryMin time.Duration // wait before the first retry of a failed request
	RetryMax time.Duration // maximum wait between retries; the wait doubles after each failure

	Logger *slog.Logger // nil means slog.Default()
}

// InfluxStats are an Influx sink's counters since it was created.
type InfluxStats struct {
	PointsWritten    uint64 // points InfluxDB accepted
	PointsDropped    uint64 // points discarded: queue full, invalid, rejected by InfluxDB, or unsent at Close
	AnomaliesDropped uint64 // the anomaly points among PointsDropped
	WriteErrors      uint64 // failed write requests, each retry counted again
	Queued           int    // points waiting, including a batch that is being retried
}

// Influx writes anomalies, traffic rates and plugin counters to InfluxDB through the
// /api/v2/write endpoint, which InfluxDB 1.8 and later serve.
//
// The Write methods encode a point and append it to an in-memory queue. One background goroutine
// sends the queue with the client's WriteAPIBlocking, in batches of BatchSize and, every
// FlushInterval, whatever is queued. A failed batch is retried with exponential backoff before
// any later point, so points arrive in the order they were written. While a batch is retried the
// queue fills. At QueueSize, new traffic and plugin points are dropped, and a new anomaly evicts
// the oldest traffic or plugin point. Only a queue full of anomalies loses its oldest anomaly.
//
// NOTE: points live in memory only, so a restart or a Close during an outage loses the queued
// points; a disk spool is planned.
type Influx struct {
	cfg    InfluxConfig
	logger *slog.Logger
	client influxdb2.Client
	writer api.WriteAPIBlocking

	mu     sync.Mutex
	queue  *pointQueue
	closed bool

	wake   chan struct{} // a full batch is queued
	stop   chan struct{} // Close was called
	done   chan struct{} // the worker has ended
	ctx    context.Context
	cancel context.CancelFunc // ends ctx once Close's context ends

	// Owned by the worker goroutine.
	batch    []queuedPoint
	lines    []string
	backoff  time.Duration
	failures int   // consecutive failed requests
	lastErr  error // the last failed request's error
	unsent   int   // points still queued when the worker ended

	written          atomic.Uint64
	dropped          atomic.Uint64
	anomaliesDropped atomic.Uint64
	writeErrors      atomic.Uint64
	inFlight         atomic.Int64

	writeLog   logLimiter
	dropLog    logLimiter
	invalidLog logLimiter
}

// NewInflux validates cfg and starts the sink's background writer. It does not contact the server:
// an unreachable server shows up as logged write errors and in Stats.
func NewInflux(cfg InfluxConfig) (*Influx, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}

	options := influxdb2.DefaultOptions().
		SetApplicationName("natwatch").
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(math.Ceil(cfg.Timeout.Seconds())))
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, options)

	ctx, cancel := context.WithCancel(context.Background())
	i := &Influx{
		cfg:        cfg,
		logger:     cfg.Logger,
		client:     client,
		writer:     client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		queue:      newPointQueue(cfg.QueueSize),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		ctx:        ctx,
		cancel:     cancel,
		backoff:    cfg.RetryMin,
		writeLog:   logLimiter{interval: logInterval},
		dropLog:    logLimiter{interval: logInterval},
		invalidLog: logLimiter{interval: logInterval},
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
func orDefault[T int | time.Duration](value, fallback T) T {
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

// signal wakes the worker once a full batch is queued.
func (i *Influx) signal(queued int) {
	if queued < i.cfg.BatchSize {
		return
	}
	select {
	case i.wake <- struct{}{}:
	default:
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

	return InfluxStats{
		PointsWritten:    i.written.Load(),
		PointsDropped:    i.dropped.Load(),
		AnomaliesDropped: i.anomaliesDropped.Load(),
		WriteErrors:      i.writeErrors.Load(),
		Queued:           queued + int(i.inFlight.Load()),
	}
}

// Close stops accepting points and writes the queued ones, retrying failed requests, until all
// are written or ctx ends. With a context that never ends and a server that keeps failing, Close
// does not return. It returns an error when points remain unwritten; later calls return nil.
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
	<-i.done
	stopCancel()
	i.cancel()
	i.client.Close()

	if i.unsent == 0 {
		return nil
	}
	cause := i.lastErr
	if cause == nil {
		cause = ctx.Err()
	}
	return fmt.Errorf("InfluxDB output: %d points for bucket %q not written before close: %w", i.unsent, i.cfg.Bucket, cause)
}
