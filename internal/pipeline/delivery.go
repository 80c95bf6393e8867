package pipeline

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natwatch/natwatch/internal/config"
	"github.com/natwatch/natwatch/internal/respond"
	"github.com/natwatch/natwatch/internal/sink"
)

// maxLatencySamples bounds the flush durations kept per self-metrics interval. Beyond it, samples
// replace earlier ones at random (reservoir sampling), so the quantiles are estimates then.
const maxLatencySamples = 4096

// delivery holds the pipeline's back-pressure counter, flush latencies and response actions.
type delivery struct {
	webhook   *respond.Webhook   // nil without Webhook_URL
	blocklist *respond.Blocklist // nil without Blocklist_Path

	retried atomic.Uint64 // chunks returned with FLB_RETRY because Admit reported back-pressure

	mu      sync.Mutex
	samples []time.Duration // flush durations since the last natwatch_plugin point
	seen    int             // flushes since the last natwatch_plugin point
	max     time.Duration
}

// newResponders starts the response actions that cfg turns on. excepted is called from the
// detector's OnAnomaly callback, with the pipeline's mu held.
func newResponders(cfg config.Config, logger *slog.Logger, excepted func(rule string, addr netip.Addr) bool) (*respond.Webhook, *respond.Blocklist, error) {
	var webhook *respond.Webhook
	if cfg.WebhookURL != "" {
		webhook = respond.NewWebhook(respond.WebhookConfig{URL: cfg.WebhookURL, Timeout: cfg.WebhookTimeout, Logger: logger})
	}
	if cfg.BlocklistPath == "" {
		return webhook, nil, nil
	}

	allow := slices.Clone(cfg.BlocklistAllow)
	if cfg.BlocklistAllowInternal {
		allow = append(allow, cfg.InternalNetworks...)
	}
	blocklist, err := respond.NewBlocklist(respond.BlocklistConfig{
		Path: cfg.BlocklistPath, Format: cfg.BlocklistFormat, TTL: cfg.BlocklistTTL,
		Allow: allow, Excepted: excepted, Logger: logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("key Blocklist_Path: %w", err)
	}
	return webhook, blocklist, nil
}

// influxDelivery returns the spool settings of the InfluxDB output.
func influxDelivery(cfg config.Config, ic sink.InfluxConfig) sink.InfluxConfig {
	ic.SpoolDir = cfg.SpoolDir
	ic.SpoolMaxBytes = cfg.SpoolMaxBytes
	return ic
}

// excepted reports whether addr is in an except list of the rule named rule. It reads p.rules
// without locking, because the detector calls OnAnomaly, and so the blocklist calls excepted, with
// p.mu held.
func (p *Pipeline) excepted(rule string, addr netip.Addr) bool {
	if p.rules == nil {
		return false
	}
	r := p.rules.Set.Rule(rule)
	return r != nil && r.Excepted(addr)
}

// Admit returns an error wrapping sink.ErrBackPressure when the pipeline cannot take another chunk
// without dropping anomalies, because the InfluxDB output's spool and memory queue are full. The
// plugin calls it before Flush and returns FLB_RETRY on an error, so the chunk is not processed
// and Fluent Bit delivers the identical chunk again later. It reads counters under short locks
// and never waits for the disk or the network.
func (p *Pipeline) Admit() error {
	if p.influx == nil {
		return nil
	}
	if err := p.influx.Admit(); err != nil {
		p.delivery.retried.Add(1)
		return err
	}
	return nil
}

// RecordFlush records how long one flush took, for the flush latency quantiles of the next
// natwatch_plugin point.
func (p *Pipeline) RecordFlush(d time.Duration) {
	dl := &p.delivery
	dl.mu.Lock()
	defer dl.mu.Unlock()

	dl.seen++
	dl.max = max(dl.max, d)
	if len(dl.samples) < maxLatencySamples {
		dl.samples = append(dl.samples, d)
		return
	}
	if i := rand.N(dl.seen); i < maxLatencySamples {
		dl.samples[i] = d
	}
}

// takeLatencies returns the flush count and the p50, p99 and maximum flush durations since the
// last call, and starts a new interval.
func (dl *delivery) takeLatencies() (count int, p50, p99, maxDuration time.Duration) {
	dl.mu.Lock()
	defer dl.mu.Unlock()

	count, maxDuration = dl.seen, dl.max
	if len(dl.samples) > 0 {
		slices.Sort(dl.samples)
		p50 = quantile(dl.samples, 0.50)
		p99 = quantile(dl.samples, 0.99)
	}
	dl.samples = dl.samples[:0]
	dl.seen = 0
	dl.max = 0
	return count, p50, p99, maxDuration
}

// quantile returns the q-quantile of sorted by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// fillDeliveryStats adds the spool, write error, latency and response action counters to out.
func (p *Pipeline) fillDeliveryStats(out *sink.PluginStats) {
	out.ChunksRetried = p.delivery.retried.Load()
	out.RulesLoaded = uint64(p.rules.Set.Len())

	count, p50, p99, maxDuration := p.delivery.takeLatencies()
	out.Flushes = uint64(count)
	out.FlushP50 = p50
	out.FlushP99 = p99
	out.FlushMax = maxDuration

	if p.influx != nil {
		influx := p.influx.Stats()
		out.PointsQueued = uint64(influx.Queued)
		out.PointsSpooled = uint64(influx.PointsSpooled)
		out.SpoolBytes = uint64(influx.SpoolBytes)
		if !influx.SpoolOldest.IsZero() {
			out.SpoolOldestAge = max(out.Time.Sub(influx.SpoolOldest), 0)
		}
		out.WriteErrorKinds = influx.WriteErrorKinds
	}
	if p.delivery.webhook != nil {
		stats := p.delivery.webhook.Stats()
		out.WebhookSent, out.WebhookFailed, out.WebhookDropped = stats.Sent, stats.Failed, stats.Dropped
	}
	if p.delivery.blocklist != nil {
		out.BlocklistEntries = uint64(p.delivery.blocklist.Stats().Listed)
	}
}

// addResponders starts the response actions that the configuration turns on and returns out
// together with them, which also becomes the pipeline's sink.
func (p *Pipeline) addResponders(out sink.Sink) (sink.Sink, error) {
	webhook, blocklist, err := newResponders(p.cfg, p.logger, p.excepted)
	if err != nil {
		return out, err
	}

	sinks := []sink.Sink{out}
	if webhook != nil {
		sinks = append(sinks, webhook)
		p.delivery.webhook = webhook
	}
	if blocklist != nil {
		sinks = append(sinks, blocklist)
		p.delivery.blocklist = blocklist
	}
	if len(sinks) > 1 {
		out = sink.Multi(sinks...)
	}
	p.sink = out
	return out, nil
}
