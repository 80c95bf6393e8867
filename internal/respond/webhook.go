// Package respond carries out the response actions that rules opt into with `actions:`: a
// webhook that receives each anomaly as JSON, and a blocklist file for nftables or ipset. Both are
// sinks that ignore anomalies of rules without their action, and neither ever blocks the detector.
package respond

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/sink"
)

// Defaults for the zero values of WebhookConfig.
const (
	DefaultWebhookTimeout = 5 * time.Second
	DefaultWebhookQueue   = 1000
	DefaultWebhookRate    = 1.0 // requests per second
	DefaultWebhookBurst   = 20
	webhookAttempts       = 3
)

// WebhookConfig configures NewWebhook.
type WebhookConfig struct {
	URL     string
	Timeout time.Duration // time limit of one request

	QueueSize int     // anomalies waiting to be sent; more are dropped and counted
	Rate      float64 // sustained requests per second
	Burst     int     // requests allowed at once above Rate

	RetryWait time.Duration // wait before the second attempt; doubles for the third. 1s when 0
	Logger    *slog.Logger
}

// WebhookStats are a webhook's counters.
type WebhookStats struct {
	Sent    uint64 // anomalies the receiver accepted with a 2xx status
	Failed  uint64 // anomalies given up after every attempt failed
	Dropped uint64 // anomalies dropped because the queue was full or the rate limit was reached
}

// Webhook POSTs each anomaly of a rule with the webhook action as one JSON object (the same object
// the JSON-lines output writes) from its own goroutine.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	queue  chan detector.Anomaly
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
	tokens    float64
	last      time.Time

	sent    atomic.Uint64
	failed  atomic.Uint64
	dropped atomic.Uint64
	logMu   sync.Mutex
	lastLog time.Time
}

// NewWebhook starts a webhook sender for cfg.URL.
func NewWebhook(cfg WebhookConfig) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultWebhookQueue
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultWebhookRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultWebhookBurst
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout},
		queue:  make(chan detector.Anomaly, cfg.QueueSize),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
		tokens: float64(cfg.Burst),
	}
	go w.run()
	return w
}

// WriteAnomaly queues a when its rule lists the webhook action, and drops it, counted, when the
// queue is full.
func (w *Webhook) WriteAnomaly(a detector.Anomaly) {
	if !slices.Contains(a.Actions, "webhook") {
		return
	}
	select {
	case w.queue <- a:
	default:
		w.dropped.Add(1)
		w.logf("webhook queue full, anomaly dropped", "rule", a.Rule, "key", a.Key, "queue_size", w.cfg.QueueSize)
	}
}

// WriteTraffic does nothing: webhooks receive anomalies only.
func (w *Webhook) WriteTraffic(detector.TrafficPoint) {}

// WritePlugin does nothing: webhooks receive anomalies only.
func (w *Webhook) WritePlugin(sink.PluginStats) {}

// Stats returns the webhook's counters.
func (w *Webhook) Stats() WebhookStats {
	return WebhookStats{Sent: w.sent.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
}

// Close sends what is queued until ctx ends, then drops the rest, counted.
func (w *Webhook) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		close(w.queue)
		stop := context.AfterFunc(ctx, w.cancel)
		<-w.done
		stop()
		w.cancel()
	})
	return nil
}

func (w *Webhook) run() {
	defer close(w.done)
	for a := range w.queue {
		if w.ctx.Err() != nil {
			w.dropped.Add(1)
			continue
		}
		if !w.allow(time.Now()) {
			w.dropped.Add(1)
			w.logf("webhook rate limit reached, anomaly dropped", "rule", a.Rule, "key", a.Key, "rate_per_s", w.cfg.Rate, "burst", w.cfg.Burst)
			continue
		}
		w.deliver(a)
	}
}

// allow takes a token from the rate limiter's bucket, which refills at Rate per second up to Burst.
func (w *Webhook) allow(now time.Time) bool {
	if !w.last.IsZero() {
		w.tokens = min(float64(w.cfg.Burst), w.tokens+now.Sub(w.last).Seconds()*w.cfg.Rate)
	}
	w.last = now
	if w.tokens < 1 {
		return false
	}
	w.tokens--
	return true
}

// deliver POSTs a, retrying network errors, 429 and 5xx up to webhookAttempts times in all.
func (w *Webhook) deliver(a detector.Anomaly) {
	body, err := sink.AnomalyJSON(a)
	if err != nil {
		w.failed.Add(1)
		w.logf("webhook: anomaly cannot be encoded as JSON", "rule", a.Rule, "error", err)
		return
	}

	wait := w.cfg.RetryWait
	var lastErr error
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		retry, err := w.post(body)
		if err == nil {
			w.sent.Add(1)
			return
		}
		lastErr = err
		if !retry || attempt == webhookAttempts {
			break
		}

		timer := time.NewTimer(wait)
		select {
		case <-w.ctx.Done():
			timer.Stop()
			attempt = webhookAttempts
		case <-timer.C:
		}
		wait *= 2
	}

	w.failed.Add(1)
	w.logf("webhook request failed, anomaly not delivered", "rule", a.Rule, "key", a.Key, "error", lastErr)
}

// post sends one request and reports whether a failure may succeed when retried.
func (w *Webhook) post(body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "natwatch")

	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()

	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, fmt.Errorf("status %d from %s", resp.StatusCode, req.URL.Redacted())
	}
	return false, fmt.Errorf("status %d from %s; the receiver rejected the request", resp.StatusCode, req.URL.Redacted())
}

// logf logs at most one line per minute.
func (w *Webhook) logf(msg string, args ...any) {
	w.logMu.Lock()
	now := time.Now()
	if !w.lastLog.IsZero() && now.Sub(w.lastLog) < time.Minute {
		w.logMu.Unlock()
		return
	}
	w.lastLog = now
	w.logMu.Unlock()

	w.cfg.Logger.Warn(msg, append(args, "sent", w.sent.Load(), "failed", w.failed.Load(), "dropped", w.dropped.Load())...)
}
