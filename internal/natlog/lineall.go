package natlog

import (
	"errors"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// MultiParser is implemented by parsers whose lines may hold several connections, such as an
// Azure flow log document with many flow tuples. Normalizer.LineAll and Normalizer.RecordAll use
// ParseAll; Parse, which Line and Record use, returns the first connection only.
type MultiParser interface {
	Parser

	// ParseAll calls emit once per connection in line: with ev filled and a nil error, or with
	// the *SkipError of a connection it cannot read. ev has been Reset by the caller, and emit
	// returns the ConnEvent to fill next, already Reset. ParseAll returns a *SkipError when the
	// line as a whole is unreadable or holds no connection.
	ParseAll(line []byte, ctx *ParseContext, ev *ConnEvent, emit func(ev *ConnEvent, err error) *ConnEvent) error
}

// StatefulParser is implemented by parsers that remember something between lines of one input,
// such as the column layout that an AWS flow log or Zeek header line announces. NewNormalizer
// calls NewInstance once, so each Normalizer keeps its own state. The instance must be safe for
// concurrent use, because a Normalizer is.
type StatefulParser interface {
	Parser
	NewInstance() Parser
}

// instantiateParsers returns parsers with each StatefulParser replaced by a new instance.
func instantiateParsers(registered []Parser) []Parser {
	out := make([]Parser, len(registered))
	for i, p := range registered {
		if s, ok := p.(StatefulParser); ok {
			p = s.NewInstance()
		}
		out[i] = p
	}
	return out
}

// Emit receives one normalised event and returns the ConnEvent that the Normalizer fills next.
// It may return ev itself once it has copied what it keeps.
type Emit func(ev *ConnEvent) *ConnEvent

// errEmitted is record's signal to RecordAll that every event has already gone to emit.
var errEmitted = errors.New("natlog: events emitted")

// multiParser returns the parser at idx if it is a MultiParser, else nil.
func (n *Normalizer) multiParser(idx int) MultiParser {
	if idx >= len(n.parsers) {
		return nil
	}
	multi, _ := n.parsers[idx].(MultiParser)
	return multi
}

// LineAll normalises one raw log line that may hold several connections and passes each event to
// emit. It starts by filling ev; emit returns the ConnEvent to fill next. A line of a format with
// one connection per line gives one call, exactly as Line. LineAll returns nil when it emitted
// at least one event, and otherwise the *SkipError of the line (or of its last connection).
// Connections that cannot be read are counted as skipped either way.
func (n *Normalizer) LineAll(line []byte, now time.Time, ev *ConnEvent, emit Emit) error {
	idx := n.claim(line)
	multi := n.multiParser(idx)
	if multi == nil {
		if err := n.Line(line, now, ev); err != nil {
			return err
		}
		emit(ev)
		return nil
	}

	n.read.Add(1)
	ev.Reset()
	if now.IsZero() {
		now = time.Now()
	}
	ctx := n.context(now)
	defer n.contexts.Put(ctx)

	finish := func(e *ConnEvent) {
		e.Raw, e.RawKind = line, RawLine
		if e.Time.IsZero() {
			e.Time = now
		}
		n.finish(e, ctx.Host, "")
	}
	return n.parseAll(idx, multi, line, ctx, ev, finish, emit)
}

// RecordAll is Record for records whose line may hold several connections: it passes each event
// to emit, as LineAll does. For every other record it fills ev as Record does and calls emit once.
func (n *Normalizer) RecordAll(rec chunk.Event, tag string, ev *ConnEvent, emit Emit) error {
	err := n.record(rec, tag, ev, emit)
	switch err {
	case nil:
		emit(ev)
		return nil
	case errEmitted:
		return nil
	}
	return err
}

// recordAll runs a MultiParser on a record's line. Each event gets the record's gateway and time
// fields where the line has none, as finishRecord does for one event.
func (n *Normalizer) recordAll(idx int, multi MultiParser, ev *ConnEvent, v *recordValues, ctx *ParseContext, gateway []byte, tag string, recTime time.Time, emit Emit) error {
	var mappedTime time.Time
	if v.rank[fieldTime] != rankNone {
		mappedTime, _ = valueTime(v.val[fieldTime], ctx)
	}
	line := v.line.Str
	finish := func(e *ConnEvent) {
		e.Raw, e.RawKind = line, RawLine
		if e.Time.IsZero() {
			e.Time = mappedTime
		}
		if e.Time.IsZero() {
			e.Time = recTime
		}
		host := gateway
		if host == nil {
			host = ctx.Host
		}
		n.finish(e, host, tag)
	}
	if err := n.parseAll(idx, multi, line, ctx, ev, finish, emit); err != nil {
		return err
	}
	return errEmitted
}

// parseAll runs multi.ParseAll and counts each event and skipped connection.
//
// NOTE: the closure passed to ParseAll costs one allocation per line; the formats that hold
// several connections per line are large JSON documents, where that is small.
func (n *Normalizer) parseAll(idx int, multi MultiParser, line []byte, ctx *ParseContext, ev *ConnEvent, finish func(*ConnEvent), emit Emit) error {
	emitted := 0
	var lastErr error
	err := multi.ParseAll(line, ctx, ev, func(e *ConnEvent, err error) *ConnEvent {
		if err != nil {
			lastErr = n.skip(idx, err)
			e.Reset()
			return e
		}
		finish(e)
		n.parsed[idx].Add(1)
		emitted++
		next := emit(e)
		next.Reset()
		return next
	})
	switch {
	case err != nil && emitted == 0:
		return n.skip(idx, err)
	case err != nil:
		n.skip(idx, err) // the line broke off after some connections: keep those
	case emitted == 0 && lastErr != nil:
		return lastErr
	case emitted == 0:
		return n.skip(idx, Skip(multi.Name(), ReasonNotConnection, "", nil))
	}
	return nil
}
