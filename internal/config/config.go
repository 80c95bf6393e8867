// Package config reads and validates natwatch's settings, whether they come from a Fluent Bit
// [OUTPUT] section or from command-line flags.
//
// Fluent Bit consumes some property names itself (Match, Alias, Log_Level, Workers, Retry_Limit,
// host, port, tls.*) and hands them to a Go plugin as empty strings, so every key here has a name
// of its own.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natwatch/natwatch/internal/natlog"
)

// Config is the validated configuration of one natwatch pipeline.
type Config struct {
	RulesPath        string // directory of *.yaml rule files; empty means the built-in rule pack
	InfluxURL        string
	InfluxToken      string
	InfluxOrg        string
	InfluxBucket     string
	Gateway          string
	InternalNetworks []netip.Prefix
	Location         *time.Location
	LogLevel         slog.Level
	FieldMap         map[string]string
	AnomalyStdout    bool // write anomalies to stdout as JSON lines
	MaxSources       int
	TickInterval     time.Duration

	Detection // rule functions, behavior detectors and reloads: detection.go
	Delivery  // spool, shutdown and response actions: delivery.go
	Baselines // seasonal baselines, host tracking and state snapshots: baseline.go
	Sampling  // sampling of high-volume record classes: sampling.go
}

// Key describes one configuration key: its name, default and what it sets.
type Key struct {
	Name    string
	Default string
	Help    string
	apply   func(c *Config, value string) error
}

// DefaultInternalNetworks are the private and unique-local ranges of RFC 1918 and RFC 4193.
const DefaultInternalNetworks = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

// Keys lists every key natwatch accepts, in the order the docs show them.
var Keys = append([]Key{
	{Name: "Rules_Path", Help: "directory of rule files (*.yaml, *.yml), reloaded on change; empty uses the built-in rule pack",
		apply: func(c *Config, v string) error { c.RulesPath = v; return nil }},
	{Name: "InfluxDB_URL", Help: "InfluxDB base URL, such as http://127.0.0.1:8086; empty disables InfluxDB",
		apply: applyInfluxURL},
	{Name: "InfluxDB_Token", Help: "InfluxDB 2.x/3.x token, or user:password for InfluxDB 1.8",
		apply: func(c *Config, v string) error { c.InfluxToken = v; return nil }},
	{Name: "InfluxDB_Org", Help: "InfluxDB organization; empty for InfluxDB 1.8",
		apply: func(c *Config, v string) error { c.InfluxOrg = v; return nil }},
	{Name: "InfluxDB_Bucket", Default: "natwatch", Help: "bucket, or database[/retention-policy] for InfluxDB 1.8",
		apply: func(c *Config, v string) error { c.InfluxBucket = v; return nil }},
	{Name: "Gateway", Help: "gateway name for records that carry none; empty uses the log's host name or the Fluent Bit tag",
		apply: func(c *Config, v string) error { c.Gateway = v; return nil }},
	{Name: "Internal_Networks", Default: DefaultInternalNetworks, Help: "comma-separated CIDRs of the internal side, used for traffic direction",
		apply: applyInternalNetworks},
	{Name: "Time_Zone", Default: "Local", Help: "IANA time zone for log timestamps without one, such as Asia/Shanghai",
		apply: applyTimeZone},
	{Name: "Plugin_Log_Level", Default: "info", Help: "natwatch's own log level: debug, info, warn or error",
		apply: applyLogLevel},
	{Name: "Field_Map", Help: "comma-separated field=record_key pairs for records Fluent Bit already parsed, such as src=source.ip,dport=dpt",
		apply: applyFieldMap},
	{Name: "Anomaly_Stdout", Help: "write anomalies to stdout as JSON lines: on or off; the plugin's default is on when InfluxDB_URL is empty, replay's is on",
		apply: applyAnomalyStdout},
	{Name: "Max_Sources", Default: "1000000", Help: "maximum number of source addresses tracked at once; the least recently seen is evicted",
		apply: applyMaxSources},
	{Name: "Tick_Interval", Default: "1s", Help: "how often window rules run and traffic points are written: whole seconds from 1s to 60s",
		apply: applyTickInterval},
}, slices.Concat(detectionKeys, deliveryKeys, baselineKeys, samplingKeys)...)

// FromProperties builds a Config by reading every key through get, which returns "" for a key that
// is not set. It reports every invalid value at once.
func FromProperties(get func(key string) string) (Config, error) {
	var c Config
	var errs []error

	stdoutSet := false
	for _, k := range Keys {
		value := strings.TrimSpace(get(k.Name))
		if value == "" {
			value = k.Default
		} else if k.Name == "Anomaly_Stdout" {
			stdoutSet = true
		}
		if err := k.apply(&c, value); err != nil {
			errs = append(errs, fmt.Errorf("key %s: invalid value %q: %w", k.Name, value, err))
		}
	}
	if !stdoutSet {
		c.AnomalyStdout = c.InfluxURL == ""
	}
	return c, errors.Join(errs...)
}

// LogAttrs returns the effective settings as log attributes. The InfluxDB token is never included;
// only whether one is set.
func (c Config) LogAttrs() []slog.Attr {
	nets := make([]string, len(c.InternalNetworks))
	for i, p := range c.InternalNetworks {
		nets[i] = p.String()
	}
	rules := c.RulesPath
	if rules == "" {
		rules = "(built-in)"
	}
	return append([]slog.Attr{
		slog.String("rules_path", rules),
		slog.String("influxdb_url", c.InfluxURL),
		slog.Bool("influxdb_token_set", c.InfluxToken != ""),
		slog.String("influxdb_org", c.InfluxOrg),
		slog.String("influxdb_bucket", c.InfluxBucket),
		slog.String("gateway", c.Gateway),
		slog.String("internal_networks", strings.Join(nets, ",")),
		slog.String("time_zone", c.Location.String()),
		slog.String("plugin_log_level", c.LogLevel.String()),
		slog.Any("field_map", c.FieldMap),
		slog.Bool("anomaly_stdout", c.AnomalyStdout),
		slog.Int("max_sources", c.MaxSources),
		slog.Duration("tick_interval", c.TickInterval),
	}, slices.Concat(c.detectionAttrs(), c.deliveryAttrs(), c.baselineAttrs(), c.samplingAttrs())...)
}

func applyInfluxURL(c *Config, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("the scheme must be http or https")
	}
	if u.Host == "" {
		return errors.New("the host is missing")
	}
	c.InfluxURL = strings.TrimRight(v, "/")
	return nil
}

func applyInternalNetworks(c *Config, v string) error {
	c.InternalNetworks = nil
	for _, field := range splitList(v) {
		p, err := netip.ParsePrefix(field)
		if err != nil {
			addr, addrErr := netip.ParseAddr(field)
			if addrErr != nil {
				return fmt.Errorf("%q is not a CIDR or address", field)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.InternalNetworks = append(c.InternalNetworks, p.Masked())
	}
	return nil
}

func applyTimeZone(c *Config, v string) error {
	if strings.EqualFold(v, "local") {
		c.Location = time.Local
		return nil
	}
	if strings.EqualFold(v, "utc") {
		c.Location = time.UTC
		return nil
	}
	loc, err := time.LoadLocation(v)
	if err != nil {
		return errors.New("unknown time zone; use an IANA name such as Asia/Shanghai, UTC or Local")
	}
	c.Location = loc
	return nil
}

func applyLogLevel(c *Config, v string) error {
	switch strings.ToLower(v) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return errors.New("use debug, info, warn or error")
	}
	return nil
}

func applyFieldMap(c *Config, v string) error {
	c.FieldMap = nil
	for _, pair := range splitList(v) {
		name, key, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		key = strings.TrimSpace(key)
		if !ok || name == "" || key == "" {
			return fmt.Errorf("entry %q is not field=record_key", pair)
		}
		if known := natlog.FieldNames(); !slices.Contains(known, name) {
			return fmt.Errorf("unknown field %q; known fields: %s", name, strings.Join(known, ", "))
		}
		if c.FieldMap == nil {
			c.FieldMap = make(map[string]string)
		}
		c.FieldMap[name] = key
	}
	return nil
}

func applyAnomalyStdout(c *Config, v string) error {
	switch strings.ToLower(v) {
	case "", "off", "false", "no":
		c.AnomalyStdout = false
	case "on", "true", "yes":
		c.AnomalyStdout = true
	default:
		return errors.New("use on or off")
	}
	return nil
}

func applyMaxSources(c *Config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("use a positive whole number")
	}
	c.MaxSources = n
	return nil
}

func applyTickInterval(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("use a duration such as 1s")
	}
	if d < time.Second || d > time.Minute || d%time.Second != 0 {
		return errors.New("use a whole number of seconds from 1s to 60s")
	}
	c.TickInterval = d
	return nil
}

func splitList(v string) []string {
	var out []string
	for field := range strings.SplitSeq(v, ",") {
		field = strings.TrimSpace(field)
		if field != "" {
			out = append(out, field)
		}
	}
	return out
}
