package meter

import (
	"fmt"
	"net/netip"

	"github.com/natwatch/natwatch/internal/state"
)

// snapshotVersion changes whenever the encoding of a Meter changes.
const snapshotVersion = 1

// Encode appends every key with its buckets and distinct counts to enc, least recently seen
// first. putKey writes one key.
//
// NOTE: the second of a key's latest sampled record is not saved, so windows restored from a
// snapshot read as not estimated until the next sampled record of the key.
func (m *Meter[K]) Encode(enc *state.Encoder, putKey func(*state.Encoder, K)) {
	enc.Uint(snapshotVersion)
	enc.Uint(uint64(len(m.index)))
	for idx := m.tail; idx >= 0; idx = m.slots[idx].prev {
		sl := &m.slots[idx]
		putKey(enc, sl.key)
		enc.Uint(uint64(sl.last))
		enc.Uint(uint64(sl.gateway))

		live := sl.buckets[sl.start:]
		enc.Uint(uint64(len(live)))
		for i := range live {
			b := &live[i]
			enc.Uint(uint64(sl.last - b.second))
			enc.Uint(uint64(b.conns))
			enc.Uint(uint64(b.syn))
			enc.Uint(uint64(b.drops))
			enc.Uint(b.bytes)
			enc.Uint(b.packets)
			enc.Uint(b.outBytes)
		}
		sl.dstPorts.encode(enc, sl.last)
		sl.dstHosts.encode(enc, sl.last)
		sl.srcHosts.encode(enc, sl.last)
	}
}

// Decode adds the keys that Encode wrote to dec, in their order, so that the most recently seen
// keys are kept when the snapshot holds more than MaxKeys. getKey reads one key. Distinct counts
// that the configuration does not ask for are read and dropped. Restored keys are not marked
// changed.
func (m *Meter[K]) Decode(dec *state.Decoder, getKey func(*state.Decoder) K) {
	if v := dec.Uint(); v != snapshotVersion {
		dec.Fail(fmt.Errorf("meter encoding version %d is not supported", v))
		return
	}
	n := dec.Count(dec.Remaining())
	for range n {
		key := getKey(dec)
		last := uint32(dec.Uint())
		gateway := uint32(dec.Uint())
		buckets := make([]bucket, dec.Count(dec.Remaining()))
		for i := range buckets {
			buckets[i] = bucket{
				second:   last - uint32(dec.Uint()),
				conns:    uint32(dec.Uint()),
				syn:      uint32(dec.Uint()),
				drops:    uint32(dec.Uint()),
				bytes:    dec.Uint(),
				packets:  dec.Uint(),
				outBytes: dec.Uint(),
			}
		}
		var ports distinct[port]
		var dstHosts, srcHosts distinct[host]
		ports.decode(dec, last)
		dstHosts.decode(dec, last)
		srcHosts.decode(dec, last)
		if dec.Err() != nil {
			return
		}

		idx, found := m.index[key]
		if found {
			m.touch(idx)
		} else {
			idx = m.insert(key)
		}
		sl := &m.slots[idx]
		sl.last = last
		sl.gateway = gateway
		sl.buckets = buckets
		sl.start = 0
		if m.cfg.DstPorts {
			sl.dstPorts = ports
		}
		if m.cfg.DstHosts {
			sl.dstHosts = dstHosts
		}
		if m.cfg.SrcHosts {
			sl.srcHosts = srcHosts
		}
	}
}

// Distinct encodings.
const (
	distinctTable  = 0
	distinctSketch = 1
)

func (d *distinct[V]) encode(enc *state.Encoder, last uint32) {
	if d.sketch != nil {
		enc.Uint(distinctSketch)
		for reg, n := range d.sketch.lengths {
			enc.Uint(uint64(n))
			for i := range int(n) {
				enc.Uint(uint64(last - d.sketch.seconds[reg][i]))
				enc.Uint(uint64(d.sketch.ranks[reg][i]))
			}
		}
		return
	}

	enc.Uint(distinctTable)
	enc.Uint(uint64(d.used))
	for _, e := range d.slots {
		if e.last == 0 {
			continue
		}
		encodeValue(enc, e.value)
		enc.Uint(uint64(last - e.last))
	}
}

func (d *distinct[V]) decode(dec *state.Decoder, last uint32) {
	switch mode := dec.Uint(); mode {
	case distinctSketch:
		s := &sketch{}
		for reg := range s.lengths {
			n := dec.Count(sketchEntries)
			s.lengths[reg] = uint8(n)
			for i := range n {
				s.seconds[reg][i] = last - uint32(dec.Uint())
				s.ranks[reg][i] = uint8(dec.Uint())
			}
		}
		d.sketch = s
	case distinctTable:
		n := dec.Count(dec.Remaining())
		if n == 0 {
			return
		}
		size := minDistinctSlots
		for (n+1)*2 > size {
			size *= 2
		}
		d.slots = make([]distinctEntry[V], size)
		d.shift = uint8(64 - bitsLen(size))
		mask := size - 1
		for range n {
			var e distinctEntry[V]
			e.value = decodeValue[V](dec)
			e.last = last - uint32(dec.Uint())
			if dec.Err() != nil || e.last == 0 {
				return
			}
			i := int(e.value.hash()>>d.shift) & mask
			for d.slots[i].last != 0 {
				i = (i + 1) & mask
			}
			d.slots[i] = e
			d.used++
		}
	default:
		dec.Fail(fmt.Errorf("distinct count encoding %d is not supported", mode))
	}
}

// bitsLen returns log2 of a power of two.
func bitsLen(size int) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

func encodeValue[V hashKey](enc *state.Encoder, v V) {
	switch x := any(v).(type) {
	case port:
		enc.Uint(uint64(x))
	case host:
		enc.Addr(netip.AddrFrom16(x))
	}
}

func decodeValue[V hashKey](dec *state.Decoder) V {
	var v V
	switch p := any(&v).(type) {
	case *port:
		*p = port(dec.Uint())
	case *host:
		*p = dec.Addr().As16()
	}
	return v
}
