package natlog

import (
	"time"
)

// Timestamp parsing shared by the parsers and the field mapping. Every function here reads
// bytes and allocates nothing.

// yearRolloverWindow is how far past the reference time a year-less timestamp may lie before it is
// taken to belong to the previous year. A month covers relays that lag behind and hosts whose clocks
// run fast, while a line from December read in January still lands in December of the old year.
const yearRolloverWindow = 31 * 24 * time.Hour

// nextYearWindow is how far ahead of the reference time a year-less timestamp may lie when it is
// read in the following year. A "Jan  1 00:00:02" line read at 23:59:59 on 31 December comes from
// a host whose clock runs a few seconds fast, so it belongs to the coming year.
const nextYearWindow = 24 * time.Hour

var monthPrefixes = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseMonth returns the month named by a three-letter English abbreviation in any letter case.
func parseMonth(b []byte) (time.Month, bool) {
	if len(b) != 3 {
		return 0, false
	}
	for i, name := range monthPrefixes {
		if (b[0]|0x20) == (name[0]|0x20) && (b[1]|0x20) == name[1] && (b[2]|0x20) == name[2] {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// digits returns the value of the n decimal digits at b[i:].
func digits(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseFraction reads ".123456" (or ",123456") at b[i:] and returns the nanoseconds and the index
// after it. Without a fraction it returns 0 and i. Digits past the ninth are ignored.
func parseFraction(b []byte, i int) (nsec int, next int) {
	if i >= len(b) || (b[i] != '.' && b[i] != ',') {
		return 0, i
	}
	j := i + 1
	scale := 100_000_000
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		nsec += int(b[j]-'0') * scale
		scale /= 10
		j++
	}
	if j == i+1 {
		return 0, i
	}
	return nsec, j
}

// parseClock reads "hh:mm:ss" at b[i:] and returns the index after it.
func parseClock(b []byte, i int) (hour, minute, second, next int, ok bool) {
	if i+8 > len(b) || b[i+2] != ':' || b[i+5] != ':' {
		return 0, 0, 0, i, false
	}
	hour, ok1 := digits(b, i, 2)
	minute, ok2 := digits(b, i+3, 2)
	second, ok3 := digits(b, i+6, 2)
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || second > 60 {
		return 0, 0, 0, i, false
	}
	return hour, minute, second, i + 8, true
}

// parseBSDTime reads an RFC 3164 timestamp such as "Mar 14 02:17:43" or "Mar  4 02:17:43.113207"
// at the start of b. It returns the time, with the year inferred by inferYear, and the number of
// bytes read.
func parseBSDTime(b []byte, ctx *ParseContext) (time.Time, int, bool) {
	if len(b) < 15 || b[3] != ' ' {
		return time.Time{}, 0, false
	}
	month, ok := parseMonth(b[:3])
	if !ok {
		return time.Time{}, 0, false
	}

	// The day is space-padded ("Mar  4"), zero-padded ("Mar 04") or, from some relays, bare ("Mar 4").
	i := 4
	if b[i] == ' ' {
		i++
	}
	day := 0
	start := i
	for i < len(b) && i < start+2 && b[i] >= '0' && b[i] <= '9' {
		day = day*10 + int(b[i]-'0')
		i++
	}
	if i == start || day < 1 || day > 31 || i >= len(b) || b[i] != ' ' {
		return time.Time{}, 0, false
	}

	hour, minute, second, i, ok := parseClock(b, i+1)
	if !ok {
		return time.Time{}, 0, false
	}
	nsec, i := parseFraction(b, i)

	return inferYear(month, day, hour, minute, second, nsec, ctx), i, true
}

// inferYear builds a time from a timestamp that has no year. It takes the year of ctx.Now (in
// ctx.Location), moves to the previous year when that puts the time more than yearRolloverWindow
// after ctx.Now, and to the next year when that puts it at most nextYearWindow ahead.
func inferYear(month time.Month, day, hour, minute, second, nsec int, ctx *ParseContext) time.Time {
	loc := ctx.location()
	var now time.Time
	if ctx != nil {
		now = ctx.Now
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = now.In(loc)

	// NOTE: a "Feb 29" stamp in a year that is not a leap year normalises to 1 March.
	year := now.Year()
	t := time.Date(year, month, day, hour, minute, second, nsec, loc)
	if t.Sub(now) > yearRolloverWindow {
		return time.Date(year-1, month, day, hour, minute, second, nsec, loc)
	}
	if next := time.Date(year+1, month, day, hour, minute, second, nsec, loc); next.Sub(now) <= nextYearWindow {
		return next
	}
	return t
}

// location returns the zone for timestamps without one.
func (c *ParseContext) location() *time.Location {
	if c == nil || c.Location == nil {
		return time.UTC
	}
	return c.Location
}

// parseISOTime reads an RFC 3339-like timestamp at the start of b: "2025-03-14T02:17:43", with a
// space in place of the T, an optional fraction, and an optional zone ("Z", "+08:00", "+0800",
// "+08"). A timestamp without a zone is in loc. It returns the time and the number of bytes read.
func parseISOTime(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') {
		return time.Time{}, 0, false
	}
	year, ok1 := digits(b, 0, 4)
	month, ok2 := digits(b, 5, 2)
	day, ok3 := digits(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > 31 {
		return time.Time{}, 0, false
	}
	hour, minute, second, i, ok := parseClock(b, 11)
	if !ok {
		return time.Time{}, 0, false
	}
	nsec, i := parseFraction(b, i)

	offset, i, hasZone, ok := parseZone(b, i)
	if !ok {
		return time.Time{}, 0, false
	}
	if !hasZone {
		return time.Date(year, time.Month(month), day, hour, minute, second, nsec, loc), i, true
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), i, true
}

// parseZone reads a zone designator at b[i:]: "Z", "+08:00", "+0800" or "+08". It returns the
// offset east of UTC in seconds, the index after it, and whether a zone was present.
func parseZone(b []byte, i int) (offset, next int, hasZone, ok bool) {
	if i >= len(b) {
		return 0, i, false, true
	}
	switch b[i] {
	case 'Z', 'z':
		return 0, i + 1, true, true
	case '+', '-':
	default:
		return 0, i, false, true
	}

	sign := 1
	if b[i] == '-' {
		sign = -1
	}
	hours, ok := digits(b, i+1, 2)
	if !ok || hours > 23 {
		return 0, i, false, false
	}
	j := i + 3
	minutes := 0
	if j < len(b) && b[j] == ':' {
		j++
	}
	if m, ok := digits(b, j, 2); ok {
		minutes = m
		j += 2
	} else if j > i+3 {
		return 0, i, false, false // "+08:" without minutes
	}
	if minutes > 59 {
		return 0, i, false, false
	}
	return sign * (hours*3600 + minutes*60), j, true, true
}

// epochTime converts a Unix timestamp whose unit is unknown: values are read as seconds, ms, µs
// or ns by their magnitude, which is unambiguous for dates between 1973 and 2286.
func epochTime(v uint64) time.Time {
	switch {
	case v >= 100_000_000_000_000_000: // ns
		return time.Unix(0, int64(v)).UTC()
	case v >= 100_000_000_000_000: // µs
		return time.UnixMicro(int64(v)).UTC()
	case v >= 100_000_000_000: // ms
		return time.UnixMilli(int64(v)).UTC()
	}
	return time.Unix(int64(v), 0).UTC()
}

// parseEpoch reads "1741889359", "1741889359.402211" or an epoch in ms, µs or ns. The whole of
// b must be the number.
func parseEpoch(b []byte) (time.Time, bool) {
	intEnd := 0
	for intEnd < len(b) && b[intEnd] >= '0' && b[intEnd] <= '9' {
		intEnd++
	}
	whole, ok := parseUint(b[:intEnd])
	if !ok {
		return time.Time{}, false
	}
	if intEnd == len(b) {
		return epochTime(whole), true
	}

	nsec, end := parseFraction(b, intEnd)
	if end != len(b) || whole >= 100_000_000_000 {
		return time.Time{}, false // only seconds carry a fraction
	}
	return time.Unix(int64(whole), int64(nsec)).UTC(), true
}
