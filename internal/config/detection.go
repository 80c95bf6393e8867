package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/natwatch/natwatch/detector/behavior"
	"github.com/natwatch/natwatch/detector/rules"
)

// Detection holds the settings of rule functions, behavior detectors and reloads.
type Detection struct {
	GeoIPDatabase   string // comma-separated .mmdb paths; empty: country() returns "" and asn() 0
	HomeCountry     string // ISO 3166-1 alpha-2 code for is_foreign; empty: nothing is foreign
	ThreatIntelPath string // directory of threat-intel feeds; empty: no threat matches

	WorkStart, WorkEnd int // minutes after midnight
	WorkDays           [7]bool
	HolidaysFile       string

	ReloadPoll time.Duration // poll interval for rule and feed changes; 0 turns the poll off

	SummaryLanguage string // "en" or "zh": which summary text anomalies carry
}

var detectionKeys = []Key{
	{Name: "GeoIP_Database", Help: "comma-separated MaxMind-format .mmdb files for country() and asn(), such as GeoLite2-Country.mmdb,GeoLite2-ASN.mmdb",
		apply: func(c *Config, v string) error { c.GeoIPDatabase = v; return nil }},
	{Name: "Home_Country", Help: "ISO 3166-1 alpha-2 code of the home country for is_foreign(), such as CN",
		apply: applyHomeCountry},
	{Name: "Threat_Intel_Path", Help: "directory of threat-intel feeds (*.txt, *.list, *.csv address lists and *.json STIX 2.1 bundles) for threat()",
		apply: func(c *Config, v string) error { c.ThreatIntelPath = v; return nil }},
	{Name: "Work_Hours", Default: "09:00-18:00", Help: "local working hours for work_time(), such as 09:00-18:00",
		apply: applyWorkHours},
	{Name: "Work_Days", Default: "mon-fri", Help: "working days for work_time(), such as mon-fri or mon,tue,thu-sat",
		apply: applyWorkDays},
	{Name: "Holidays_File", Help: "file of holiday dates (2026-10-01 or 2026-10-01..2026-10-07) and extra working days (+2026-09-27) for work_time()",
		apply: func(c *Config, v string) error { c.HolidaysFile = v; return nil }},
	{Name: "Summary_Language", Default: "en", Help: "language of anomaly summaries: en, or zh for the rules' summary_zh text",
		apply: applySummaryLanguage},
	{Name: "Reload_Poll_Interval", Default: "5s", Help: "how often the rules and threat-intel directories are also polled for changes, for file systems without change events; 0 turns the poll off",
		apply: applyReloadPoll},
}

// Calendar returns the work calendar the settings describe, in loc. It reads the holidays file.
func (d Detection) Calendar(loc *time.Location) (behavior.Calendar, error) {
	cal := behavior.Calendar{Location: loc, WorkStart: d.WorkStart, WorkEnd: d.WorkEnd, WorkDays: d.WorkDays}
	if d.HolidaysFile != "" {
		if err := cal.LoadHolidays(d.HolidaysFile); err != nil {
			return cal, err
		}
	}
	return cal, nil
}

func applyHomeCountry(c *Config, v string) error {
	if v == "" {
		c.HomeCountry = ""
		return nil
	}
	code, err := rules.ParseCountry(v)
	if err != nil {
		return err
	}
	c.HomeCountry = code
	return nil
}

func applyWorkHours(c *Config, v string) error {
	start, end, err := behavior.ParseWorkHours(v)
	if err != nil {
		return err
	}
	c.WorkStart, c.WorkEnd = start, end
	return nil
}

func applyWorkDays(c *Config, v string) error {
	days, err := behavior.ParseWorkDays(v)
	if err != nil {
		return err
	}
	c.WorkDays = days
	return nil
}

func applyReloadPoll(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d > 0 && d < 100*time.Millisecond) {
		return errors.New("use 0 or a duration of at least 100ms, such as 5s")
	}
	c.ReloadPoll = d
	return nil
}

func applySummaryLanguage(c *Config, v string) error {
	switch strings.ToLower(v) {
	case "en", "zh":
		c.SummaryLanguage = strings.ToLower(v)
		return nil
	}
	return errors.New("use en or zh")
}

func (d Detection) detectionAttrs() []slog.Attr {
	var days []string
	for i, name := range []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} {
		if d.WorkDays[i] {
			days = append(days, name)
		}
	}
	return []slog.Attr{
		slog.String("geoip_database", d.GeoIPDatabase),
		slog.String("home_country", d.HomeCountry),
		slog.String("threat_intel_path", d.ThreatIntelPath),
		slog.String("work_hours", fmt.Sprintf("%02d:%02d-%02d:%02d", d.WorkStart/60, d.WorkStart%60, d.WorkEnd/60, d.WorkEnd%60)),
		slog.String("work_days", strings.Join(days, ",")),
		slog.String("holidays_file", d.HolidaysFile),
		slog.Duration("reload_poll_interval", d.ReloadPoll),
		slog.String("summary_language", d.SummaryLanguage),
	}
}
