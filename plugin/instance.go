package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/natwatch/natwatch/internal/chunk"
	"github.com/natwatch/natwatch/internal/config"
	"github.com/natwatch/natwatch/internal/pipeline"
)

// stopTimeout bounds how long stopping one instance waits for its sinks to drain when the
// instance has no Shutdown_Timeout, so that an unreachable InfluxDB cannot hold up Fluent Bit's
// shutdown. It stays below Fluent Bit's default Grace period of 5 s.
const stopTimeout = 4 * time.Second

// runner is the part of *pipeline.Pipeline that an instance uses. Tests replace it.
type runner interface {
	Admit() error
	Flush(data []byte, tag string) error
	RecordFlush(d time.Duration)
	Close(ctx context.Context) error
	Stats() pipeline.Stats
	CountPanic()
}

// instance is one [OUTPUT] section of natwatch with its own pipeline.
type instance struct {
	id     string
	logger *slog.Logger
	pipe   runner

	shutdownTimeout time.Duration // Shutdown_Timeout; stopTimeout when 0

	// mu is read-locked by every flush and write-locked by stop, so stop waits for flushes in
	// progress and no flush reaches a closed pipeline.
	mu      sync.RWMutex
	stopped bool

	panics   atomic.Uint64
	panicLog logLimiter
	errorLog logLimiter
}

// registry holds the running instances, for FLBPluginFlush and FLBPluginExit, which get no
// instance context from the host.
var registry struct {
	mu        sync.Mutex
	running   map[string]*instance
	initCalls int
}

// startInstance reads the instance's configuration through getProperty and starts its pipeline.
// It logs why and returns nil when the configuration is invalid or the pipeline fails to start.
func startInstance(getProperty func(key string) string) (inst *instance) {
	id := nextInstanceID()

	defer func() {
		if v := recover(); v != nil {
			newLogger(id, slog.LevelInfo).Error("panic while starting, instance not started",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			inst = nil
		}
	}()

	cfg, err := config.FromProperties(getProperty)
	if err != nil {
		logger := newLogger(id, slog.LevelInfo)
		logger.Error("invalid configuration, instance not started", "error", oneLine(err))
		return nil
	}

	logger := newLogger(id, cfg.LogLevel)
	pipe, err := pipeline.New(cfg, pipeline.Options{Logger: logger, Live: true, Instance: id})
	if err != nil {
		logger.Error("failed to start, instance not started", "error", oneLine(err))
		return nil
	}

	logger.LogAttrs(context.Background(), slog.LevelInfo, "started", cfg.LogAttrs()...)
	if cfg.InfluxURL != "" && cfg.SpoolDir == "" {
		logger.Warn("no Spool_Dir: points InfluxDB has not accepted are kept in memory only and lost when Fluent Bit stops during an outage")
	}
	inst = register(id, logger, pipe)
	inst.shutdownTimeout = cfg.ShutdownTimeout
	return inst
}

// register adds a started instance to the registry.
func register(id string, logger *slog.Logger, pipe runner) *instance {
	inst := &instance{
		id:       id,
		logger:   logger,
		pipe:     pipe,
		panicLog: logLimiter{interval: time.Minute},
		errorLog: logLimiter{interval: 10 * time.Second},
	}

	registry.mu.Lock()
	if registry.running == nil {
		registry.running = make(map[string]*instance)
	}
	registry.running[id] = inst
	registry.mu.Unlock()
	return inst
}

// nextInstanceID names instances natwatch.0, natwatch.1 … in the order of the FLBPluginInit calls,
// failed ones included. The ids are natwatch's own and need not match Fluent Bit's instance names.
func nextInstanceID() string {
	registry.mu.Lock()
	defer registry.mu.Unlock()

	id := fmt.Sprintf("natwatch.%d", registry.initCalls)
	registry.initCalls++
	return id
}

// flush processes one chunk and returns the code Fluent Bit expects.
//
// When the pipeline's Admit reports back-pressure (the InfluxDB spool and memory queue are full),
// flush returns FLB_RETRY before it reads the chunk, so Fluent Bit's re-delivery of the identical
// chunk is counted once. Every other failure returns FLB_ERROR, which drops the chunk.
// Pipeline.Flush fails only on a malformed chunk or a panic, and FLB_RETRY would hand back the
// identical bytes, which fail the same way after the events before the fault have been counted
// once already. The duration of each flush is recorded for the natwatch_plugin latency fields.
func (inst *instance) flush(data []byte, tag string) (rc int) {
	inst.mu.RLock()
	defer inst.mu.RUnlock()

	defer func() {
		if v := recover(); v != nil {
			inst.notePanic(v, tag)
			rc = output.FLB_ERROR
		}
	}()

	if inst.stopped {
		inst.logError("chunk dropped because the instance is stopped", "tag", tag)
		return output.FLB_ERROR
	}

	start := time.Now()
	if err := inst.pipe.Admit(); err != nil {
		inst.logError("chunk returned to Fluent Bit for a later retry", "tag", tag, "error", err)
		return output.FLB_RETRY
	}
	err := inst.pipe.Flush(data, tag)
	inst.pipe.RecordFlush(time.Since(start))
	if err == nil {
		return output.FLB_OK
	}

	var decodeErr *chunk.DecodeError
	if errors.As(err, &decodeErr) {
		inst.logError("malformed chunk: events before the fault were processed, the rest is dropped",
			"tag", tag, "bytes", len(data), "error", err)
	} else {
		inst.logError("chunk dropped", "tag", tag, "bytes", len(data), "error", err)
	}
	return output.FLB_ERROR
}

// notePanic counts a panic that escaped the pipeline and logs it with its stack, at most once per
// panicLog interval.
func (inst *instance) notePanic(v any, tag string) {
	inst.panics.Add(1)
	inst.pipe.CountPanic()

	if suppressed, ok := inst.panicLog.allow(time.Now()); ok {
		inst.logger.Error("panic while flushing a chunk, chunk dropped",
			"tag", tag, "panic", fmt.Sprint(v), "panics_total", inst.panics.Load(),
			"not_logged_since_last", suppressed, "stack", string(debug.Stack()))
	}
}

// logError logs a flush failure, at most once per errorLog interval, with the number of failures
// left unlogged since the last line.
func (inst *instance) logError(msg string, args ...any) {
	suppressed, ok := inst.errorLog.allow(time.Now())
	if !ok {
		return
	}
	inst.logger.Error(msg, append(args, "not_logged_since_last", suppressed)...)
}

// stop removes the instance from the registry, waits for flushes in progress and closes the
// pipeline within stopTimeout. Calling it again does nothing.
//
// fluent-bit-go keeps every context it was given for the life of the process, so stop also drops
// the pipeline, whose detector state can be large, to free it across Fluent Bit's hot reloads.
func (inst *instance) stop() {
	registry.mu.Lock()
	delete(registry.running, inst.id)
	registry.mu.Unlock()

	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.stopped {
		return
	}
	inst.stopped = true

	defer func() {
		if v := recover(); v != nil {
			inst.logger.Error("panic while stopping", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()

	timeout := inst.shutdownTimeout
	if timeout == 0 {
		timeout = stopTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := inst.pipe.Close(ctx)

	stats := inst.pipe.Stats()
	inst.pipe = nil

	args := []any{
		"chunks", stats.Chunks, "records", stats.Records, "parsed", stats.Parsed,
		"skipped", stats.Skipped, "decode_errors", stats.DecodeErrors, "panics", stats.Panics,
	}
	if err != nil {
		inst.logger.Error("stopped, but the sinks failed to drain before the time-out", append(args, "error", oneLine(err))...)
		return
	}
	inst.logger.Info("stopped", args...)
}

// soleInstance returns the only running instance, or nil with a log line when there are none or
// several, because then a flush without context cannot be routed.
func soleInstance() *instance {
	registry.mu.Lock()
	defer registry.mu.Unlock()

	if len(registry.running) == 1 {
		for _, inst := range registry.running {
			return inst
		}
	}
	if _, ok := hostErrorLog.allow(time.Now()); !ok {
		return nil
	}
	newLogger("", slog.LevelInfo).Error(
		"FLBPluginFlush needs exactly one running instance; use a host that calls FLBPluginFlushCtx",
		"running", len(registry.running))
	return nil
}

// stopAllInstances stops every running instance at the same time, so the whole call takes at most
// about stopTimeout.
func stopAllInstances() {
	registry.mu.Lock()
	instances := make([]*instance, 0, len(registry.running))
	for _, inst := range registry.running {
		instances = append(instances, inst)
	}
	registry.mu.Unlock()

	var wg sync.WaitGroup
	for _, inst := range instances {
		wg.Go(inst.stop)
	}
	wg.Wait()
}

// logMissingInstance logs a flush or exit call whose context belongs to no natwatch instance.
func logMissingInstance() {
	if suppressed, ok := hostErrorLog.allow(time.Now()); ok {
		newLogger("", slog.LevelInfo).Error("the host passed a context that belongs to no natwatch instance",
			"not_logged_since_last", suppressed)
	}
}

// oneLine joins the lines of a multi-line error, such as the errors.Join of every invalid
// configuration key, so the log entry stays on one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
