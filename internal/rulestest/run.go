package rulestest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/natwatch/natwatch"
	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/detector/behavior"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/detector/sampling"
	"github.com/natwatch/natwatch/internal/chunk"
	"github.com/natwatch/natwatch/internal/geo"
	"github.com/natwatch/natwatch/internal/intel"
	"github.com/natwatch/natwatch/internal/natlog"
)

// Result is the outcome of one test case.
type Result struct {
	File   string
	Name   string
	Passed bool
	// Diff lists what went wrong: "- " lines were expected and missing, "+ " lines happened
	// but were not expected, other lines explain input errors.
	Diff []string
}

// RunFile runs every case of a test file. It returns an error when the file cannot be read or
// parsed or its rules do not load. A failing case is a Result with Passed false.
func RunFile(path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	base := filepath.Dir(path)

	opts, err := f.Config.ruleOptions(base)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", path, err)
	}
	set, err := loadRules(f, base, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: rules:\n%w", path, err)
	}

	var results []Result
	for _, c := range f.Tests {
		r := Result{File: path, Name: c.Name}
		r.Diff = runCase(&f.Config, set, c)
		r.Passed = len(r.Diff) == 0
		results = append(results, r)
	}
	return results, nil
}

// resolve makes a path of a test file relative to the test file's directory.
func resolve(base, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(base, path)
}

func loadRules(f *File, base string, opts rules.Options) (*rules.Set, error) {
	switch {
	case len(f.RuleFiles) > 0 && f.RulesDir != "":
		return nil, errors.New("give rule_files or rules_dir, not both")
	case len(f.RuleFiles) > 0:
		var paths []string
		for _, p := range f.RuleFiles {
			paths = append(paths, resolve(base, p))
		}
		return opts.LoadFiles(paths...)
	case f.RulesDir != "":
		return opts.LoadDir(resolve(base, f.RulesDir))
	}
	names, err := natwatchRuleNames()
	if err != nil {
		return nil, err
	}
	var files []*rules.File
	var errs rules.Errors
	for _, name := range names {
		data, err := natwatch.BuiltinRules.ReadFile(name)
		if err != nil {
			return nil, err
		}
		parsed, parseErrs := rules.ParseFile(name, data)
		files = append(files, parsed)
		errs = append(errs, parseErrs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return opts.Compile(files...)
}

func natwatchRuleNames() ([]string, error) {
	entries, err := natwatch.BuiltinRules.ReadDir("rules.d")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, "rules.d/"+e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// geoTable is an inline GeoIP table for tests.
type geoTable struct {
	prefixes []netip.Prefix
	entries  []GeoEntry
}

func (g *geoTable) find(addr netip.Addr) (GeoEntry, bool) {
	best := -1
	for i, p := range g.prefixes {
		if p.Contains(addr) && (best < 0 || p.Bits() > g.prefixes[best].Bits()) {
			best = i
		}
	}
	if best < 0 {
		return GeoEntry{}, false
	}
	return g.entries[best], true
}

func (g *geoTable) Country(addr netip.Addr) string {
	e, _ := g.find(addr)
	return strings.ToUpper(e.Country)
}

func (g *geoTable) ASN(addr netip.Addr) uint32 {
	e, _ := g.find(addr)
	return e.ASN
}

// prefixIntel is an inline threat-intel feed for tests.
type prefixIntel struct{ set *rules.PrefixSet }

func (p prefixIntel) Lookup(addr netip.Addr) (string, bool) {
	if p.set.Contains(addr) {
		return "test", true
	}
	return "", false
}

func (c *Config) ruleOptions(base string) (rules.Options, error) {
	opts := rules.Options{HomeCountry: c.HomeCountry, Lists: c.Lists}
	switch {
	case c.GeoIPDatabase != "":
		db, err := geo.Open(resolve(base, c.GeoIPDatabase))
		if err != nil {
			return opts, err
		}
		opts.Geo = db
	case len(c.GeoIP) > 0:
		table := &geoTable{}
		keys := make([]string, 0, len(c.GeoIP))
		for k := range c.GeoIP {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p, err := rules.ParsePrefix(k)
			if err != nil {
				return opts, fmt.Errorf("geoip: %q: %w", k, err)
			}
			table.prefixes = append(table.prefixes, p)
			table.entries = append(table.entries, c.GeoIP[k])
		}
		opts.Geo = table
	}
	switch {
	case c.ThreatIntelDir != "":
		feeds, err := intel.LoadDir(resolve(base, c.ThreatIntelDir))
		if err != nil {
			return opts, err
		}
		store := &intel.Store{}
		store.Set(feeds)
		opts.Intel = store
	case len(c.ThreatIntel) > 0:
		var prefixes []netip.Prefix
		for _, text := range c.ThreatIntel {
			p, err := rules.ParsePrefix(text)
			if err != nil {
				return opts, fmt.Errorf("threat_intel: %q: %w", text, err)
			}
			prefixes = append(prefixes, p)
		}
		opts.Intel = prefixIntel{rules.NewPrefixSet(prefixes)}
	}
	return opts, nil
}

func (c *Config) location() (*time.Location, error) {
	if c.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(c.TimeZone)
}

// sampler returns the sampler of sample_rates and sample_full_capture, nil when nothing is
// sampled.
func (c *Config) sampler(loc *time.Location) (*sampling.Sampler, error) {
	classes, _, err := sampling.ParseRates(c.SampleRates)
	if err != nil {
		return nil, fmt.Errorf("sample_rates: %w", err)
	}
	windows, err := sampling.ParseFullCapture(c.SampleFullCapture)
	if err != nil {
		return nil, fmt.Errorf("sample_full_capture: %w", err)
	}
	return sampling.New(sampling.Config{Classes: classes, FullCapture: windows, Location: loc}), nil
}

func (c *Config) calendar(loc *time.Location) (behavior.Calendar, error) {
	cal := behavior.DefaultCalendar()
	cal.Location = loc
	if c.WorkHours != "" {
		start, end, err := behavior.ParseWorkHours(c.WorkHours)
		if err != nil {
			return cal, err
		}
		cal.WorkStart, cal.WorkEnd = start, end
	}
	if c.WorkDays != "" {
		days, err := behavior.ParseWorkDays(c.WorkDays)
		if err != nil {
			return cal, err
		}
		cal.WorkDays = days
	}
	if len(c.Holidays) > 0 {
		if err := cal.ReadHolidays("holidays", strings.NewReader(strings.Join(c.Holidays, "\n"))); err != nil {
			return cal, err
		}
	}
	return cal, nil
}

// runCase replays one case through a fresh engine and compares the anomalies.
func runCase(cfg *Config, set *rules.Set, c Case) []string {
	loc, err := cfg.location()
	if err != nil {
		return []string{"config: " + err.Error()}
	}
	cal, err := cfg.calendar(loc)
	if err != nil {
		return []string{"config: " + err.Error()}
	}
	var internal []netip.Prefix
	for _, text := range cfg.InternalNetworks {
		p, err := rules.ParsePrefix(text)
		if err != nil {
			return []string{fmt.Sprintf("config: internal_networks: %q: %v", text, err)}
		}
		internal = append(internal, p)
	}
	norm, err := natlog.NewNormalizer(natlog.Options{Gateway: cfg.Gateway, InternalNets: internal, Location: loc})
	if err != nil {
		return []string{"config: " + err.Error()}
	}

	sampler, err := cfg.sampler(loc)
	if err != nil {
		return []string{"config: " + err.Error()}
	}

	var got []detector.Anomaly
	engine, err := detector.New(detector.Config{
		Rules:     set,
		Extension: behavior.New(behavior.Config{Calendar: cal}),
		OnAnomaly: func(a detector.Anomaly) { got = append(got, a) },
		Sampler:   sampler,
		Location:  loc, // baseline slots and hour() follow the test's time zone, as in the plugin
	})
	if err != nil {
		return []string{err.Error()}
	}

	events, problems := expandInputs(c.Input, norm, internal, cfg.Gateway)
	if len(problems) > 0 {
		return problems
	}
	slices.SortStableFunc(events, func(a, b natlog.ConnEvent) int { return a.Time.Compare(b.Time) })
	var last time.Time
	for i := range events {
		engine.Observe(&events[i])
		last = events[i].Time
	}
	end := last.Add(rules.MaxWindow + time.Minute)
	if c.End != "" {
		if end, err = parseTime(c.End); err != nil {
			return []string{"end: " + err.Error()}
		}
	}
	engine.Advance(end)

	return compare(c, got)
}

var jitterSource = rand.New(rand.NewPCG(1, 2))

func expandInputs(inputs []Input, norm *natlog.Normalizer, internal []netip.Prefix, gateway string) ([]natlog.ConnEvent, []string) {
	var events []natlog.ConnEvent
	var problems []string
	for i, in := range inputs {
		where := fmt.Sprintf("input %d", i+1)
		at, err := parseTime(in.At)
		if err != nil {
			problems = append(problems, where+": at: "+err.Error())
			continue
		}
		every, err := parseDuration(in.Every, time.Second)
		if err != nil {
			problems = append(problems, where+": every: "+err.Error())
			continue
		}
		count := max(in.Count, 1)
		if count > 100_000 {
			problems = append(problems, where+": count is more than 100000")
			continue
		}
		t := at
		for k := range count {
			ev, err := buildEvent(in, k, t, norm, internal, gateway)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s, record %d: %v", where, k+1, err))
				break
			}
			events = append(events, ev)
			step := every
			if in.Jitter > 0 {
				step += time.Duration((jitterSource.Float64()*2 - 1) * in.Jitter * float64(every)).Round(time.Second)
			}
			t = t.Add(step)
		}
	}
	return events, problems
}

func buildEvent(in Input, k int, at time.Time, norm *natlog.Normalizer, internal []netip.Prefix, gateway string) (natlog.ConnEvent, error) {
	var ev natlog.ConnEvent
	set := 0
	for _, given := range []bool{in.Line != "", in.Fields != nil, in.Event != nil} {
		if given {
			set++
		}
	}
	if set != 1 {
		return ev, errors.New("give exactly one of line, fields and event")
	}

	switch {
	case in.Line != "":
		if err := norm.Line([]byte(in.Line), at, &ev); err != nil {
			return ev, fmt.Errorf("line not parsed: %w", err)
		}
		ev.Raw = nil
		ev.Time = at
	case in.Fields != nil:
		record := map[string]any{}
		for name, v := range in.Fields {
			record[name] = stepValue(v, in.Step[name], k)
		}
		data := chunk.AppendEventV2(nil, at, record)
		var rec chunk.Event
		if !chunk.NewReader(data).Next(&rec) {
			return ev, errors.New("fields: the record could not be encoded")
		}
		if err := norm.Record(rec, "rules.test", &ev); err != nil {
			return ev, fmt.Errorf("fields not mapped: %w", err)
		}
		ev.Raw = nil
		ev.Time = at
	default:
		var err error
		if ev, err = in.Event.connEvent(in.Step, k, internal, gateway); err != nil {
			return ev, err
		}
		ev.Time = at
	}
	return ev, nil
}

// stepValue adds step×k to a number, or to the last part of an address.
func stepValue(v any, step, k int) any {
	if step == 0 || k == 0 {
		return v
	}
	switch n := v.(type) {
	case int:
		return n + step*k
	case string:
		if addr, err := netip.ParseAddr(n); err == nil {
			for range step * k {
				addr = addr.Next()
			}
			return addr.String()
		}
	}
	return v
}
