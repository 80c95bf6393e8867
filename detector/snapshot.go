package detector

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/natwatch/natwatch/detector/baseline"
	"github.com/natwatch/natwatch/detector/meter"
	"github.com/natwatch/natwatch/internal/state"
)

// SnapshotVersion is the format version of the snapshots Snapshot writes and Restore reads. It
// changes whenever their encoding does, so that a newer natwatch ignores an older snapshot
// instead of misreading it.
const SnapshotVersion = 1

// maxSnapshotStrings bounds the start formats of a gateway in a snapshot.
const maxSnapshotStrings = 64

// Snapshot encodes what the engine has learned and needs after a restart: its clock, the
// gateways and internal hosts with their baselines and moving averages, and the windows of every
// meter. Alert state and the counters of the tick in progress are not included, so a condition
// that holds after a restart fires again.
func (e *Engine) Snapshot() []byte {
	var enc state.Encoder
	enc.Bool(e.started)
	enc.Int(e.clock)
	enc.Int(e.nextTick)
	enc.Int(e.lastData)
	enc.Int(e.firstData)
	enc.Int(int64(e.slot.Day))
	enc.Int(int64(e.slot.Index))
	enc.Int(e.slotSeconds)

	enc.Uint(uint64(len(e.gateways.list)))
	for _, gw := range e.gateways.list {
		enc.String(gw.name)
		enc.Uint(uint64(len(gw.startFormats)))
		for _, f := range gw.startFormats {
			enc.String(f)
		}
		for dir := range gw.traffic {
			enc.Bool(gw.traffic[dir].seen)
		}
		for _, s := range gw.series {
			enc.Bool(s != nil)
			if s != nil {
				s.Encode(&enc)
			}
		}
	}

	enc.Uint(uint64(len(e.hosts.index)))
	for idx := e.hosts.tail; idx >= 0; idx = e.hosts.slots[idx].prev {
		h := &e.hosts.slots[idx]
		enc.Addr(h.addr)
		enc.Uint(uint64(h.gateway))
		enc.Int(h.last)
		enc.Int(h.ewmaAt)
		for _, v := range []float64{h.ewma.Conns, h.ewma.SYN, h.ewma.Drops, h.ewma.Bytes, h.ewma.Packets, h.ewma.OutBytes, h.ewma.InBytes} {
			enc.Float(v)
		}
		h.series.Encode(&enc)
	}

	encodeMeter(&enc, e.src, putAddr)
	encodeMeter(&enc, e.dst, putAddr)
	encodeMeter(&enc, e.gw, putUint32)
	encodeMeter(&enc, e.gwDir, putUint32)
	encodeMeter(&enc, e.host, putAddr)
	return enc.Bytes()
}

// ErrStarted is returned by Restore on an engine that has observed records already.
var ErrStarted = errors.New("detector: restore needs an engine that has not observed records yet")

// Restore replaces the state of an engine that has not observed records with a payload from
// Snapshot. Meters that the current rules do not use are skipped, and baselines are computed
// with the current configuration. On error the engine is left as it was.
func (e *Engine) Restore(payload []byte) error {
	if e.started {
		return ErrStarted
	}
	dec := state.NewDecoder(payload)
	r := &restored{}
	r.started = dec.Bool()
	r.clock = dec.Int()
	r.nextTick = dec.Int()
	r.lastData = dec.Int()
	r.firstData = dec.Int()
	r.slot = baseline.Slot{Day: int32(dec.Int()), Index: int32(dec.Int())}
	r.slotSeconds = dec.Int()

	gateways := dec.Count(maxGateways)
	for range gateways {
		gw := &gateway{name: dec.String()}
		for range dec.Count(maxSnapshotStrings) {
			gw.startFormats = append(gw.startFormats, dec.String())
		}
		for dir := range gw.traffic {
			gw.traffic[dir].seen = dec.Bool()
		}
		for i := range gw.series {
			if dec.Bool() {
				gw.series[i] = new(baseline.Series)
				gw.series[i].Decode(dec)
			}
		}
		r.gateways.lookup(gw.name)
		r.gateways.list[len(r.gateways.list)-1] = gw
	}

	r.hosts = newHostTable(e.cfg.MaxHosts)
	hosts := dec.Count(dec.Remaining())
	for range hosts {
		addr := dec.Addr()
		gatewayID := uint32(dec.Uint())
		last := dec.Int()
		ewmaAt := dec.Int()
		var ewma baseline.Rates
		for _, p := range []*float64{&ewma.Conns, &ewma.SYN, &ewma.Drops, &ewma.Bytes, &ewma.Packets, &ewma.OutBytes, &ewma.InBytes} {
			*p = dec.Float()
		}
		var series baseline.Series
		series.Decode(dec)
		if dec.Err() != nil {
			break
		}
		h, _ := r.hosts.touch(addr, last)
		h.gateway = gatewayID
		h.ewma = ewma
		h.ewmaAt = ewmaAt
		*h.series = series
	}

	r.src = decodeMeter(dec, e.src, getAddr)
	r.dst = decodeMeter(dec, e.dst, getAddr)
	r.gw = decodeMeter(dec, e.gw, getUint32)
	r.gwDir = decodeMeter(dec, e.gwDir, getUint32)
	r.host = decodeMeter(dec, e.host, getAddr)

	if err := dec.Err(); err != nil {
		return fmt.Errorf("detector snapshot: %w", err)
	}
	if dec.Remaining() != 0 {
		return fmt.Errorf("detector snapshot: %w: %d bytes left after the last meter", state.ErrCorrupt, dec.Remaining())
	}
	e.apply(r)
	return nil
}

// restored is a decoded snapshot, applied only once all of it decoded.
type restored struct {
	started                              bool
	clock, nextTick, lastData, firstData int64
	slot                                 baseline.Slot
	slotSeconds                          int64
	gateways                             gatewayTable
	hosts                                hostTable
	src, dst, host                       *meter.Meter[netip.Addr]
	gw, gwDir                            *meter.Meter[uint32]
}

func (e *Engine) apply(r *restored) {
	e.started = r.started
	e.clock = r.clock
	e.lastData = r.lastData
	e.firstData = r.firstData
	e.slot = r.slot
	e.slotSeconds = r.slotSeconds
	e.nextTick = r.nextTick
	if e.started && e.nextTick%e.tickSec != 0 {
		// The tick interval changed since the snapshot.
		e.nextTick = e.clock - e.clock%e.tickSec + e.tickSec
	}

	e.gateways = r.gateways
	e.hosts = r.hosts
	for _, gw := range e.gateways.list {
		for _, s := range gw.series {
			if s != nil {
				s.Prepare(e.slot, &e.baseCfg)
			}
		}
	}
	for idx := e.hosts.head; idx >= 0; idx = e.hosts.slots[idx].next {
		e.hosts.slots[idx].series.Prepare(e.slot, &e.baseCfg)
	}

	e.src = replaceMeter(e.src, r.src)
	e.dst = replaceMeter(e.dst, r.dst)
	e.gw = replaceMeter(e.gw, r.gw)
	e.gwDir = replaceMeter(e.gwDir, r.gwDir)
	e.host = replaceMeter(e.host, r.host)
}

func encodeMeter[K comparable](enc *state.Encoder, m *meter.Meter[K], putKey func(*state.Encoder, K)) {
	enc.Bool(m != nil)
	if m != nil {
		m.Encode(enc, putKey)
	}
}

// decodeMeter reads a meter into a new meter configured like current, or into a throwaway one
// when current is nil because no rule uses it now.
func decodeMeter[K comparable](dec *state.Decoder, current *meter.Meter[K], getKey func(*state.Decoder) K) *meter.Meter[K] {
	if !dec.Bool() {
		return nil
	}
	cfg := meter.Config{}
	if current != nil {
		cfg = current.Config()
	}
	m := meter.New[K](cfg)
	m.Decode(dec, getKey)
	if current == nil {
		return nil
	}
	return m
}

func replaceMeter[K comparable](current, restored *meter.Meter[K]) *meter.Meter[K] {
	if current == nil || restored == nil {
		return current
	}
	return restored
}

func putAddr(enc *state.Encoder, a netip.Addr) { enc.Addr(a) }
func getAddr(dec *state.Decoder) netip.Addr    { return dec.Addr() }
func putUint32(enc *state.Encoder, v uint32)   { enc.Uint(uint64(v)) }
func getUint32(dec *state.Decoder) uint32      { return uint32(dec.Uint()) }
