// Package sampling keeps a deterministic share of the connections of high-volume record classes,
// such as DNS over UDP, and returns for each kept record the number of connections it represents.
//
// A record is kept or dropped by a hash of its flow tuple (source and destination address and
// port, protocol), never at random, so every record of one connection shares one fate and the
// detectors see whole connections.
package sampling

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natwatch/natwatch/internal/natlog"
)

// Class is one entry of a sampling list: the records it matches and the share of their
// connections it keeps. A zero field of the selector matches everything.
type Class struct {
	Name string // the selector as written, such as "udp/53"

	Proto        natlog.Proto
	HasProto     bool
	Port         uint16 // destination port
	HasPort      bool
	Direction    natlog.Direction
	HasDirection bool

	// Rate is N of 1/N: one connection in Rate is kept and counted Rate times. 1 keeps every
	// record, which exempts the class from later, broader entries.
	Rate uint16
}

// Matches reports whether ev belongs to the class.
func (c *Class) Matches(ev *natlog.ConnEvent) bool {
	if c.HasProto && ev.Proto != c.Proto {
		return false
	}
	if c.HasPort && ev.DstPort != c.Port {
		return false
	}
	if c.HasDirection && ev.Direction != c.Direction {
		return false
	}
	return true
}

// String returns the entry as class=1/N.
func (c *Class) String() string {
	return c.Name + "=1/" + strconv.Itoa(int(c.Rate))
}

// CarriesScans reports whether the class can match TCP records of any destination port, the
// records that port scans and SYN floods consist of.
func (c *Class) CarriesScans() bool {
	return !c.HasPort && (!c.HasProto || c.Proto == natlog.ProtoTCP)
}

// ParseRates parses a comma-separated list of class=1/N entries, such as
// "udp/53=1/10,proto:udp=1/20,direction:outbound=1/2". A class is one or more selectors joined
// by "+": PROTO/PORT, proto:PROTO, port:PORT or direction:DIRECTION. An explicit TCP class
// without a port is an error, because sampling would thin out the scans and floods that the
// distinct counts and SYN rates detect. warnings lists the classes without protocol and port,
// which match TCP records of every port as well.
func ParseRates(text string) (classes []Class, warnings []string, err error) {
	var errs []error
	seen := map[string]bool{}
	for entry := range strings.SplitSeq(text, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		c, err := parseEntry(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: %w", entry, err))
			continue
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("entry %q: class %s is listed twice", entry, c.Name))
			continue
		}
		seen[c.Name] = true
		if c.Rate > 1 && c.CarriesScans() {
			warnings = append(warnings, fmt.Sprintf("class %s matches TCP records of every destination port, so scans and SYN floods in it are sampled too", c.Name))
		}
		classes = append(classes, c)
	}
	return classes, warnings, errors.Join(errs...)
}

func parseEntry(entry string) (Class, error) {
	selector, rate, ok := strings.Cut(entry, "=")
	if !ok {
		return Class{}, errors.New("the entry is not class=1/N, such as udp/53=1/10")
	}
	var c Class
	var err error
	c.Rate, err = parseRate(strings.TrimSpace(rate))
	if err != nil {
		return Class{}, err
	}

	selector = strings.ToLower(strings.TrimSpace(selector))
	if selector == "" {
		return Class{}, errors.New("the class is missing")
	}
	var names []string
	for part := range strings.SplitSeq(selector, "+") {
		part = strings.TrimSpace(part)
		if err := c.addSelector(part); err != nil {
			return Class{}, err
		}
		names = append(names, part)
	}
	c.Name = strings.Join(names, "+")

	if c.Rate > 1 && c.HasProto && c.Proto == natlog.ProtoTCP && !c.HasPort {
		return Class{}, errors.New("sampling TCP without a destination port would hide scans and SYN floods; name a port, such as tcp/443")
	}
	return c, nil
}

func parseRate(text string) (uint16, error) {
	one, n, ok := strings.Cut(text, "/")
	if !ok || strings.TrimSpace(one) != "1" {
		return 0, fmt.Errorf("rate %q is not 1/N", text)
	}
	rate, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || rate < 1 || rate > math.MaxUint16 {
		return 0, fmt.Errorf("rate %q is not 1/N with N from 1 to 65535", text)
	}
	return uint16(rate), nil
}

func (c *Class) addSelector(part string) error {
	name, value, isNamed := strings.Cut(part, ":")
	if !isNamed {
		proto, port, ok := strings.Cut(part, "/")
		if !ok {
			return fmt.Errorf("selector %q is not PROTO/PORT, proto:, port: or direction:", part)
		}
		if err := c.setProto(proto); err != nil {
			return err
		}
		return c.setPort(port)
	}

	switch strings.TrimSpace(name) {
	case "proto":
		return c.setProto(value)
	case "port":
		return c.setPort(value)
	case "direction":
		return c.setDirection(value)
	}
	return fmt.Errorf("selector %q: unknown field %q; use proto, port or direction", part, name)
}

func (c *Class) setProto(text string) error {
	text = strings.TrimSpace(text)
	if c.HasProto {
		return fmt.Errorf("protocol %q is given twice", text)
	}
	if text == "" {
		return errors.New("the protocol is missing")
	}
	if n, err := strconv.Atoi(text); err == nil && n >= 1 && n <= 255 {
		c.Proto, c.HasProto = natlog.Proto(n), true
		return nil
	}
	for i := 1; i < 256; i++ {
		if natlog.Proto(i).String() == text {
			c.Proto, c.HasProto = natlog.Proto(i), true
			return nil
		}
	}
	return fmt.Errorf("unknown protocol %q; use tcp, udp, icmp, icmpv6, gre, esp, sctp or a number from 1 to 255", text)
}

func (c *Class) setPort(text string) error {
	text = strings.TrimSpace(text)
	if c.HasPort {
		return fmt.Errorf("port %q is given twice", text)
	}
	port, err := strconv.Atoi(text)
	if err != nil || port < 1 || port > math.MaxUint16 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", text)
	}
	c.Port, c.HasPort = uint16(port), true
	return nil
}

func (c *Class) setDirection(text string) error {
	text = strings.TrimSpace(text)
	if c.HasDirection {
		return fmt.Errorf("direction %q is given twice", text)
	}
	for d := natlog.DirectionOutbound; d <= natlog.DirectionExternal; d++ {
		if d.String() == text {
			c.Direction, c.HasDirection = d, true
			return nil
		}
	}
	return fmt.Errorf("unknown direction %q; use outbound, inbound, internal or external", text)
}

// Window is a span of local time in which nothing is sampled.
type Window struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes after midnight; the window is [Start, End)
}

// ParseFullCapture parses a comma-separated list of full-capture windows. An entry is a time
// range on every day ("00:00-06:00"), a day or range of days ("sat-sun"), or both ("sat-sun
// 00:00-06:00"). A range that crosses midnight is written as two entries.
func ParseFullCapture(text string) ([]Window, error) {
	var windows []Window
	var errs []error
	for entry := range strings.SplitSeq(text, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		w, err := parseWindow(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: %w", entry, err))
			continue
		}
		windows = append(windows, w)
	}
	return windows, errors.Join(errs...)
}

func parseWindow(entry string) (Window, error) {
	w := Window{End: 24 * 60}
	for d := range w.Days {
		w.Days[d] = true
	}

	days, hours := "", entry
	if fields := strings.Fields(entry); len(fields) == 2 {
		days, hours = fields[0], fields[1]
	} else if len(fields) > 2 {
		return Window{}, errors.New("use DAYS, HH:MM-HH:MM or DAYS HH:MM-HH:MM")
	} else if !strings.Contains(entry, ":") {
		days, hours = entry, ""
	}

	if days != "" {
		if strings.Contains(days, ",") {
			return Window{}, errors.New("list days as separate entries or as a range such as sat-sun")
		}
		parsed, err := parseDays(days)
		if err != nil {
			return Window{}, err
		}
		w.Days = parsed
	}
	if hours != "" {
		start, end, err := parseHours(hours)
		if err != nil {
			return Window{}, err
		}
		w.Start, w.End = start, end
	}
	return w, nil
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// parseDays parses a day ("sat") or a range of days ("fri-mon", which wraps past Sunday).
func parseDays(text string) ([7]bool, error) {
	var days [7]bool
	from, to, isRange := strings.Cut(strings.ToLower(text), "-")
	if !isRange {
		to = from
	}
	first, last := slices.Index(dayNames[:], from), slices.Index(dayNames[:], to)
	if first < 0 || last < 0 {
		return days, fmt.Errorf("%q is not a day or a range of days such as sat-sun", text)
	}
	for d := first; ; d = (d + 1) % 7 {
		days[d] = true
		if d == last {
			return days, nil
		}
	}
}

// parseHours parses "00:00-06:00" into minutes after midnight. The end may be 24:00 and must be
// later than the start.
func parseHours(text string) (start, end int, err error) {
	from, to, ok := strings.Cut(text, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range of times such as 00:00-06:00", text)
	}
	if start, err = parseClock(from); err != nil {
		return 0, 0, err
	}
	if end, err = parseClock(to); err != nil {
		return 0, 0, err
	}
	if end <= start {
		return 0, 0, fmt.Errorf("%q ends before it starts; write a range across midnight as two entries", text)
	}
	return start, end, nil
}

func parseClock(text string) (int, error) {
	h, m, ok := strings.Cut(text, ":")
	hour, hourErr := strconv.Atoi(h)
	minute, minuteErr := strconv.Atoi(m)
	if !ok || hourErr != nil || minuteErr != nil || len(m) != 2 || hour < 0 || hour > 24 ||
		minute < 0 || minute > 59 || (hour == 24 && minute != 0) {
		return 0, fmt.Errorf("%q is not a time of day such as 06:00", text)
	}
	return hour*60 + minute, nil
}

// Config sets up a Sampler.
type Config struct {
	Classes     []Class        // first match wins; records of no class are kept whole
	FullCapture []Window       // local times without sampling
	Location    *time.Location // time zone of FullCapture; nil is UTC
}

// Sampler decides which records to keep. It is not safe for concurrent use; the detector calls
// it under its own lock.
type Sampler struct {
	cfg     Config
	dropped []uint64 // records dropped, per class

	// The full-capture result of the latest minute, cached so that most records skip the time
	// zone conversion.
	cachedMinute int64
	cachedFull   bool
}

// New returns a Sampler, or nil when cfg has no class that samples, so that callers can test
// for nil to skip sampling altogether.
func New(cfg Config) *Sampler {
	active := false
	for _, c := range cfg.Classes {
		active = active || c.Rate > 1
	}
	if !active {
		return nil
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return &Sampler{cfg: cfg, dropped: make([]uint64, len(cfg.Classes)), cachedMinute: math.MinInt64}
}

// Decide returns whether to keep ev and, for a kept record, how many connections it
// represents: 1 for a record that is not sampled, N for a kept record of a 1/N class.
func (s *Sampler) Decide(ev *natlog.ConnEvent) (weight uint16, keep bool) {
	i := s.classOf(ev)
	if i < 0 {
		return 1, true
	}
	rate := s.cfg.Classes[i].Rate
	if rate <= 1 || s.fullCapture(ev.Time) {
		return 1, true
	}
	if FlowHash(ev)%uint64(rate) != 0 {
		s.dropped[i]++
		return 0, false
	}
	return rate, true
}

func (s *Sampler) classOf(ev *natlog.ConnEvent) int {
	for i := range s.cfg.Classes {
		if s.cfg.Classes[i].Matches(ev) {
			return i
		}
	}
	return -1
}

// fullCapture reports whether t falls in a full-capture window. A record without a time is
// sampled as usual.
func (s *Sampler) fullCapture(t time.Time) bool {
	if len(s.cfg.FullCapture) == 0 || t.IsZero() {
		return false
	}
	minute := t.Unix() / 60
	if minute == s.cachedMinute {
		return s.cachedFull
	}

	local := t.In(s.cfg.Location)
	day := local.Weekday()
	clock := local.Hour()*60 + local.Minute()
	full := false
	for _, w := range s.cfg.FullCapture {
		if w.Days[day] && clock >= w.Start && clock < w.End {
			full = true
			break
		}
	}
	s.cachedMinute, s.cachedFull = minute, full
	return full
}

// Dropped returns the records dropped so far per class name, with every class listed.
func (s *Sampler) Dropped() map[string]uint64 {
	out := make(map[string]uint64, len(s.cfg.Classes))
	for i, c := range s.cfg.Classes {
		out[c.Name] += s.dropped[i]
	}
	return out
}

// FlowHash returns a hash of ev's flow tuple (addresses, ports and protocol). It is the same in
// every process and on every platform, so two natwatch instances sample the same connections.
func FlowHash(ev *natlog.ConnEvent) uint64 {
	src := ev.Src.As16()
	dst := ev.Dst.As16()
	h := uint64(ev.Proto)<<32 | uint64(ev.SrcPort)<<16 | uint64(ev.DstPort)
	h = mix(h)
	for _, word := range [4]uint64{
		binary.BigEndian.Uint64(src[:8]), binary.BigEndian.Uint64(src[8:]),
		binary.BigEndian.Uint64(dst[:8]), binary.BigEndian.Uint64(dst[8:]),
	} {
		h = mix(h ^ (word * 0x9e3779b97f4a7c15))
	}
	return h
}

// mix is the finaliser of SplitMix64, which spreads every input bit over the whole result.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
