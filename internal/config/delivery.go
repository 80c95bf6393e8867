package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Delivery holds the settings of the disk spool, shutdown and response actions.
type Delivery struct {
	SpoolDir        string // empty keeps unsent InfluxDB points in memory only
	SpoolMaxBytes   int64
	ShutdownTimeout time.Duration

	WebhookURL     string // empty turns the webhook action off
	WebhookTimeout time.Duration

	BlocklistPath   string // empty turns the blocklist action off
	BlocklistFormat string // "nft" or "ipset"
	BlocklistTTL    time.Duration
	// BlocklistAllow lists addresses that are never blocked. BlocklistAllowInternal adds the
	// Internal_Networks to it.
	BlocklistAllow         []netip.Prefix
	BlocklistAllowInternal bool
}

// DefaultSpoolMaxBytes is Spool_Max_Bytes' default, 256 MiB.
const DefaultSpoolMaxBytes = 256 << 20

var deliveryKeys = []Key{
	{Name: "Spool_Dir", Help: "directory where points InfluxDB has not accepted yet are kept across outages and restarts; empty keeps them in memory only",
		apply: func(c *Config, v string) error { c.SpoolDir = v; return nil }},
	{Name: "Spool_Max_Bytes", Default: "256M", Help: "maximum size of the spool in bytes, with an optional K, M or G suffix (powers of 1024); traffic and plugin points are dropped first when it is full",
		apply: applySpoolMaxBytes},
	{Name: "Shutdown_Timeout", Default: "4s", Help: "how long stopping an instance may take to send what is pending; the rest stays in the spool. Keep it below Fluent Bit's Grace (5s by default)",
		apply: applyShutdownTimeout},
	{Name: "Webhook_URL", Help: "http or https URL that anomalies of rules with actions: [webhook] are POSTed to as JSON; empty turns the action off",
		apply: applyWebhookURL},
	{Name: "Webhook_Timeout", Default: "5s", Help: "time limit of one webhook request",
		apply: applyWebhookTimeout},
	{Name: "Blocklist_Path", Help: "file that rules with actions: [blocklist] add the source address of a firing anomaly to; empty turns the action off",
		apply: func(c *Config, v string) error { c.BlocklistPath = v; return nil }},
	{Name: "Blocklist_Format", Default: "nft", Help: "blocklist file format: nft (a script for nft -f) or ipset (a file for ipset restore)",
		apply: applyBlocklistFormat},
	{Name: "Blocklist_TTL", Default: "1h", Help: "how long an address stays on the blocklist after its last firing anomaly",
		apply: applyBlocklistTTL},
	{Name: "Blocklist_Allow", Default: "internal", Help: "comma-separated CIDRs that are never blocked; the word internal adds Internal_Networks",
		apply: applyBlocklistAllow},
}

// deliveryAttrs returns the delivery settings as log attributes. The webhook URL is logged without
// its user information and query, which may carry credentials.
func (d Delivery) deliveryAttrs() []slog.Attr {
	allow := make([]string, 0, len(d.BlocklistAllow)+1)
	if d.BlocklistAllowInternal {
		allow = append(allow, "internal")
	}
	for _, p := range d.BlocklistAllow {
		allow = append(allow, p.String())
	}

	webhook := ""
	if u, err := url.Parse(d.WebhookURL); err == nil && d.WebhookURL != "" {
		webhook = u.Scheme + "://" + u.Host + u.Path
	}
	return []slog.Attr{
		slog.String("spool_dir", d.SpoolDir),
		slog.Int64("spool_max_bytes", d.SpoolMaxBytes),
		slog.Duration("shutdown_timeout", d.ShutdownTimeout),
		slog.String("webhook_url", webhook),
		slog.Duration("webhook_timeout", d.WebhookTimeout),
		slog.String("blocklist_path", d.BlocklistPath),
		slog.String("blocklist_format", d.BlocklistFormat),
		slog.Duration("blocklist_ttl", d.BlocklistTTL),
		slog.String("blocklist_allow", strings.Join(allow, ",")),
	}
}

func applySpoolMaxBytes(c *Config, v string) error {
	n, err := parseBytes(v)
	if err != nil {
		return err
	}
	if n < 64<<10 {
		return errors.New("use at least 64K")
	}
	c.SpoolMaxBytes = n
	return nil
}

// parseBytes reads a byte count with an optional K, M or G suffix (powers of 1024).
func parseBytes(v string) (int64, error) {
	digits := strings.TrimSpace(v)
	multiplier := int64(1)
	if digits != "" {
		switch strings.ToUpper(digits[len(digits)-1:]) {
		case "K":
			multiplier = 1 << 10
		case "M":
			multiplier = 1 << 20
		case "G":
			multiplier = 1 << 30
		}
		if multiplier > 1 {
			digits = digits[:len(digits)-1]
		}
	}

	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/multiplier {
		return 0, errors.New("use a byte count such as 268435456, 256M or 1G")
	}
	return n * multiplier, nil
}

func applyShutdownTimeout(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond || d > time.Minute {
		return errors.New("use a duration from 100ms to 1m, such as 4s")
	}
	c.ShutdownTimeout = d
	return nil
}

func applyWebhookURL(c *Config, v string) error {
	if v == "" {
		c.WebhookURL = ""
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("use an http:// or https:// URL with a host")
	}
	c.WebhookURL = v
	return nil
}

func applyWebhookTimeout(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond || d > time.Minute {
		return errors.New("use a duration from 100ms to 1m, such as 5s")
	}
	c.WebhookTimeout = d
	return nil
}

func applyBlocklistFormat(c *Config, v string) error {
	switch strings.ToLower(v) {
	case "nft", "ipset":
		c.BlocklistFormat = strings.ToLower(v)
		return nil
	}
	return errors.New("use nft or ipset")
}

func applyBlocklistTTL(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d%time.Second != 0 {
		return errors.New("use a whole number of seconds of at least 1s, such as 1h")
	}
	c.BlocklistTTL = d
	return nil
}

func applyBlocklistAllow(c *Config, v string) error {
	c.BlocklistAllow = nil
	c.BlocklistAllowInternal = false
	for _, field := range splitList(v) {
		if strings.EqualFold(field, "internal") {
			c.BlocklistAllowInternal = true
			continue
		}
		p, err := netip.ParsePrefix(field)
		if err != nil {
			addr, addrErr := netip.ParseAddr(field)
			if addrErr != nil {
				return fmt.Errorf("%q is not a CIDR, an address or the word internal", field)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.BlocklistAllow = append(c.BlocklistAllow, p.Masked())
	}
	return nil
}
