package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/natwatch/natwatch/internal/chunk"
	"github.com/natwatch/natwatch/internal/pipeline"
	"github.com/natwatch/natwatch/internal/sink"
)

func TestChunkBytes(t *testing.T) {
	buf := []byte{0x92, 0x92, 0xd7}

	if got := chunkBytes(nil, 10); got != nil {
		t.Errorf("nil data: got %v, want nil", got)
	}
	if got := chunkBytes(unsafe.Pointer(&buf[0]), 0); got != nil {
		t.Errorf("zero length: got %v, want nil", got)
	}
	if got := chunkBytes(unsafe.Pointer(&buf[0]), -1); got != nil {
		t.Errorf("negative length: got %v, want nil", got)
	}

	got := chunkBytes(unsafe.Pointer(&buf[0]), 3)
	if len(got) != 3 {
		t.Fatalf("length %d, want 3", len(got))
	}
	if &got[0] != &buf[0] {
		t.Errorf("the slice is a copy, want a view of the host's buffer")
	}
}

func TestLogLimiter(t *testing.T) {
	limiter := logLimiter{interval: 10 * time.Second}
	start := time.Date(2025, 3, 14, 2, 17, 43, 0, time.UTC)

	steps := []struct {
		after          time.Duration
		wantOK         bool
		wantSuppressed uint64
	}{
		{after: 0, wantOK: true, wantSuppressed: 0},
		{after: time.Second, wantOK: false},
		{after: 9 * time.Second, wantOK: false},
		{after: 10 * time.Second, wantOK: true, wantSuppressed: 2},
		{after: 15 * time.Second, wantOK: false},
		{after: 30 * time.Second, wantOK: true, wantSuppressed: 1},
	}
	for _, step := range steps {
		suppressed, ok := limiter.allow(start.Add(step.after))
		if ok != step.wantOK {
			t.Errorf("after %v: allowed %v, want %v", step.after, ok, step.wantOK)
		}
		if ok && suppressed != step.wantSuppressed {
			t.Errorf("after %v: %d held back, want %d", step.after, suppressed, step.wantSuppressed)
		}
	}
}

func TestOneLine(t *testing.T) {
	err := errors.Join(
		errors.New(`key Time_Zone: invalid value "Mars/Olympus": unknown time zone`),
		errors.New(`key Tick_Interval: invalid value "fast": use a duration such as 1s`),
	)
	want := `key Time_Zone: invalid value "Mars/Olympus": unknown time zone; ` +
		`key Tick_Interval: invalid value "fast": use a duration such as 1s`
	if got := oneLine(err); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// fakeRunner replaces the pipeline in the instance tests.
type fakeRunner struct {
	flushErr   error
	panicValue any
	closePanic bool

	flushes  atomic.Uint64
	closes   atomic.Uint64
	panics   atomic.Uint64
	recorded atomic.Uint64 // RecordFlush calls
	full     atomic.Bool   // Admit reports back-pressure
}

func (f *fakeRunner) Flush(data []byte, tag string) error {
	if f.panicValue != nil {
		panic(f.panicValue)
	}
	f.flushes.Add(1)
	return f.flushErr
}

func (f *fakeRunner) Close(ctx context.Context) error {
	f.closes.Add(1)
	if f.closePanic {
		panic("close of closed channel")
	}
	return nil
}

func (f *fakeRunner) Stats() pipeline.Stats {
	return pipeline.Stats{Chunks: f.flushes.Load(), Panics: f.panics.Load()}
}

func (f *fakeRunner) CountPanic() { f.panics.Add(1) }

func (f *fakeRunner) Admit() error {
	if f.full.Load() {
		return &sink.BackPressureError{Reason: "test"}
	}
	return nil
}

func (f *fakeRunner) RecordFlush(d time.Duration) { f.recorded.Add(1) }

// lockedBuffer is a bytes.Buffer that loggers on several goroutines may write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs sends the plugin's log lines to a buffer until the test ends.
func captureLogs(t *testing.T) *lockedBuffer {
	t.Helper()
	buf := &lockedBuffer{}
	previous := logOutput
	logOutput = buf
	t.Cleanup(func() { logOutput = previous })
	return buf
}

// startFake registers an instance around a fake runner and stops it when the test ends.
func startFake(t *testing.T, id string, fake *fakeRunner) *instance {
	t.Helper()
	inst := register(id, newLogger(id, slog.LevelDebug), fake)
	t.Cleanup(inst.stop)
	return inst
}

func TestInstanceFlushPanic(t *testing.T) {
	logs := captureLogs(t)
	fake := &fakeRunner{panicValue: "index out of range [3] with length 3"}
	inst := startFake(t, "natwatch.test", fake)

	for range 3 {
		if rc := inst.flush([]byte{0x92}, "kern"); rc != output.FLB_ERROR {
			t.Errorf("flush after a panic returned %d, want FLB_ERROR (%d)", rc, output.FLB_ERROR)
		}
	}

	if got := inst.panics.Load(); got != 3 {
		t.Errorf("instance counted %d panics, want 3", got)
	}
	if got := fake.panics.Load(); got != 3 {
		t.Errorf("pipeline counted %d panics, want 3", got)
	}

	lines := strings.Count(logs.String(), "panic while flushing a chunk")
	if lines != 1 {
		t.Errorf("%d panic log lines within a minute, want 1", lines)
	}
	if !strings.Contains(logs.String(), "index out of range [3] with length 3") {
		t.Errorf("the panic log line lacks the panic value")
	}
	if !strings.Contains(logs.String(), "goroutine ") {
		t.Errorf("the panic log line lacks the stack")
	}
}

func TestInstanceFlushErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantRC  int
		wantLog string
	}{
		{name: "ok", err: nil, wantRC: output.FLB_OK},
		{name: "malformed chunk",
			err:     fmt.Errorf("chunk with tag %q: %w", "kern", &chunk.DecodeError{Offset: 131, Msg: "truncated ext"}),
			wantRC:  output.FLB_ERROR,
			wantLog: "malformed chunk: events before the fault were processed"},
		{name: "other error", err: errors.New("panic while processing a chunk with tag \"kern\": boom"),
			wantRC: output.FLB_ERROR, wantLog: "chunk dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := captureLogs(t)
			inst := startFake(t, "natwatch.test", &fakeRunner{flushErr: tt.err})

			if rc := inst.flush([]byte{0x92}, "kern"); rc != tt.wantRC {
				t.Errorf("flush returned %d, want %d", rc, tt.wantRC)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if tt.wantLog == "" && strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("a successful flush logged an error:\n%s", logs.String())
			}
		})
	}
}

func TestInstanceStop(t *testing.T) {
	captureLogs(t)
	fake := &fakeRunner{}
	inst := startFake(t, "natwatch.test", fake)

	inst.stop()
	inst.stop()

	if got := fake.closes.Load(); got != 1 {
		t.Errorf("pipeline closed %d times, want 1", got)
	}
	if rc := inst.flush([]byte{0x92}, "kern"); rc != output.FLB_ERROR {
		t.Errorf("flush after stop returned %d, want FLB_ERROR", rc)
	}
	if got := fake.flushes.Load(); got != 0 {
		t.Errorf("a flush after stop reached the pipeline")
	}
	if soleInstance() != nil {
		t.Errorf("the stopped instance is still routable")
	}
}

func TestInstanceStopPanic(t *testing.T) {
	logs := captureLogs(t)
	inst := startFake(t, "natwatch.test", &fakeRunner{closePanic: true})

	inst.stop()

	if !strings.Contains(logs.String(), `msg="panic while stopping" instance=natwatch.test panic="close of closed channel"`) {
		t.Errorf("no log line about the panic in Close:\n%s", logs.String())
	}
	if rc := inst.flush([]byte{0x92}, "kern"); rc != output.FLB_ERROR {
		t.Errorf("flush after a failed stop returned %d, want FLB_ERROR", rc)
	}
}

func TestStartInstancePanic(t *testing.T) {
	logs := captureLogs(t)
	getProperty := func(key string) string { panic("property table freed") }

	if inst := startInstance(getProperty); inst != nil {
		t.Errorf("startInstance returned an instance after a panic")
	}
	if !strings.Contains(logs.String(), `panic="property table freed"`) {
		t.Errorf("no log line about the panic:\n%s", logs.String())
	}
}

func TestSoleInstance(t *testing.T) {
	captureLogs(t)

	if soleInstance() != nil {
		t.Fatalf("soleInstance returned an instance while none runs")
	}

	first := startFake(t, "natwatch.a", &fakeRunner{})
	if got := soleInstance(); got != first {
		t.Errorf("with one instance running, soleInstance returned %v", got)
	}

	startFake(t, "natwatch.b", &fakeRunner{})
	if got := soleInstance(); got != nil {
		t.Errorf("with two instances running, soleInstance returned %s, want nil", got.id)
	}
}

func TestStopAllInstances(t *testing.T) {
	captureLogs(t)
	fakes := []*fakeRunner{{}, {}, {}}
	for i, fake := range fakes {
		startFake(t, fmt.Sprintf("natwatch.%d", i), fake)
	}

	stopAllInstances()

	for i, fake := range fakes {
		if got := fake.closes.Load(); got != 1 {
			t.Errorf("instance %d closed %d times, want 1", i, got)
		}
	}
	registry.mu.Lock()
	left := len(registry.running)
	registry.mu.Unlock()
	if left != 0 {
		t.Errorf("%d instances left in the registry, want 0", left)
	}
}

// TestInstanceConcurrentFlush runs a real pipeline with flushes from several goroutines while the
// instance is stopped. Every chunk is either processed whole (FLB_OK) or rejected after the stop
// (FLB_ERROR), so the record count equals the successful flushes times the chunk's records.
func TestInstanceConcurrentFlush(t *testing.T) {
	logs := captureLogs(t)
	properties := map[string]string{"Gateway": "gw-test", "Anomaly_Stdout": "off", "Time_Zone": "UTC"}
	inst := startInstance(func(key string) string { return properties[key] })
	if inst == nil {
		t.Fatalf("instance did not start:\n%s", logs.String())
	}
	t.Cleanup(inst.stop)
	pipe := inst.pipe

	data := scanChunk(time.Now())
	const goroutines, flushesEach = 8, 40

	var ok, rejected atomic.Uint64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range flushesEach {
				if g == 0 && i == flushesEach/2 {
					inst.stop()
				}
				switch rc := inst.flush(data, "kern"); rc {
				case output.FLB_OK:
					ok.Add(1)
				case output.FLB_ERROR:
					rejected.Add(1)
				default:
					t.Errorf("flush returned %d", rc)
				}
			}
		})
	}
	wg.Wait()

	if ok.Load()+rejected.Load() != goroutines*flushesEach {
		t.Fatalf("%d flushes returned, want %d", ok.Load()+rejected.Load(), goroutines*flushesEach)
	}
	if rejected.Load() == 0 {
		t.Errorf("no flush was rejected after the stop")
	}
	stats := pipe.Stats()
	if want := ok.Load() * scanPorts; stats.Records != want {
		t.Errorf("pipeline saw %d records, want %d (%d successful flushes × %d)", stats.Records, want, ok.Load(), scanPorts)
	}
}

func TestInstanceBackPressureRetries(t *testing.T) {
	logs := captureLogs(t)
	fake := &fakeRunner{}
	fake.full.Store(true)
	inst := startFake(t, "natwatch.test", fake)

	for range 3 {
		if rc := inst.flush([]byte{0x92}, "kern"); rc != output.FLB_RETRY {
			t.Errorf("flush under back-pressure returned %d, want FLB_RETRY (%d)", rc, output.FLB_RETRY)
		}
	}
	if got := fake.flushes.Load(); got != 0 {
		t.Errorf("pipeline processed %d chunks under back-pressure, want 0", got)
	}
	if !strings.Contains(logs.String(), "chunk returned to Fluent Bit for a later retry") {
		t.Errorf("no log line about the retried chunk:\n%s", logs.String())
	}

	fake.full.Store(false)
	if rc := inst.flush([]byte{0x92}, "kern"); rc != output.FLB_OK {
		t.Errorf("flush after the back-pressure ended returned %d, want FLB_OK", rc)
	}
	if got, recorded := fake.flushes.Load(), fake.recorded.Load(); got != 1 || recorded != 1 {
		t.Errorf("%d chunks processed and %d durations recorded, want 1 and 1", got, recorded)
	}
}
