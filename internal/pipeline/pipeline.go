// Package pipeline wires one natwatch instance together: chunk decoding, normalisation, the
// detector and the sinks. The Fluent Bit plugin owns one Pipeline per [OUTPUT] instance, and the
// replay command owns one for its whole run.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/detector/sampling"
	"github.com/natwatch/natwatch/internal/chunk"
	"github.com/natwatch/natwatch/internal/config"
	"github.com/natwatch/natwatch/internal/natlog"
	"github.com/natwatch/natwatch/internal/sink"
)

// batchSize is how many events are normalised outside the detector lock before they are observed
// under it. It bounds the per-flush memory and how long one flush holds the lock.
const batchSize = 256

// selfMetricsInterval is how often a live pipeline writes its own counters as a natwatch_plugin
// point. A pipeline also writes one when it closes.
const selfMetricsInterval = 10 * time.Second

// maxFutureSkew is how far ahead of the wall clock a live pipeline accepts a record's time. Record
// times drive the detector, so one record stamped years ahead (a device with a wrong clock) would
// otherwise move the clock forward and make every later record late. Such times are clamped to
// the wall clock and counted.
const maxFutureSkew = 5 * time.Minute

// Options are the parts of a Pipeline that do not come from configuration keys.
type Options struct {
	Logger *slog.Logger
	Stdout io.Writer // destination of anomaly JSON lines when Config.AnomalyStdout is set; nil means os.Stdout
	Live   bool      // advance windows on the wall clock while no records arrive (the plugin sets this)

	// Instance names the pipeline in self-metrics, such as the plugin's output instance number.
	Instance string
}

// Stats are a pipeline's own counters.
type Stats struct {
	Chunks       uint64               `json:"chunks"`
	DecodeErrors uint64               `json:"decode_errors"`
	Records      uint64               `json:"records"`
	Parsed       uint64               `json:"parsed"`
	Skipped      uint64               `json:"skipped"`
	Panics       uint64               `json:"panics"`
	FutureTimes  uint64               `json:"future_times"` // record times more than maxFutureSkew ahead, clamped to the wall clock (live pipelines only)
	Untimed      uint64               `json:"no_timestamp"` // replayed lines skipped because neither they nor an earlier line gave a time
	Normalizer   natlog.Stats         `json:"normalizer"`
	Detector     detector.EngineStats `json:"detector"`
}

// Pipeline is one running natwatch instance. Flush is safe for concurrent use, as Fluent Bit's
// output workers require.
type Pipeline struct {
	cfg    config.Config
	logger *slog.Logger
	norm   *natlog.Normalizer
	sink   sink.Sink
	influx *sink.Influx // nil without InfluxDB; read for self-metrics
	rules  *RuleSource  // guarded by mu once the pipeline runs
	detect *detection   // GeoIP, threat intel, behavior tracker and reload watchers: rules.go

	delivery delivery // back-pressure, flush latencies and response actions: delivery.go

	instance string

	batches sync.Pool

	mu            sync.Mutex // guards engine, lastEventTime, lastEventWall and nextStateSave
	engine        *detector.Engine
	lastEventTime time.Time
	lastEventWall time.Time
	nextStateSave time.Time // record time of the next snapshot of a replay

	stateMu     sync.Mutex // serialises state file writes
	stateSaves  atomic.Uint64
	stateErrors atomic.Uint64 // failed saves and unusable snapshots
	stateLog    rateLimiter

	live bool

	chunks       atomic.Uint64
	futureTimes  atomic.Uint64
	untimed      atomic.Uint64
	decodeErrors atomic.Uint64
	records      atomic.Uint64
	parsed       atomic.Uint64
	skipped      atomic.Uint64
	panics       atomic.Uint64

	skipLog rateLimiter

	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
}

// New builds a pipeline from a validated configuration.
func New(cfg config.Config, opts Options) (*Pipeline, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}

	norm, err := natlog.NewNormalizer(natlog.Options{
		Gateway:      cfg.Gateway,
		InternalNets: cfg.InternalNetworks,
		Location:     cfg.Location,
		FieldMap:     cfg.FieldMap,
	})
	if err != nil {
		return nil, err
	}

	detect, err := newDetection(cfg)
	if err != nil {
		return nil, err
	}
	ruleSource, err := LoadRules(cfg.RulesPath, detect.options)
	if err != nil {
		return nil, err
	}

	out, influx, err := newSink(cfg, opts, logger)
	if err != nil {
		return nil, err
	}

	p := &Pipeline{
		cfg:      cfg,
		logger:   logger,
		norm:     norm,
		sink:     out,
		influx:   influx,
		rules:    ruleSource,
		detect:   detect,
		instance: opts.Instance,
		live:     opts.Live,
		stop:     make(chan struct{}),
	}
	p.batches.New = func() any {
		b := &eventBatch{p: p, events: make([]natlog.ConnEvent, batchSize)}
		b.emit = b.add
		return b
	}

	out, err = p.addResponders(out)
	if err != nil {
		return nil, errors.Join(err, out.Close(context.Background()))
	}

	p.engine, err = detector.New(detector.Config{
		Rules:        ruleSource.Set,
		TickInterval: cfg.TickInterval,
		MaxSources:   cfg.MaxSources,
		Language:     cfg.SummaryLanguage,
		OnAnomaly:    out.WriteAnomaly,
		OnTraffic:    out.WriteTraffic,
		Extension:    detect.tracker,
		Sampler: sampling.New(sampling.Config{
			Classes:     cfg.SampleRates,
			FullCapture: cfg.SampleFullCapture,
			Location:    cfg.Location,
		}),

		Location:      cfg.Location,
		Baseline:      baseline.Config{Method: cfg.BaselineMethod, K: cfg.BaselineK},
		MaxHosts:      cfg.MaxHosts,
		HostPointsTop: hostPointsTop(cfg.HostMetricsTop),
		OnHost:        hostWriter(out),
	})
	if err != nil {
		return nil, errors.Join(err, out.Close(context.Background()))
	}

	logger.Info("rules loaded", "path", ruleSource.Path, "files", len(ruleSource.Files), "rules", ruleSource.Set.Len())
	for _, warning := range cfg.SampleWarnings {
		logger.Warn("Sample_Rates: "+warning, "key", "Sample_Rates")
	}
	p.restoreState()
	detect.log(logger)
	if opts.Live {
		if err := p.watch(); err != nil {
			p.detect.close()
			return nil, errors.Join(err, out.Close(context.Background()))
		}
	}

	if opts.Live {
		p.done.Add(1)
		go p.runClock()
	}
	return p, nil
}

func newSink(cfg config.Config, opts Options, logger *slog.Logger) (sink.Sink, *sink.Influx, error) {
	var sinks []sink.Sink
	var influx *sink.Influx

	if cfg.AnomalyStdout {
		stdout := opts.Stdout
		if stdout == nil {
			stdout = os.Stdout
		}
		sinks = append(sinks, sink.NewJSONLines(stdout))
	}

	if cfg.InfluxURL != "" {
		var err error
		influx, err = sink.NewInflux(influxDelivery(cfg, sink.InfluxConfig{
			URL:    cfg.InfluxURL,
			Token:  cfg.InfluxToken,
			Org:    cfg.InfluxOrg,
			Bucket: cfg.InfluxBucket,
			Logger: logger,
		}))
		if err != nil {
			return nil, nil, fmt.Errorf("InfluxDB output: %w", err)
		}
		sinks = append(sinks, influx)
	}
	return sink.Multi(sinks...), influx, nil
}

// Flush processes one Fluent Bit chunk. data is only read during the call, so the caller may pass
// memory it owns and reuse it afterwards. A malformed chunk returns an error wrapping
// *chunk.DecodeError after the events before the fault have been processed.
func (p *Pipeline) Flush(data []byte, tag string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.panics.Add(1)
			err = fmt.Errorf("panic while processing a chunk with tag %q: %v", tag, r)
		}
	}()
	p.chunks.Add(1)

	b := p.batches.Get().(*eventBatch)
	defer p.batches.Put(b)
	b.n = 0

	reader := chunk.NewReader(data)
	var event chunk.Event
	for reader.Next(&event) {
		p.records.Add(1)
		ev := &b.events[b.n]
		ev.Reset()
		if err := p.norm.RecordAll(event, tag, ev, b.emit); err != nil {
			p.noteSkip(err)
		}
	}
	p.observe(b.events[:b.n])
	b.n = 0

	if err := reader.Err(); err != nil {
		p.decodeErrors.Add(1)
		return fmt.Errorf("chunk with tag %q: %w", tag, err)
	}
	return nil
}

// eventBatch collects the events of one flush between calls to the detector. emit is the add
// method, bound once so that passing it to RecordAll allocates nothing.
type eventBatch struct {
	p      *Pipeline
	events []natlog.ConnEvent
	n      int
	emit   natlog.Emit
}

// add counts ev as parsed and returns the slot for the next event. ev is events[n] when the
// normaliser filled the slot in place, and is copied there otherwise. A full batch goes to the
// detector.
func (b *eventBatch) add(ev *natlog.ConnEvent) *natlog.ConnEvent {
	if ev != &b.events[b.n] {
		b.events[b.n] = *ev
	}
	b.p.parsed.Add(1)
	b.n++
	if b.n == len(b.events) {
		b.p.observe(b.events[:b.n])
		b.n = 0
	}
	return &b.events[b.n]
}

// NormalizeLineAll is NormalizeLine for lines that may hold several connections, such as an
// Azure flow log document: it passes each event to emit, as natlog.Normalizer.LineAll does, and
// counts each as parsed.
func (p *Pipeline) NormalizeLineAll(line []byte, now time.Time, ev *natlog.ConnEvent, emit natlog.Emit) error {
	p.records.Add(1)

	ev.Reset()
	err := p.norm.LineAll(line, now, ev, func(e *natlog.ConnEvent) *natlog.ConnEvent {
		p.parsed.Add(1)
		return emit(e)
	})
	if err != nil {
		p.noteSkip(err)
	}
	return err
}

// NormalizeLine turns one raw log line into ev, counting it as read and as parsed or skipped. now
// is the reference time for year inference in year-less timestamps. It is safe for concurrent use.
func (p *Pipeline) NormalizeLine(line []byte, now time.Time, ev *natlog.ConnEvent) error {
	p.records.Add(1)

	ev.Reset()
	if err := p.norm.Line(line, now, ev); err != nil {
		p.noteSkip(err)
		return err
	}
	p.parsed.Add(1)
	return nil
}

// Observe hands normalised events to the detector in the order given. The replay command merges
// several files by event time and calls it one event at a time.
func (p *Pipeline) Observe(events ...natlog.ConnEvent) {
	p.observe(events)
}

func (p *Pipeline) observe(events []natlog.ConnEvent) {
	if len(events) == 0 {
		return
	}

	if p.live {
		p.clampFutureTimes(events, time.Now())
	}

	// Deferred first, so it runs after the unlock: the snapshot is written outside the lock.
	var snapshot []byte
	defer func() { p.writeState(snapshot) }()

	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range events {
		p.engine.Observe(&events[i])
		if events[i].Time.After(p.lastEventTime) {
			p.lastEventTime = events[i].Time
		}
	}
	p.lastEventWall = time.Now()
	snapshot = p.snapshotDue()
}

func (p *Pipeline) clampFutureTimes(events []natlog.ConnEvent, now time.Time) {
	limit := now.Add(maxFutureSkew)
	for i := range events {
		if events[i].Time.After(limit) {
			events[i].Time = now
			p.futureTimes.Add(1)
		}
	}
}

func (p *Pipeline) noteSkip(err error) {
	p.skipped.Add(1)
	if p.skipLog.allow(time.Now()) {
		p.logger.Debug("record skipped", "error", err, "skipped_total", p.skipped.Load())
	}
}

// runClock advances the detector on the wall clock while no records arrive, so that windows close
// and anomalies resolve when a gateway goes quiet. Record times drive the detector otherwise.
func (p *Pipeline) runClock() {
	defer p.done.Done()

	ticker := time.NewTicker(p.cfg.TickInterval)
	defer ticker.Stop()
	selfMetrics := time.NewTicker(selfMetricsInterval)
	defer selfMetrics.Stop()
	var saves <-chan time.Time
	if p.cfg.StateDir != "" {
		stateTicker := time.NewTicker(p.stateInterval())
		defer stateTicker.Stop()
		saves = stateTicker.C
	}
	for {
		select {
		case <-p.stop:
			return
		case <-saves:
			p.saveState()
		case now := <-selfMetrics.C:
			p.sink.WritePlugin(p.pluginStats(now))
		case now := <-ticker.C:
			p.mu.Lock()
			idle := now.Sub(p.lastEventWall)
			if !p.lastEventTime.IsZero() && idle >= p.cfg.TickInterval {
				p.engine.Advance(p.lastEventTime.Add(idle))
			}
			p.mu.Unlock()
		}
	}
}

// Close stops the pipeline: it runs the detector's last tick, then flushes the sinks until ctx
// ends. It is safe to call more than once.
func (p *Pipeline) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		close(p.stop)
		p.done.Wait()
		p.detect.close()

		p.mu.Lock()
		if !p.lastEventTime.IsZero() {
			p.engine.Advance(p.lastEventTime.Add(p.cfg.TickInterval))
		}
		p.mu.Unlock()
		p.saveState()

		p.sink.WritePlugin(p.pluginStats(time.Now()))
		err = p.sink.Close(ctx)
	})
	return err
}

// Stats returns a snapshot of the pipeline's counters.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	engineStats := p.engine.Stats()
	p.mu.Unlock()

	return Stats{
		Chunks:       p.chunks.Load(),
		DecodeErrors: p.decodeErrors.Load(),
		Records:      p.records.Load(),
		Parsed:       p.parsed.Load(),
		Skipped:      p.skipped.Load(),
		Panics:       p.panics.Load(),
		FutureTimes:  p.futureTimes.Load(),
		Untimed:      p.untimed.Load(),
		Normalizer:   p.norm.Stats(),
		Detector:     engineStats,
	}
}

// pluginStats gathers the counters written as a natwatch_plugin point.
func (p *Pipeline) pluginStats(now time.Time) sink.PluginStats {
	stats := p.Stats()

	out := sink.PluginStats{
		Time:        now,
		Gateway:     p.cfg.Gateway,
		Instance:    p.instance,
		RecordsIn:   stats.Records,
		Parsed:      stats.Parsed,
		Skipped:     stats.Skipped,
		Anomalies:   stats.Detector.AnomaliesFired + stats.Detector.AnomaliesResolved,
		FlushPanics: stats.Panics,
		Evictions:   stats.Detector.Evictions,
		SkipReasons: stats.Normalizer.Skipped,

		ParsedFormats:  stats.Normalizer.Parsed,
		SkippedFormats: stats.Normalizer.SkippedByFormat,

		SampledOut:        stats.Detector.SampledOut,
		SampledOutClasses: stats.Detector.SampledOutByClass,

		RuleReloads:        p.detect.ruleReloads.Load(),
		RuleReloadFailures: p.detect.ruleReloadFailures.Load(),
	}
	if p.influx != nil {
		influx := p.influx.Stats()
		out.PointsWritten = influx.PointsWritten
		out.PointsDropped = influx.PointsDropped
		out.WriteErrors = influx.WriteErrors
	}
	p.fillDeliveryStats(&out)
	return out
}

// CountPanic records a panic recovered outside the pipeline, such as in the plugin's flush export,
// so that Stats reports it.
func (p *Pipeline) CountPanic() {
	p.panics.Add(1)
}

// rateLimiter allows one event per second, for log lines that could repeat per record.
type rateLimiter struct {
	last atomic.Int64
}

func (r *rateLimiter) allow(now time.Time) bool {
	last := r.last.Load()
	if now.UnixNano()-last < int64(time.Second) {
		return false
	}
	return r.last.CompareAndSwap(last, now.UnixNano())
}
