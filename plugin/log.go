package main

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// logPrefix starts every natwatch log line, so the plugin's lines stand out among Fluent Bit's own
// "[time] [ info] [output:…]" lines on stderr.
const logPrefix = "[natwatch] "

// logOutput receives every log line. Tests replace it.
var logOutput io.Writer = os.Stderr

// hostErrorLog limits the log lines about calls the host made wrongly, which could repeat per chunk.
var hostErrorLog = &logLimiter{interval: 10 * time.Second}

// init sends the log lines of slog's default logger, which other natwatch packages use for errors
// without an instance, to the same place with the same prefix.
func init() {
	slog.SetDefault(newLogger("", slog.LevelInfo))
}

// newLogger returns a text logger on logOutput at level, with an instance attribute unless id is empty.
func newLogger(id string, level slog.Level) *slog.Logger {
	handler := slog.NewTextHandler(prefixWriter{w: logOutput}, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: shortTime,
	})
	logger := slog.New(handler)
	if id != "" {
		logger = logger.With("instance", id)
	}
	return logger
}

// shortTime writes the record time with millisecond precision and without quotes.
func shortTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	return a
}

// prefixWriter writes each log line to w with logPrefix in front, in one Write call so that lines
// from concurrent flushes do not interleave. slog's handlers pass one whole line per Write.
type prefixWriter struct {
	w io.Writer
}

func (p prefixWriter) Write(line []byte) (int, error) {
	out := make([]byte, 0, len(logPrefix)+len(line))
	out = append(out, logPrefix...)
	out = append(out, line...)

	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(line), nil
}

// logLimiter allows one log line per interval and counts the lines it held back in between.
type logLimiter struct {
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed uint64
}

// allow reports whether a line may be logged now. When it may, it also returns how many lines were
// held back since the last allowed one, and resets that count.
func (l *logLimiter) allow(now time.Time) (suppressed uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()

	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return 0, false
	}
	l.last = now
	suppressed = l.suppressed
	l.suppressed = 0
	return suppressed, true
}
