package baseline

import (
	"math"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/state"
)

func TestSlotAt(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	day := func(y int, m time.Month, d int) int32 {
		return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	}
	tests := []struct {
		name string
		at   time.Time
		loc  *time.Location
		want Slot
	}{
		{"midnight UTC", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.UTC, Slot{day(2026, 3, 2), 0}},
		{"last slot UTC", time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC), time.UTC, Slot{day(2026, 3, 2), 95}},
		{"02:00 Shanghai is the previous UTC day", time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC), shanghai, Slot{day(2026, 3, 2), 8}},
		{"before DST starts in New York", time.Date(2026, 3, 8, 1, 59, 0, 0, newYork), newYork, Slot{day(2026, 3, 8), 7}},
		{"03:00 right after the skipped hour", time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), newYork, Slot{day(2026, 3, 8), 12}},
		{"01:30 EDT before DST ends", time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), newYork, Slot{day(2026, 11, 1), 6}},
		{"01:30 EST, the repeated hour", time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), newYork, Slot{day(2026, 11, 1), 6}},
		{"09:00 EST the day after", time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC), newYork, Slot{day(2026, 11, 2), 36}},
	}
	for _, tt := range tests {
		if got := SlotAt(tt.at.Unix(), tt.loc); got != tt.want {
			t.Errorf("%s: SlotAt(%v) = %+v, want %+v", tt.name, tt.at, got, tt.want)
		}
	}
}

func TestComputeMethods(t *testing.T) {
	values := []float64{100, 102, 98, 101, 99, 1000, 100}
	tests := []struct {
		method       Method
		wantExpected float64
		wantSpread   float64
	}{
		// median 100; deviations 0,2,2,1,1,900,0 → MAD 1 → 1.4826, below 10 % of 100.
		{MAD, 100, 10},
		// mean 228.57; the outlier dominates the standard deviation.
		{StdDev, 1600.0 / 7, 340.1705},
	}
	for _, tt := range tests {
		cfg := Config{Method: tt.method}.WithDefaults()
		got := compute(append([]float64(nil), values...), ConnsPerS, &cfg)
		if math.Abs(got.Expected-tt.wantExpected) > 1e-3 || math.Abs(got.Spread-tt.wantSpread) > 1e-3 {
			t.Errorf("%v: expected %.4f spread %.4f, want %.4f and %.4f", tt.method, got.Expected, got.Spread, tt.wantExpected, tt.wantSpread)
		}
		if want := got.Expected + 3*got.Spread; got.Upper != want {
			t.Errorf("%v: upper %v, want expected + 3 × spread = %v", tt.method, got.Upper, want)
		}
	}
}

func TestMADIgnoresOneOutlier(t *testing.T) {
	cfg := Config{}.WithDefaults()
	normal := compute([]float64{1000, 1100, 900, 1050, 950, 1000, 980}, BytesPerS, &cfg)
	attacked := compute([]float64{1000, 1100, 900, 1050, 950, 10000, 980}, BytesPerS, &cfg)
	if change := math.Abs(attacked.Upper-normal.Upper) / normal.Upper; change > 0.1 {
		t.Errorf("one day at 10× moved the upper bound from %.0f to %.0f (%.0f %%), want under 10 %%",
			normal.Upper, attacked.Upper, 100*change)
	}
}

func TestValueEncoding(t *testing.T) {
	for _, v := range []float64{0, 0.01, 0.5, 1, 3.7, 1000, 1.25e7, 1.25e10, 1e18} {
		got := decodeValue(encodeValue(v))
		if v == 0 {
			if got != 0 {
				t.Errorf("decode(encode(0)) = %v, want 0", got)
			}
			continue
		}
		if rel := math.Abs(got-v) / v; rel > 0.0004 && math.Abs(got-v) > 0.001 {
			t.Errorf("decode(encode(%v)) = %v, relative error %.5f, want at most 0.0004", v, got, rel)
		}
	}
	if q := encodeValue(math.Inf(1)); q != missing-1 {
		t.Errorf("encode(+Inf) = %d, want the largest value %d", q, missing-1)
	}
	if q := encodeValue(math.NaN()); q != 0 {
		t.Errorf("encode(NaN) = %d, want 0", q)
	}
}

// closeDay records one value per slot for a day: rate conns per second in every slot.
func closeDay(s *Series, day int32, rate func(slot int32) uint64) {
	for i := int32(0); i < SlotsPerDay; i++ {
		s.Add(&Counts{Conns: rate(i) * SlotSeconds})
		s.Close(Slot{Day: day, Index: i}, SlotSeconds)
	}
}

func TestSeriesColdStartAndHistory(t *testing.T) {
	cfg := Config{}.WithDefaults()
	var s Series
	const first = 20_000
	flat := func(int32) uint64 { return 100 }

	s.Prepare(Slot{Day: first, Index: 40}, &cfg)
	if st := s.Stat(ConnsPerS); st.Valid || st.Warm() || !st.Cold {
		t.Errorf("empty series: %+v, want invalid, cold and not warm", st)
	}

	// Half a day: the slot has no earlier day, so the recent slots give a cold estimate.
	for i := int32(0); i < 40; i++ {
		s.Add(&Counts{Conns: 50 * SlotSeconds})
		s.Close(Slot{Day: first, Index: i}, SlotSeconds)
	}
	s.Prepare(Slot{Day: first, Index: 40}, &cfg)
	if st := s.Stat(ConnsPerS); !st.Cold || st.Warm() || st.Expected != 50 {
		t.Errorf("after 40 slots: %+v, want a cold estimate of 50", st)
	}

	closeDay(&s, first+1, flat)
	tests := []struct {
		day      int32
		wantDays int
	}{
		{first + 2, 2}, // the half day and the full day before
		{first + 8, 1}, // the half day is more than 7 days back
		{first + 9, 0},
	}
	for _, tt := range tests {
		s.Prepare(Slot{Day: tt.day, Index: 20}, &cfg)
		st := s.Stat(ConnsPerS)
		if st.Days != tt.wantDays {
			t.Errorf("slot 20 on day first+%d: %d days, want %d", tt.day-first, st.Days, tt.wantDays)
		}
	}

	s.Prepare(Slot{Day: first + 2, Index: 60}, &cfg)
	st := s.Stat(ConnsPerS)
	if st.Days != 1 || st.Cold || math.Abs(st.Expected-100) > 0.05 || math.Abs(st.Upper-130) > 0.1 {
		t.Errorf("slot 60 after one full day: %+v, want 1 day, expected 100, upper 130", st)
	}
}

func TestSeriesTaintedSlotIsExcluded(t *testing.T) {
	cfg := Config{}.WithDefaults()
	var s Series
	const first = 20_000
	for d := int32(0); d < 3; d++ {
		for i := int32(0); i < SlotsPerDay; i++ {
			rate := uint64(100)
			if d == 1 && i == 10 {
				rate = 1000
				s.Taint()
			}
			s.Add(&Counts{Conns: rate * SlotSeconds})
			s.Close(Slot{Day: first + d, Index: i}, SlotSeconds)
		}
	}
	s.Prepare(Slot{Day: first + 3, Index: 10}, &cfg)
	if st := s.Stat(ConnsPerS); st.Days != 2 || math.Abs(st.Expected-100) > 0.05 {
		t.Errorf("slot 10 after a tainted day: %+v, want 2 days and expected 100", st)
	}
	if s.Tainted() {
		t.Error("Close left the taint on the next slot")
	}
}

func TestSeriesRepeatedSlotAverages(t *testing.T) {
	cfg := Config{}.WithDefaults()
	var s Series
	s.Add(&Counts{Conns: 100 * SlotSeconds})
	s.Close(Slot{Day: 20_000, Index: 6}, SlotSeconds)
	s.Add(&Counts{Conns: 300 * SlotSeconds})
	s.Close(Slot{Day: 20_000, Index: 6}, SlotSeconds)

	s.Prepare(Slot{Day: 20_001, Index: 6}, &cfg)
	if st := s.Stat(ConnsPerS); st.Days != 1 || math.Abs(st.Expected-200) > 0.1 {
		t.Errorf("slot recorded twice: %+v, want one day with expected 200", st)
	}
}

func TestSeriesEncodeRoundTrip(t *testing.T) {
	cfg := Config{}.WithDefaults()
	var s Series
	closeDay(&s, 20_000, func(i int32) uint64 { return uint64(10 + i) })
	s.Add(&Counts{Conns: 7, Bytes: 9000, OutBytes: 1000, InBytes: 8000})
	s.Taint()

	var enc state.Encoder
	s.Encode(&enc)
	var got Series
	dec := state.NewDecoder(enc.Bytes())
	got.Decode(dec)
	if err := dec.Err(); err != nil {
		t.Fatal(err)
	}
	if dec.Remaining() != 0 {
		t.Errorf("%d bytes left after decoding", dec.Remaining())
	}

	slot := Slot{Day: 20_001, Index: 30}
	s.Prepare(slot, &cfg)
	got.Prepare(slot, &cfg)
	if got != s {
		t.Error("decoded series differs from the encoded one")
	}
}

func TestSeriesDecodeRejectsOtherVersion(t *testing.T) {
	var enc state.Encoder
	enc.Uint(snapshotVersion + 1)
	var s Series
	dec := state.NewDecoder(enc.Bytes())
	s.Decode(dec)
	if dec.Err() == nil {
		t.Error("Decode accepted encoding version 2")
	}
}
