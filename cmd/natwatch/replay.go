package main

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/natwatch/natwatch/internal/config"
	"github.com/natwatch/natwatch/internal/natlog"
	"github.com/natwatch/natwatch/internal/pipeline"
)

// maxLineBytes is the longest log line replay reads; longer lines are counted and skipped.
const maxLineBytes = 1 << 20

func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("replay", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: natwatch replay [flags] FILE...|-\n\n"+
			"Replays log files through the detector in the order of the records' own times, printing each\n"+
			"anomaly as a JSON line on stdout and a summary on stderr. Several files are merged by time.\n\nFlags:\n")
		flags.PrintDefaults()
	}

	settings := make(map[string]*string, len(config.Keys))
	for _, key := range config.Keys {
		settings[key.Name] = flags.String(flagName(key.Name), key.Default, key.Help)
	}
	now := flags.String("now", "", "reference time (RFC 3339) for the year of year-less timestamps; default: the current time")
	printStats := flags.Bool("stats", false, "print records read, parsed and skipped per format and reason as JSON on stderr")

	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() == 0 {
		fmt.Fprintln(stderr, "natwatch replay: no input: name one or more log files, or - for stdin")
		return 2
	}

	reference := time.Now()
	if *now != "" {
		parsed, err := time.Parse(time.RFC3339, *now)
		if err != nil {
			fmt.Fprintf(stderr, "natwatch replay: invalid -now %q: use RFC 3339, such as 2026-03-15T00:00:00+08:00\n", *now)
			return 2
		}
		reference = parsed
	}

	// Replay prints anomalies on stdout unless the user turned that off explicitly.
	if !isFlagSet(flags, flagName("Anomaly_Stdout")) {
		*settings["Anomaly_Stdout"] = "on"
	}
	cfg, err := config.FromProperties(func(key string) string { return *settings[key] })
	if err != nil {
		fmt.Fprintf(stderr, "natwatch replay: %v\n", strings.ReplaceAll(err.Error(), "\n", "\nnatwatch replay: "))
		return 2
	}

	sources, err := openSources(flags.Args(), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "natwatch replay: %v\n", err)
		return 1
	}
	defer closeSources(sources)

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	p, err := pipeline.New(cfg, pipeline.Options{Logger: logger, Stdout: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "natwatch replay: %v\n", err)
		return 1
	}

	replayErr := replaySources(p, sources, reference)

	// A long replay may leave many points to send, so Close gets up to 30 s, more than the
	// plugin's Shutdown_Timeout, unless the points are safe in a spool. After Shutdown_Timeout it
	// gives up early when InfluxDB has accepted nothing and rejected or missed every write.
	closeTimeout := 30 * time.Second
	if cfg.SpoolDir != "" {
		closeTimeout = cfg.ShutdownTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	go cancelWhenWritesFail(ctx, cancel, p, cfg.ShutdownTimeout)
	closeErr := p.Close(ctx)

	stats := p.Stats()
	writeSummary(stderr, stats)
	if *printStats {
		encoder := json.NewEncoder(stderr)
		encoder.SetIndent("", "  ")
		encoder.Encode(stats)
	}

	if err := errors.Join(replayErr, closeErr); err != nil {
		fmt.Fprintf(stderr, "natwatch replay: %v\n", err)
		return 1
	}
	return 0
}

// cancelWhenWritesFail calls cancel once grace has passed and every InfluxDB write so far has
// failed, checking every 100 ms until ctx ends.
func cancelWhenWritesFail(ctx context.Context, cancel context.CancelFunc, p *pipeline.Pipeline, grace time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(grace):
	}

	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		if p.WritesFailing() {
			cancel()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// flagName turns a configuration key such as InfluxDB_URL into the flag name influxdb-url.
func flagName(key string) string {
	return strings.ReplaceAll(strings.ToLower(key), "_", "-")
}

func isFlagSet(flags *flag.FlagSet, name string) bool {
	set := false
	flags.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// source is one input file with its next normalised event, for merging files by event time.
type source struct {
	name    string
	order   int // position on the command line, the tie-break for equal times
	scanner *bufio.Scanner
	closer  io.Closer
	line    []byte // a copy of the current line, which ev.Raw points into
	ev      natlog.ConnEvent
	lineNo  int

	// gateway names the events of lines that name no gateway and get none from --gateway: the
	// file name without its extension, as a Fluent Bit tail input would tag them.
	gateway string
	// lastTime is the time of the latest event read, given to a following line without a time.
	lastTime time.Time

	// pending holds the events of the current line after ev, for formats such as Azure flow
	// logs that put several connections on one line. scratch is the event LineAll fills.
	pending []natlog.ConnEvent
	next    int
	scratch natlog.ConnEvent
}

// advance reads lines until one normalises into s.ev. It returns false at the end of the input.
func (s *source) advance(p *pipeline.Pipeline, reference time.Time) bool {
	if s.next < len(s.pending) {
		s.ev = s.pending[s.next]
		s.next++
		return true
	}
	for s.scanner.Scan() {
		s.lineNo++
		raw := s.scanner.Bytes()
		if len(strings.TrimSpace(string(raw))) == 0 {
			continue
		}
		s.line = append(s.line[:0], raw...)
		s.pending, s.next = s.pending[:0], 0
		err := p.ReplayLine(s.line, reference, s.lastTime, &s.scratch, func(ev *natlog.ConnEvent) *natlog.ConnEvent {
			if ev.Gateway == "" {
				ev.Gateway = s.gateway
			}
			s.pending = append(s.pending, *ev)
			return ev
		})
		if err != nil || len(s.pending) == 0 {
			continue
		}
		s.ev = s.pending[0]
		s.next = 1
		s.lastTime = s.pending[len(s.pending)-1].Time
		return true
	}
	return false
}

// sourceHeap orders sources by the time of their next event, and by input order for equal times
// so that a replay is deterministic.
type sourceHeap []*source

func (h sourceHeap) Len() int { return len(h) }
func (h sourceHeap) Less(i, j int) bool {
	if !h[i].ev.Time.Equal(h[j].ev.Time) {
		return h[i].ev.Time.Before(h[j].ev.Time)
	}
	return h[i].order < h[j].order
}
func (h sourceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)   { *h = append(*h, x.(*source)) }
func (h *sourceHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	*h = old[:len(old)-1]
	return last
}

// openSources opens every input before the pipeline starts, so that a missing file fails the
// replay before anything is read.
func openSources(names []string, stdin io.Reader) ([]*source, error) {
	var sources []*source
	stdinUsed := false
	for _, name := range names {
		s := &source{name: name, order: len(sources)}
		var r io.Reader
		if name == "-" {
			if stdinUsed {
				closeSources(sources)
				return nil, errors.New("stdin (-) is named more than once")
			}
			stdinUsed = true
			s.gateway = "stdin"
			r = stdin
		} else {
			f, err := os.Open(name)
			if err != nil {
				closeSources(sources)
				return nil, err
			}
			s.closer = f
			s.gateway = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
			r = f
		}
		s.scanner = bufio.NewScanner(r)
		s.scanner.Buffer(make([]byte, 64*1024), maxLineBytes)
		sources = append(sources, s)
	}
	return sources, nil
}

func closeSources(sources []*source) {
	for _, s := range sources {
		if s.closer != nil {
			s.closer.Close()
		}
	}
}

// replaySources merges the sources by event time into the pipeline.
func replaySources(p *pipeline.Pipeline, sources []*source, reference time.Time) error {
	var pending sourceHeap
	for _, s := range sources {
		if s.advance(p, reference) {
			pending = append(pending, s)
		}
	}
	heap.Init(&pending)

	for pending.Len() > 0 {
		s := pending[0]
		p.Observe(s.ev)
		if s.advance(p, reference) {
			heap.Fix(&pending, 0)
		} else {
			heap.Pop(&pending)
		}
	}

	var errs []error
	for _, s := range sources {
		if err := s.scanner.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s: line %d: %w", s.name, s.lineNo+1, err))
		}
	}
	return errors.Join(errs...)
}

func writeSummary(w io.Writer, stats pipeline.Stats) {
	fmt.Fprintf(w, "natwatch replay: %d records read, %d parsed, %d skipped", stats.Records, stats.Parsed, stats.Skipped)

	reasons := make([]string, 0, len(stats.Normalizer.Skipped)+1)
	for reason, n := range stats.Normalizer.Skipped {
		if n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s: %d", reason, n))
		}
	}
	if stats.Untimed > 0 {
		reasons = append(reasons, fmt.Sprintf("no_timestamp: %d", stats.Untimed))
	}
	slices.Sort(reasons)
	if len(reasons) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(reasons, ", "))
	}
	fmt.Fprintf(w, "; %d anomalies fired, %d resolved\n", stats.Detector.AnomaliesFired, stats.Detector.AnomaliesResolved)

	if stats.Untimed > 0 {
		fmt.Fprintln(w, "natwatch replay: lines without a timestamp before the first timed line of their file were skipped; "+
			"replay places records by their own time (for conntrack, use -o timestamp)")
	}
	if stats.Detector.LateDropped > 0 {
		fmt.Fprintf(w, "natwatch replay: %d records were more than the longest rule window older than the newest record "+
			"and were left out of the windows; check that the files cover the same period and that --time-zone and --now are right\n",
			stats.Detector.LateDropped)
	}
}
