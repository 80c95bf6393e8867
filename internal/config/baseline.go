package config

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/natwatch/natwatch/detector/baseline"
)

// Baselines holds the settings of seasonal baselines, host tracking and state snapshots.
type Baselines struct {
	BaselineMethod baseline.Method
	BaselineK      float64
	MaxHosts       int // internal hosts tracked at most
	HostMetricsTop int // natwatch_host points per tick at most; 0 writes none
	StateDir       string
	StateInterval  time.Duration
}

var baselineKeys = []Key{
	{Name: "Baseline_Method", Default: "mad", Help: "how baselines are computed: mad (median and median absolute deviation, robust to outliers) or stddev (mean and standard deviation)",
		apply: applyBaselineMethod},
	{Name: "Baseline_K", Default: "3", Help: "the upper bound of a baseline is expected + k × spread",
		apply: applyBaselineK},
	{Name: "Max_Hosts", Default: "10000", Help: "maximum number of internal hosts with baselines and host metrics; the least recently seen is evicted",
		apply: applyMaxHosts},
	{Name: "Host_Metrics_Top", Default: "50", Help: "natwatch_host points per tick, for the internal hosts with the most bytes; 0 writes none",
		apply: applyHostMetricsTop},
	{Name: "State_Dir", Help: "directory where baselines and windows are saved and restored at start-up, such as /var/lib/natwatch; empty keeps them in memory only",
		apply: func(c *Config, v string) error { c.StateDir = v; return nil }},
	{Name: "State_Interval", Default: "60s", Help: "how often the state is saved to State_Dir (wall clock for the plugin, record time for replay); it is saved at exit too",
		apply: applyStateInterval},
}

func applyBaselineMethod(c *Config, v string) error {
	m, err := baseline.ParseMethod(strings.ToLower(v))
	if err != nil {
		return errors.New("use mad or stddev")
	}
	c.BaselineMethod = m
	return nil
}

func applyBaselineK(c *Config, v string) error {
	k, err := strconv.ParseFloat(v, 64)
	if err != nil || !(k > 0) || k > 100 {
		return errors.New("use a number above 0 and at most 100, such as 3")
	}
	c.BaselineK = k
	return nil
}

func applyMaxHosts(c *Config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("use a positive whole number")
	}
	c.MaxHosts = n
	return nil
}

func applyHostMetricsTop(c *Config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return errors.New("use a whole number, 0 or more")
	}
	c.HostMetricsTop = n
	return nil
}

func applyStateInterval(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("use a duration such as 60s")
	}
	if d < time.Second {
		return errors.New("use 1s or more")
	}
	c.StateInterval = d
	return nil
}

// baselineAttrs returns the baseline and state settings as log attributes.
func (b Baselines) baselineAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("baseline_method", b.BaselineMethod.String()),
		slog.Float64("baseline_k", b.BaselineK),
		slog.Int("max_hosts", b.MaxHosts),
		slog.Int("host_metrics_top", b.HostMetricsTop),
		slog.String("state_dir", b.StateDir),
		slog.Duration("state_interval", b.StateInterval),
	}
}
