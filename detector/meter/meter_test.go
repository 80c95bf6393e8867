package meter

import (
	"net/netip"
	"testing"
)

func addr(text string) netip.Addr { return netip.MustParseAddr(text) }

const t0 = 1_772_000_000 // a Unix second in 2026

func TestWindowSums(t *testing.T) {
	m := New[netip.Addr](Config{Retention: 300, DstPorts: true, DstHosts: true})
	src := addr("198.51.100.7")

	type query struct {
		now, window uint32
		want        Totals
	}
	steps := []struct {
		add     []Sample
		queries []query
	}{
		{
			add: []Sample{
				{Second: t0, Conns: 1, SYN: 1, Bytes: 60, Packets: 1, DstPort: 22, HasDstPort: true, Dst: addr("10.20.0.1")},
				{Second: t0, Conns: 1, SYN: 1, Bytes: 60, Packets: 1, DstPort: 23, HasDstPort: true, Dst: addr("10.20.0.1")},
				{Second: t0 + 1, Conns: 1, Drops: 1, Bytes: 40, Packets: 1, DstPort: 22, HasDstPort: true, Dst: addr("10.20.0.2")},
			},
			queries: []query{
				{t0 + 2, 1, Totals{Conns: 1, Drops: 1, Bytes: 40, Packets: 1, DstPorts: 1, DstHosts: 1}},
				{t0 + 2, 2, Totals{Conns: 3, SYN: 2, Drops: 1, Bytes: 160, Packets: 3, DstPorts: 2, DstHosts: 2}},
			},
		},
		{
			add: []Sample{
				{Second: t0 + 5, Conns: 1, Bytes: 1500, Packets: 3, DstPort: 443, HasDstPort: true, Dst: addr("10.20.0.3")},
			},
			queries: []query{
				{t0 + 6, 300, Totals{Conns: 4, SYN: 2, Drops: 1, Bytes: 1660, Packets: 6, DstPorts: 3, DstHosts: 3}},
				{t0 + 6, 1, Totals{Conns: 1, Bytes: 1500, Packets: 3, DstPorts: 1, DstHosts: 1}},
				{t0 + 10, 5, Totals{Conns: 1, Bytes: 1500, Packets: 3, DstPorts: 1, DstHosts: 1}},
				{t0 + 10, 4, Totals{}},
			},
		},
	}

	var idx int32
	for _, step := range steps {
		for i := range step.add {
			idx = m.Add(src, &step.add[i])
		}
		for _, q := range step.queries {
			if got := m.Window(idx, q.now, q.window); got != q.want {
				t.Errorf("Window(now=t0+%d, %ds) = %+v, want %+v", q.now-t0, q.window, got, q.want)
			}
		}
	}
}

func TestBucketsExpire(t *testing.T) {
	m := New[netip.Addr](Config{Retention: 3})
	src := addr("10.20.0.9")
	var idx int32
	for s := uint32(0); s < 100; s++ {
		idx = m.Add(src, &Sample{Second: t0 + s, Conns: 1})
	}
	sl := &m.slots[idx]
	if live := len(sl.buckets) - sl.start; live != 3 {
		t.Errorf("live buckets = %d, want 3 with a retention of 3 s", live)
	}
	if cap(sl.buckets) > 8 {
		t.Errorf("bucket capacity grew to %d, want at most 8", cap(sl.buckets))
	}
	if got := m.Window(idx, t0+100, 3).Conns; got != 3 {
		t.Errorf("conns over the last 3 s = %d, want 3", got)
	}
}

func TestDistinctPastLimitUsesSketch(t *testing.T) {
	m := New[netip.Addr](Config{Retention: 60, DstPorts: true, DistinctLimit: 100})
	src := addr("203.0.113.5")
	var idx int32
	for p := 1; p <= 150; p++ {
		idx = m.Add(src, &Sample{Second: t0, DstPort: uint16(p), HasDstPort: true})
	}
	d := &m.slots[idx].dstPorts
	if d.sketch == nil || d.slots != nil {
		t.Fatalf("port table past the limit: sketch %v, table of %d slots; want a sketch and no table", d.sketch != nil, len(d.slots))
	}
	// The sketch estimates these 150 ports as 153, 2 % high.
	if got := m.Window(idx, t0+1, 60).DstPorts; got != 153 {
		t.Errorf("distinct ports = %d, want the estimate 153", got)
	}

	// Once the window has passed, the sketch counts only the new ports.
	for p := 1; p <= 7; p++ {
		idx = m.Add(src, &Sample{Second: t0 + 61, DstPort: uint16(1000 + p), HasDstPort: true})
	}
	if got := m.Window(idx, t0+62, 60).DstPorts; got != 7 {
		t.Errorf("distinct ports after the window passed = %d, want 7", got)
	}
}

func TestDistinctSlidingWindow(t *testing.T) {
	m := New[netip.Addr](Config{Retention: 300, DstPorts: true})
	src := addr("203.0.113.5")
	var idx int32
	for i := uint32(0); i < 600; i++ {
		idx = m.Add(src, &Sample{Second: t0 + i, DstPort: uint16(i), HasDstPort: true})
	}
	if got := m.Window(idx, t0+600, 300).DstPorts; got != 300 {
		t.Errorf("distinct ports in the last 300 s = %d, want 300", got)
	}
	if got := m.Window(idx, t0+600, 60).DstPorts; got != 60 {
		t.Errorf("distinct ports in the last 60 s = %d, want 60", got)
	}
}

func TestEvictionLeastRecentlySeen(t *testing.T) {
	m := New[netip.Addr](Config{MaxKeys: 3, Retention: 60})
	keys := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
	for _, k := range keys {
		m.Add(addr(k), &Sample{Second: t0, Conns: 1})
	}
	m.Add(addr("10.0.0.1"), &Sample{Second: t0 + 1, Conns: 1}) // 10.0.0.2 is now the least recent
	m.Add(addr("10.0.0.4"), &Sample{Second: t0 + 2, Conns: 1})

	if m.Len() != 3 {
		t.Errorf("Len = %d, want 3", m.Len())
	}
	if m.Evictions() != 1 {
		t.Errorf("Evictions = %d, want 1", m.Evictions())
	}
	for k, want := range map[string]bool{"10.0.0.1": true, "10.0.0.2": false, "10.0.0.3": true, "10.0.0.4": true} {
		if _, found := m.Lookup(addr(k)); found != want {
			t.Errorf("Lookup(%s) found = %v, want %v", k, found, want)
		}
	}
	idx, _ := m.Lookup(addr("10.0.0.4"))
	if got := m.Window(idx, t0+3, 60).Conns; got != 1 {
		t.Errorf("conns of the key in the reused slot = %d, want 1", got)
	}
}

func TestExpireAndDirty(t *testing.T) {
	m := New[uint32](Config{Retention: 10})
	m.Add(1, &Sample{Second: t0, Conns: 1})
	m.Add(2, &Sample{Second: t0 + 5, Conns: 1})
	m.Add(1, &Sample{Second: t0 + 6, Conns: 1})
	m.Add(3, &Sample{Second: t0 + 7, Conns: 1})

	dirty := m.TakeDirty(nil)
	if len(dirty) != 3 {
		t.Errorf("TakeDirty = %v, want 3 slots", dirty)
	}
	if again := m.TakeDirty(nil); len(again) != 0 {
		t.Errorf("second TakeDirty = %v, want none", again)
	}

	if n := m.Expire(t0 + 15); n != 1 {
		t.Errorf("Expire(t0+15) dropped %d keys, want 1", n)
	}
	if _, found := m.Lookup(2); found {
		t.Error("key 2, last seen at t0+5, survived Expire(t0+15)")
	}
	if n := m.Expire(t0 + 17); n != 2 {
		t.Errorf("Expire(t0+17) dropped %d keys, want 2", n)
	}
	if m.Len() != 0 || m.Expired() != 3 {
		t.Errorf("Len = %d, Expired = %d; want 0 and 3", m.Len(), m.Expired())
	}

	m.Add(4, &Sample{Second: t0 + 20, Conns: 1})
	if dirty := m.TakeDirty(nil); len(dirty) != 1 || m.Key(dirty[0]) != 4 {
		t.Errorf("TakeDirty after reuse = %v, want the slot of key 4", dirty)
	}
}

func TestAddAllocatesNothingForKnownKeys(t *testing.T) {
	m := New[netip.Addr](Config{Retention: 300, DstPorts: true, DstHosts: true})
	src := addr("198.51.100.7")
	s := Sample{Second: t0, Conns: 1, DstPort: 443, HasDstPort: true, Dst: addr("10.20.0.1")}
	m.Add(src, &s)
	m.TakeDirty(nil)

	allocs := testing.AllocsPerRun(1000, func() {
		m.Add(src, &s)
	})
	if allocs != 0 {
		t.Errorf("Add allocated %v times per call, want 0", allocs)
	}
}
