package natlog

import (
	"fmt"
	"time"
)

// Parser reads one raw log format. Each format lives in its own file and registers itself with
// Register from an init function.
type Parser interface {
	// Name returns the format name used in statistics and ConnEvent.Format, such as "iptables".
	Name() string

	// Detect reports whether line looks like this format. It must be cheap (prefix and marker
	// checks, no regular expressions), because every unclaimed line meets every parser.
	Detect(line []byte) bool

	// Parse fills ev from line. ev has been Reset by the caller. A line that Detect accepted but
	// that carries no connection, or is malformed, returns a *SkipError.
	Parse(line []byte, ctx *ParseContext, ev *ConnEvent) error
}

// ParseContext carries what a parser needs besides the line: the time zone for timestamps that
// have none, and the reference time for year inference in year-less syslog headers. Host is the
// one output. A parser that finds the name of the logging device in the line (a syslog header
// host) stores it there as a sub-slice of the line. The caller can then intern it instead of
// allocating a string per line.
type ParseContext struct {
	Location *time.Location // zone for local timestamps; nil means UTC
	Now      time.Time      // reference for year inference; the zero value means time.Now()
	Host     []byte         // set by Parse: the device name found in the line, or nil
}

// Reason is why a record was skipped. Reasons are a small fixed set so that they can be counted in
// an array and exported as InfluxDB tags.
type Reason uint8

// Skip reasons.
const (
	ReasonNone          Reason = iota
	ReasonUnknownFormat        // no parser claimed the line and no mapped field was found
	ReasonNotConnection        // the line is of a known format but describes no connection
	ReasonMissingField         // a required field (address, protocol) is absent
	ReasonBadAddress           // an address does not parse
	ReasonBadNumber            // a port, counter or time does not parse
	ReasonBadTime              // a timestamp does not parse
	ReasonTruncated            // the line ends before the fields a parser needs
	ReasonBadRecord            // the msgpack record is malformed
	reasonCount
)

// ReasonCount is the number of distinct reasons, for arrays indexed by Reason.
const ReasonCount = int(reasonCount)

var reasonNames = [...]string{
	"none", "unknown_format", "not_connection", "missing_field", "bad_address",
	"bad_number", "bad_time", "truncated", "bad_record",
}

// String returns the reason's name as used in statistics.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// SkipError reports why a record was not turned into a ConnEvent.
type SkipError struct {
	Format string // the format that claimed the line, empty for ReasonUnknownFormat
	Reason Reason
	Field  string // the field at fault, if any
	Value  string // the offending value, shortened
}

func (e *SkipError) Error() string {
	switch {
	case e.Format == "":
		return fmt.Sprintf("record skipped: %s", e.Reason)
	case e.Field == "":
		return fmt.Sprintf("%s record skipped: %s", e.Format, e.Reason)
	case e.Value == "":
		return fmt.Sprintf("%s record skipped: %s: field %s", e.Format, e.Reason, e.Field)
	}
	return fmt.Sprintf("%s record skipped: %s: field %s = %q", e.Format, e.Reason, e.Field, e.Value)
}

// Skip returns a *SkipError, shortening value to 64 bytes.
func Skip(format string, reason Reason, field string, value []byte) *SkipError {
	if len(value) > 64 {
		value = value[:64]
	}
	return &SkipError{Format: format, Reason: reason, Field: field, Value: string(value)}
}

var registry []Parser

// Register adds a parser for one raw log format. It panics on a duplicate name, because that is a
// programming error caught by any test run.
func Register(p Parser) {
	for _, existing := range registry {
		if existing.Name() == p.Name() {
			panic("natlog: parser registered twice: " + p.Name())
		}
	}
	registry = append(registry, p)
}

// Parsers returns the registered parsers in registration order.
func Parsers() []Parser {
	return registry
}
