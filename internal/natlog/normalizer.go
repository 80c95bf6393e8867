package natlog

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// Options configures a Normalizer.
type Options struct {
	Gateway      string            // gateway name for records that name none
	InternalNets []netip.Prefix    // networks on the inside of the gateway, for Direction
	Location     *time.Location    // zone for timestamps that have none; nil means UTC
	FieldMap     map[string]string // ConnEvent field name (see FieldNames) → record key
}

// unknownFormat is the format name under which Stats counts lines and records no parser claimed.
const unknownFormat = "unknown"

// maxGateways bounds the table of interned gateway names. Past it, each record with a new name
// gets its own string, which costs an allocation but keeps memory bounded.
const maxGateways = 4096

// Normalizer turns raw log lines and Fluent Bit records into ConnEvent values and counts the
// outcome per format and skip reason. It is safe for concurrent use.
type Normalizer struct {
	opts    Options
	parsers []Parser
	fields  *FieldMap

	// last is the index of the parser that matched most recently, tried first on the next line.
	last atomic.Int32

	contexts sync.Pool // *ParseContext, reused because passing one to a Parser moves it to the heap

	gatewayMu sync.Mutex                        // serialises writers of gateways
	gateways  atomic.Pointer[map[string]string] // copy-on-write, read without a lock

	read    atomic.Uint64
	parsed  []atomic.Uint64              // by format index
	skipped [][ReasonCount]atomic.Uint64 // by format index, then Reason
}

// Format indices past the registered parsers.
func (n *Normalizer) fieldsIndex() int  { return len(n.parsers) }
func (n *Normalizer) unknownIndex() int { return len(n.parsers) + 1 }

// NewNormalizer returns a Normalizer using every registered parser and the field mapping with
// opts.FieldMap. It fails on an unknown field name in opts.FieldMap or an invalid internal network.
func NewNormalizer(opts Options) (*Normalizer, error) {
	fields, err := NewFieldMap(opts.FieldMap)
	if err != nil {
		return nil, err
	}
	nets := make([]netip.Prefix, len(opts.InternalNets))
	for i, p := range opts.InternalNets {
		if !p.IsValid() {
			return nil, fmt.Errorf("internal networks: entry %d: invalid prefix", i)
		}
		nets[i] = p.Masked()
	}
	opts.InternalNets = nets
	if opts.Location == nil {
		opts.Location = time.UTC
	}

	n := &Normalizer{
		opts:    opts,
		parsers: instantiateParsers(Parsers()),
		fields:  fields,
	}
	n.parsed = make([]atomic.Uint64, len(n.parsers)+2)
	n.skipped = make([][ReasonCount]atomic.Uint64, len(n.parsers)+2)
	n.contexts.New = func() any { return new(ParseContext) }
	empty := map[string]string{}
	n.gateways.Store(&empty)
	return n, nil
}

// Line normalises one raw log line, as read from a file by replay. It resets ev and then fills
// it. now is the reference time for year-less timestamps and the event time when the line has
// none; the zero value means time.Now(). The error is a *SkipError: ReasonUnknownFormat when no
// parser claims the line (a blank line included), or the parser's reason. ev.Raw points into
// line.
func (n *Normalizer) Line(line []byte, now time.Time, ev *ConnEvent) error {
	n.read.Add(1)
	ev.Reset()
	if now.IsZero() {
		now = time.Now()
	}

	ctx := n.context(now)
	defer n.contexts.Put(ctx)

	idx, err := n.parseLine(line, ctx, ev)
	if err != nil {
		return n.skip(idx, err)
	}
	if ev.Time.IsZero() {
		ev.Time = now
	}
	n.finish(ev, ctx.Host, "")
	n.parsed[idx].Add(1)
	return nil
}

// Record normalises one Fluent Bit record. It resets ev and then fills it. A string in `log`,
// `message` or `MESSAGE` is read as a raw line when a parser claims it; otherwise the field
// mapping applies. ev.Time falls back to rec.Time when neither the line nor a time field gives
// one. The gateway is the record's gateway field, else the host in the line's syslog header,
// else Options.Gateway, else tag. ev.Raw points into rec.Record, or into the line when a parser
// read it.
//
// NOTE: when a parser reads the line, ev.Raw holds only the line, so rules cannot reach the
// record's other fields (such as a syslog parser's ident).
func (n *Normalizer) Record(rec chunk.Event, tag string, ev *ConnEvent) error {
	return n.record(rec, tag, ev, nil)
}

// record is Record, and RecordAll when emit is not nil: a line that a MultiParser claims then
// yields all its events through emit.
func (n *Normalizer) record(rec chunk.Event, tag string, ev *ConnEvent, emit Emit) error {
	n.read.Add(1)
	ev.Reset()

	ctx := n.context(rec.Time)
	defer n.contexts.Put(ctx)

	var v recordValues
	if err := n.fields.collect(rec.Record, &v); err != nil {
		return n.skip(n.fieldsIndex(), Skip(fieldsFormat, ReasonBadRecord, "", []byte(err.Error())))
	}

	var gateway []byte
	if g := v.val[fieldGateway]; v.rank[fieldGateway] != rankNone && g.Type == chunk.TypeString && !isPlaceholder(g.Str) {
		gateway = g.Str
	}

	if v.hasLine {
		idx := n.claim(v.line.Str)
		if multi := n.multiParser(idx); multi != nil && emit != nil {
			return n.recordAll(idx, multi, ev, &v, ctx, gateway, tag, rec.Time, emit)
		}
		err := n.runClaimed(idx, v.line.Str, ctx, ev)
		if err == nil || idx != n.unknownIndex() {
			return n.finishRecord(idx, err, ev, &v, ctx, gateway, tag, rec.Time)
		}
		ev.Reset() // no parser claimed the line: try the other fields
	}

	ev.Raw, ev.RawKind = rec.Record, RawMsgpack
	ctx.Host = nil
	err := v.apply(ctx, ev)
	if err != nil {
		idx := n.fieldsIndex()
		if reasonOf(err) == ReasonUnknownFormat {
			idx = n.unknownIndex()
		}
		return n.skip(idx, err)
	}
	if ev.Time.IsZero() {
		ev.Time = rec.Time
	}
	n.finish(ev, ctx.Host, tag)
	n.parsed[n.fieldsIndex()].Add(1)
	return nil
}

// finishRecord completes an event parsed from a record's raw line: a record gateway field and a
// record time field fill what the line lacks.
func (n *Normalizer) finishRecord(idx int, err error, ev *ConnEvent, v *recordValues, ctx *ParseContext, gateway []byte, tag string, recTime time.Time) error {
	if err != nil {
		return n.skip(idx, err)
	}
	if ev.Time.IsZero() && v.rank[fieldTime] != rankNone {
		ev.Time, _ = valueTime(v.val[fieldTime], ctx)
	}
	if ev.Time.IsZero() {
		ev.Time = recTime
	}
	if gateway == nil {
		gateway = ctx.Host
	}
	n.finish(ev, gateway, tag)
	n.parsed[idx].Add(1)
	return nil
}

// context returns a pooled ParseContext for one call.
func (n *Normalizer) context(now time.Time) *ParseContext {
	ctx := n.contexts.Get().(*ParseContext)
	*ctx = ParseContext{Location: n.opts.Location, Now: now}
	return ctx
}

// parseLine runs the parser that claims line, trying the last successful one first. It returns
// the format index used for statistics.
func (n *Normalizer) parseLine(line []byte, ctx *ParseContext, ev *ConnEvent) (int, error) {
	idx := n.claim(line)
	return idx, n.runClaimed(idx, line, ctx, ev)
}

// claim returns the index of the parser whose Detect accepts line, trying the last successful
// one first, or unknownIndex when none does.
func (n *Normalizer) claim(line []byte) int {
	last := int(n.last.Load())
	if last < len(n.parsers) && n.parsers[last].Detect(line) {
		return last
	}
	for i, p := range n.parsers {
		if i == last || !p.Detect(line) {
			continue
		}
		n.last.Store(int32(i))
		return i
	}
	return n.unknownIndex()
}

// runClaimed runs the parser that claim returned, or returns ReasonUnknownFormat.
func (n *Normalizer) runClaimed(idx int, line []byte, ctx *ParseContext, ev *ConnEvent) error {
	if idx >= len(n.parsers) {
		return &SkipError{Reason: ReasonUnknownFormat}
	}
	return n.runParser(idx, line, ctx, ev)
}

func (n *Normalizer) runParser(i int, line []byte, ctx *ParseContext, ev *ConnEvent) error {
	ctx.Host = nil
	if err := n.parsers[i].Parse(line, ctx, ev); err != nil {
		return err
	}
	ev.Raw, ev.RawKind = line, RawLine
	return nil
}

// skip counts a skipped record and returns err. An error that is not a *SkipError (a parser bug)
// is counted as bad_record.
func (n *Normalizer) skip(idx int, err error) error {
	n.skipped[idx][reasonOf(err)].Add(1)
	return err
}

// reasonOf returns the reason of a *SkipError, and ReasonBadRecord for any other error.
func reasonOf(err error) Reason {
	if skip, ok := err.(*SkipError); ok && int(skip.Reason) < ReasonCount {
		return skip.Reason
	}
	return ReasonBadRecord
}

// finish fills the fields that do not depend on the format: gateway and direction.
func (n *Normalizer) finish(ev *ConnEvent, host []byte, tag string) {
	switch {
	case host != nil:
		ev.Gateway = n.intern(host)
	case n.opts.Gateway != "":
		ev.Gateway = n.opts.Gateway
	default:
		ev.Gateway = tag
	}
	ev.Direction = n.direction(ev.Src, ev.Dst)
}

// intern returns a string equal to b, shared with earlier calls for the same name.
func (n *Normalizer) intern(b []byte) string {
	if s, ok := (*n.gateways.Load())[string(b)]; ok {
		return s
	}

	n.gatewayMu.Lock()
	defer n.gatewayMu.Unlock()
	old := *n.gateways.Load()
	if s, ok := old[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(old) >= maxGateways {
		return s
	}
	grown := make(map[string]string, len(old)+1)
	for k, v := range old {
		grown[k] = v
	}
	grown[s] = s
	n.gateways.Store(&grown)
	return s
}

// direction classifies a connection by the internal networks.
func (n *Normalizer) direction(src, dst netip.Addr) Direction {
	if len(n.opts.InternalNets) == 0 || !src.IsValid() || !dst.IsValid() {
		return DirectionUnknown
	}
	srcIn := n.internal(src)
	dstIn := n.internal(dst)
	switch {
	case srcIn && dstIn:
		return DirectionInternal
	case srcIn:
		return DirectionOutbound
	case dstIn:
		return DirectionInbound
	}
	return DirectionExternal
}

func (n *Normalizer) internal(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range n.opts.InternalNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Stats is a snapshot of a Normalizer's counters.
type Stats struct {
	Read            uint64                       `json:"read"`              // lines and records passed to Line and Record
	Parsed          map[string]uint64            `json:"parsed"`            // events produced, by format
	Skipped         map[string]uint64            `json:"skipped"`           // records skipped, by reason
	SkippedByFormat map[string]map[string]uint64 `json:"skipped_by_format"` // records skipped, by format then reason
}

// Stats returns a snapshot of the counters. Formats and reasons with a zero count are left out.
// Lines and records that no format claimed count under the format "unknown"; records turned into
// events by the field mapping count under "fields".
func (n *Normalizer) Stats() Stats {
	s := Stats{
		Read:            n.read.Load(),
		Parsed:          map[string]uint64{},
		Skipped:         map[string]uint64{},
		SkippedByFormat: map[string]map[string]uint64{},
	}
	for idx := range n.parsed {
		format := n.formatName(idx)
		if c := n.parsed[idx].Load(); c > 0 {
			s.Parsed[format] = c
		}
		for r := range ReasonCount {
			c := n.skipped[idx][r].Load()
			if c == 0 {
				continue
			}
			reason := Reason(r).String()
			s.Skipped[reason] += c
			if s.SkippedByFormat[format] == nil {
				s.SkippedByFormat[format] = map[string]uint64{}
			}
			s.SkippedByFormat[format][reason] = c
		}
	}
	return s
}

func (n *Normalizer) formatName(idx int) string {
	switch idx {
	case n.fieldsIndex():
		return fieldsFormat
	case n.unknownIndex():
		return unknownFormat
	}
	return n.parsers[idx].Name()
}
