package meter

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"slices"
)

// hashKey is a value a distinct table can count.
type hashKey interface {
	comparable
	hash() uint64
}

// port is a destination port.
type port uint16

func (p port) hash() uint64 { return uint64(p) * 0x9e3779b97f4a7c15 }

// host is an address in its 16-byte form; IPv4 addresses are IPv4-mapped.
type host [16]byte

func hostOf(addr netip.Addr) host { return addr.As16() }

func (h host) hash() uint64 {
	a := binary.LittleEndian.Uint64(h[:8])
	b := binary.LittleEndian.Uint64(h[8:])
	return (a ^ bits.RotateLeft64(b, 29)) * 0x9e3779b97f4a7c15
}

type distinctEntry[V hashKey] struct {
	value V
	last  uint32 // second the value was last seen; 0 marks an empty slot
}

// distinct counts the distinct values seen within a sliding window: an open-addressing table of
// value → last second seen, exact up to limit live values. A table that would pass the limit is
// replaced by a sliding HyperLogLog sketch of fixed size (about 21 KB), whose estimate has a
// standard error of about 4.6 %; the key keeps the sketch until it is evicted or expires.
type distinct[V hashKey] struct {
	slots  []distinctEntry[V] // length is a power of two, or zero before the first value
	shift  uint8              // 64 - log2(len(slots))
	used   int                // occupied slots, stale ones included
	sketch *sketch            // set once the live values passed the limit; slots is nil then
}

const minDistinctSlots = 4

// observe records value at second now. Entries older than retention seconds are dropped when the
// table is rebuilt.
func (d *distinct[V]) observe(value V, now, retention uint32, limit int) {
	if d.sketch != nil {
		d.sketch.add(value.hash(), now, retention)
		return
	}
	if d.slots == nil {
		d.resize(minDistinctSlots, now, retention)
	}

	for {
		mask := len(d.slots) - 1
		i := int(value.hash()>>d.shift) & mask
		for {
			e := &d.slots[i]
			if e.last == 0 {
				break
			}
			if e.value == value {
				e.last = now
				return
			}
			i = (i + 1) & mask
		}

		// Keep the load factor at or below 3/4 and the entries, stale ones included, below limit.
		if d.used < limit && (d.used+1)*4 <= len(d.slots)*3 {
			d.slots[i] = distinctEntry[V]{value: value, last: now}
			d.used++
			return
		}

		// Count the live entries: at the limit the table becomes a sketch, and below it the table
		// is rebuilt without its stale entries.
		live := d.live(now, retention)
		if live >= limit {
			d.toSketch(now, retention)
			d.sketch.add(value.hash(), now, retention)
			return
		}
		size := minDistinctSlots
		for (live+1)*2 > size {
			size *= 2
		}
		d.resize(size, now, retention)
	}
}

func (d *distinct[V]) live(now, retention uint32) int {
	n := 0
	for _, e := range d.slots {
		if e.last != 0 && e.last+retention > now {
			n++
		}
	}
	return n
}

// resize rebuilds the table with size slots, keeping the entries seen within retention.
func (d *distinct[V]) resize(size int, now, retention uint32) {
	old := d.slots
	d.slots = make([]distinctEntry[V], size)
	d.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	d.used = 0

	mask := size - 1
	for _, e := range old {
		if e.last == 0 || e.last+retention <= now {
			continue
		}
		i := int(e.value.hash()>>d.shift) & mask
		for d.slots[i].last != 0 {
			i = (i + 1) & mask
		}
		d.slots[i] = e
		d.used++
	}
}

// toSketch moves the entries seen within retention into a new sketch, oldest first as the
// sketch requires, and releases the table.
func (d *distinct[V]) toSketch(now, retention uint32) {
	live := make([]distinctEntry[V], 0, d.used)
	for _, e := range d.slots {
		if e.last != 0 && e.last+retention > now {
			live = append(live, e)
		}
	}
	slices.SortFunc(live, func(a, b distinctEntry[V]) int { return cmp.Compare(a.last, b.last) })

	d.sketch = &sketch{}
	for _, e := range live {
		d.sketch.add(e.value.hash(), e.last, retention)
	}
	d.slots = nil
	d.used = 0
}

// count returns the number of distinct values seen at or after second from: exact from the
// table, estimated from the sketch.
func (d *distinct[V]) count(from uint32) int {
	if d.sketch != nil {
		return int(math.Round(d.sketch.estimate(from)))
	}
	n := 0
	for _, e := range d.slots {
		if e.last != 0 && e.last >= from {
			n++
		}
	}
	return n
}

// reset empties the table, releasing large tables so that a reused slot does not keep a
// scanner's memory.
func (d *distinct[V]) reset() {
	if len(d.slots) > 64 {
		d.slots = nil
	} else {
		clear(d.slots)
	}
	d.used = 0
	d.sketch = nil
}
