package baseline

import (
	"math"
	"strconv"

	"github.com/natwatch/natwatch/internal/state"
)

// missing marks a history entry without a value: a slot that was not observed or was tainted.
const missing = math.MaxUint16

// Values are stored as uint16 on a logarithmic scale, q = round(log2(1+v) × valueScale), which
// keeps a relative error below 0.04 % for rates up to 1.8e19 and halves the memory of float32.
const valueScale = 1024

func encodeValue(v float64) uint16 {
	if !(v > 0) {
		return 0
	}
	q := math.Round(math.Log2(1+v) * valueScale)
	if q >= missing {
		return missing - 1
	}
	return uint16(q)
}

func decodeValue(q uint16) float64 {
	return math.Exp2(float64(q)/valueScale) - 1
}

// Series is the history and baseline of one key. The zero value is empty and ready for use.
type Series struct {
	history [SlotsPerDay][ringDays][MetricCount]uint16
	days    [ringDays]int32 // the local day stored at each ring position; 0 when none

	recent     [RecentSlots][MetricCount]float32 // the latest closed slots, for the cold estimate
	recentLen  uint8
	recentNext uint8

	open    Counts // the sums of the open slot
	tainted bool   // the open slot saw an anomaly and will not be recorded

	stats [MetricCount]Stat // the baseline of the slot given to the last Prepare
}

// Add adds counts to the open slot.
func (s *Series) Add(c *Counts) { s.open.Add(c) }

// Taint excludes the open slot from the history.
func (s *Series) Taint() { s.tainted = true }

// Tainted reports whether the open slot is excluded from the history.
func (s *Series) Tainted() bool { return s.tainted }

// Open returns the sums of the open slot.
func (s *Series) Open() Counts { return s.open }

// Close ends the open slot, which was observed for seconds: unless it is tainted or seconds is
// 0, it stores the slot's mean rates in the history under slot and among the recent slots. A
// slot recorded twice on one day, as happens in the hour repeated when daylight saving time
// ends, keeps the mean of both values.
func (s *Series) Close(slot Slot, seconds float64) {
	defer func() {
		s.open = Counts{}
		s.tainted = false
	}()
	if s.tainted || seconds <= 0 || slot.Index < 0 || slot.Index >= SlotsPerDay {
		return
	}
	values := s.open.Values(seconds)

	pos := int(slot.Day) % ringDays
	if pos < 0 {
		pos += ringDays
	}
	if s.days[pos] != slot.Day {
		for i := range s.history {
			s.history[i][pos] = [MetricCount]uint16{missing, missing, missing, missing, missing, missing}
		}
		s.days[pos] = slot.Day
	}
	entry := &s.history[slot.Index][pos]
	for m, v := range values {
		if entry[m] != missing {
			v = (decodeValue(entry[m]) + v) / 2
		}
		entry[m] = encodeValue(v)
	}

	var r [MetricCount]float32
	for m, v := range values {
		r[m] = float32(v)
	}
	s.recent[s.recentNext] = r
	s.recentNext = (s.recentNext + 1) % RecentSlots
	s.recentLen = min(s.recentLen+1, RecentSlots)
}

// Prepare computes the baseline of slot from the same slot of the previous HistoryDays days,
// or, when none of them has a value, from the recent slots, marked cold. Stat returns the
// result until the next Prepare.
func (s *Series) Prepare(slot Slot, cfg *Config) {
	var buf [max(HistoryDays, RecentSlots)]float64
	for m := range MetricCount {
		values := buf[:0]
		if slot.Index >= 0 && slot.Index < SlotsPerDay {
			for pos, day := range s.days {
				if day == 0 || day >= slot.Day || day < slot.Day-HistoryDays {
					continue
				}
				if q := s.history[slot.Index][pos][m]; q != missing {
					values = append(values, decodeValue(q))
				}
			}
		}
		if len(values) > 0 {
			stat := compute(values, m, cfg)
			stat.Days = len(values)
			s.stats[m] = stat
			continue
		}

		for i := range int(s.recentLen) {
			values = append(values, float64(s.recent[i][m]))
		}
		stat := compute(values, m, cfg)
		stat.Cold = true
		s.stats[m] = stat
	}
}

// Stat returns the baseline of m computed by the last Prepare.
func (s *Series) Stat(m Metric) Stat { return s.stats[m] }

// Days returns the number of the previous HistoryDays days that have a value for slot.
func (s *Series) Days(slot Slot) int {
	n := 0
	for pos, day := range s.days {
		if day != 0 && day < slot.Day && day >= slot.Day-HistoryDays && s.history[slot.Index][pos][0] != missing {
			n++
		}
	}
	return n
}

// snapshotVersion changes whenever the encoding of a Series changes.
const snapshotVersion = 1

// Encode appends the series to enc.
func (s *Series) Encode(enc *state.Encoder) {
	enc.Uint(snapshotVersion)
	for pos, day := range s.days {
		enc.Int(int64(day))
		if day == 0 {
			continue
		}
		for slot := range s.history {
			for _, q := range s.history[slot][pos] {
				enc.Uint(uint64(q))
			}
		}
	}
	enc.Uint(uint64(s.recentLen))
	enc.Uint(uint64(s.recentNext))
	for i := range int(s.recentLen) {
		for _, v := range s.recent[i] {
			enc.Float(float64(v))
		}
	}
	for _, v := range []uint64{s.open.Conns, s.open.SYN, s.open.Drops, s.open.Bytes, s.open.Packets, s.open.OutBytes, s.open.InBytes} {
		enc.Uint(v)
	}
	enc.Bool(s.tainted)
}

// Decode replaces the series with one read from dec. The baseline must be computed again with
// Prepare.
func (s *Series) Decode(dec *state.Decoder) {
	*s = Series{}
	if v := dec.Uint(); v != snapshotVersion {
		dec.Fail(errVersion(v))
		return
	}
	for pos := range s.days {
		s.days[pos] = int32(dec.Int())
		if s.days[pos] == 0 {
			continue
		}
		for slot := range s.history {
			for m := range s.history[slot][pos] {
				s.history[slot][pos][m] = uint16(min(dec.Uint(), missing))
			}
		}
	}
	s.recentLen = uint8(min(dec.Uint(), RecentSlots))
	s.recentNext = uint8(dec.Uint() % RecentSlots)
	for i := range int(s.recentLen) {
		for m := range s.recent[i] {
			s.recent[i][m] = float32(dec.Float())
		}
	}
	for _, p := range []*uint64{&s.open.Conns, &s.open.SYN, &s.open.Drops, &s.open.Bytes, &s.open.Packets, &s.open.OutBytes, &s.open.InBytes} {
		*p = dec.Uint()
	}
	s.tainted = dec.Bool()
}

type errVersion uint64

func (v errVersion) Error() string {
	return "baseline series encoding version " + strconv.FormatUint(uint64(v), 10) + " is not supported"
}
