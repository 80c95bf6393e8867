package behavior

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Calendar says which local times are working time: work hours on work days, except holidays,
// plus extra working days (such as the weekend days that Chinese public holidays move work to).
type Calendar struct {
	Location *time.Location // nil is UTC

	WorkStart, WorkEnd int // minutes after midnight; work time is [WorkStart, WorkEnd)
	WorkDays           [7]bool

	Holidays     map[int]bool // dates as yyyymmdd that are not working days
	ExtraWorkday map[int]bool // dates as yyyymmdd that are working days although WorkDays says no
}

// DefaultCalendar is 09:00–18:00, Monday to Friday, in UTC.
func DefaultCalendar() Calendar {
	c := Calendar{WorkStart: 9 * 60, WorkEnd: 18 * 60}
	for d := time.Monday; d <= time.Friday; d++ {
		c.WorkDays[d] = true
	}
	return c
}

// ParseWorkHours parses "09:00-18:00" into minutes after midnight. The end may be 24:00.
func ParseWorkHours(text string) (start, end int, err error) {
	from, to, ok := strings.Cut(strings.TrimSpace(text), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range such as 09:00-18:00", text)
	}
	if start, err = parseClock(from); err != nil {
		return 0, 0, err
	}
	if end, err = parseClock(to); err != nil {
		return 0, 0, err
	}
	if end <= start {
		return 0, 0, fmt.Errorf("%q ends before it starts", text)
	}
	return start, end, nil
}

func parseClock(text string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(text), ":")
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hour < 0 || minute < 0 || minute > 59 || hour > 24 || (hour == 24 && minute != 0) {
		return 0, fmt.Errorf("%q is not a time of day such as 09:00", text)
	}
	return hour*60 + minute, nil
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWorkDays parses day names and ranges such as "mon-fri" or "mon,tue,thu-sat".
func ParseWorkDays(text string) ([7]bool, error) {
	var days [7]bool
	for part := range strings.SplitSeq(strings.ToLower(text), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, isRange := strings.Cut(part, "-")
		a, b := dayIndex(from), dayIndex(to)
		if !isRange {
			b = a
		}
		if a < 0 || b < 0 {
			return days, fmt.Errorf("%q is not a day or a range of days such as mon-fri", part)
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, nil
}

func dayIndex(name string) int {
	name = strings.TrimSpace(name)
	for i, d := range dayNames {
		if len(name) >= 3 && strings.HasPrefix(name, d) {
			return i
		}
	}
	return -1
}

// LoadHolidays reads a holidays file into c. Each line is a date (2026-10-01), a range of dates
// (2026-10-01..2026-10-07), or a date with a leading + for an extra working day (+2026-09-27);
// '#' starts a comment.
func (c *Calendar) LoadHolidays(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("holidays file: %w", err)
	}
	defer f.Close()
	return c.ReadHolidays(path, f)
}

// ReadHolidays reads holidays in the format of LoadHolidays; name is used in errors.
func (c *Calendar) ReadHolidays(name string, r io.Reader) error {
	if c.Holidays == nil {
		c.Holidays = map[int]bool{}
	}
	if c.ExtraWorkday == nil {
		c.ExtraWorkday = map[int]bool{}
	}
	scanner := bufio.NewScanner(r)
	for line := 1; scanner.Scan(); line++ {
		text, _, _ := strings.Cut(scanner.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		target := c.Holidays
		if rest, ok := strings.CutPrefix(text, "+"); ok {
			target, text = c.ExtraWorkday, strings.TrimSpace(rest)
		}
		from, to, isRange := strings.Cut(text, "..")
		first, err := time.Parse(time.DateOnly, strings.TrimSpace(from))
		last := first
		if err == nil && isRange {
			last, err = time.Parse(time.DateOnly, strings.TrimSpace(to))
		}
		if err != nil || last.Before(first) || last.Sub(first) > 366*24*time.Hour {
			return fmt.Errorf("%s:%d: %q is not a date such as 2026-10-01, a range such as 2026-10-01..2026-10-07, or +date for an extra working day", name, line, scanner.Text())
		}
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			target[dateKey(d)] = true
		}
	}
	return scanner.Err()
}

func dateKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// At returns the hour and weekday of t in the calendar's zone and whether t is working time.
func (c *Calendar) At(t time.Time) (hour, weekday int, work bool) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	hour = local.Hour()
	weekday = int(local.Weekday())

	day := c.WorkDays[weekday]
	if len(c.Holidays) > 0 || len(c.ExtraWorkday) > 0 {
		key := dateKey(local)
		switch {
		case c.ExtraWorkday[key]:
			day = true
		case c.Holidays[key]:
			day = false
		}
	}
	minute := hour*60 + local.Minute()
	return hour, weekday, day && minute >= c.WorkStart && minute < c.WorkEnd
}
