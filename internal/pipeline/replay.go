package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
	"github.com/natwatch/natwatch/internal/natlog"
)

// ErrNoTime reports a replayed line that carries no time of its own while no earlier line of the
// same input gave one, so that it cannot be placed in event time.
var ErrNoTime = errors.New("the line carries no timestamp and no earlier line gives one")

// ReplayLine normalises one line read from a log file and passes each connection in it to emit.
//
// reference is the time year-less timestamps are inferred from. A line without any time takes
// fallback, the time of the previous line of the same input. With a zero fallback it is skipped
// with ErrNoTime: the detector's clock follows event times, and one line stamped with the wall
// clock would make every older record late. A JSON object that no log format claims is read
// as a record with fields, through the same field mapping as records Fluent Bit parsed.
func (p *Pipeline) ReplayLine(line []byte, reference, fallback time.Time, ev *natlog.ConnEvent, emit natlog.Emit) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) > 0 && trimmed[0] == '{' && !p.norm.Claims(trimmed) {
		return p.replayJSONRecord(trimmed, reference, fallback, ev, emit)
	}

	untimed := 0
	err := p.NormalizeLineAll(line, reference, ev, func(e *natlog.ConnEvent) *natlog.ConnEvent {
		// NOTE: the normaliser stamps a line without a time with the reference itself, so an
		// event at exactly the reference instant reads as untimed.
		if e.Time.Equal(reference) {
			if fallback.IsZero() {
				untimed++
				return e
			}
			e.Time = fallback
		}
		return emit(e)
	})
	if untimed > 0 {
		p.parsed.Add(^uint64(untimed - 1))
		p.skipped.Add(uint64(untimed))
		p.untimed.Add(uint64(untimed))
		if err == nil {
			err = ErrNoTime
		}
	}
	return err
}

func (p *Pipeline) replayJSONRecord(line []byte, reference, fallback time.Time, ev *natlog.ConnEvent, emit natlog.Emit) error {
	p.records.Add(1)

	record, err := jsonToMsgpack(line)
	if err != nil {
		p.noteSkip(err)
		return err
	}

	at := fallback
	if at.IsZero() {
		at = reference
	}
	ev.Reset()
	err = p.norm.RecordAll(chunk.Event{Time: at, Record: record}, "", ev, func(e *natlog.ConnEvent) *natlog.ConnEvent {
		p.parsed.Add(1)
		return emit(e)
	})
	if err != nil {
		p.noteSkip(err)
	}
	return err
}

// jsonToMsgpack re-encodes one JSON object as the msgpack map Fluent Bit's json parser would hand
// the plugin: integers stay integers, other numbers become floats.
func jsonToMsgpack(line []byte) ([]byte, error) {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.UseNumber()

	var object map[string]any
	if err := decoder.Decode(&object); err != nil {
		return nil, fmt.Errorf("JSON record: %w", err)
	}
	return chunk.AppendMap(nil, convertNumbers(object).(map[string]any)), nil
}

func convertNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for key, value := range v {
			v[key] = convertNumbers(value)
		}
		return v
	case []any:
		for i, value := range v {
			v[i] = convertNumbers(value)
		}
		return v
	}
	return v
}

// WritesFailing reports whether InfluxDB has accepted no point yet while at least one write
// failed. Replay uses it at exit to stop waiting for points that are not getting through.
func (p *Pipeline) WritesFailing() bool {
	if p.influx == nil {
		return false
	}
	stats := p.influx.Stats()
	return stats.PointsWritten == 0 && stats.WriteErrors > 0
}
