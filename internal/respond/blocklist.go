package respond

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/sink"
)

// Set names used in the blocklist file. IPv4 and IPv6 addresses go to separate sets because nft
// and ipset sets hold one address family each.
const (
	SetName4 = "natwatch_block"
	SetName6 = "natwatch_block6"
)

// BlocklistConfig configures NewBlocklist.
type BlocklistConfig struct {
	Path   string        // the file to rewrite
	Format string        // "nft" or "ipset"
	TTL    time.Duration // how long an address stays listed after its last firing anomaly

	// Allow lists prefixes that are never blocked, whatever a rule says.
	Allow []netip.Prefix
	// Excepted reports whether a rule's except lists, its own or the global ones, contain addr.
	// nil means no rule has except lists.
	Excepted func(rule string, addr netip.Addr) bool

	Logger *slog.Logger
	Now    func() time.Time // nil means time.Now
}

// BlocklistStats are a blocklist's counters.
type BlocklistStats struct {
	Listed   int    // addresses on the list now
	Added    uint64 // firing anomalies that added or extended an entry
	Allowed  uint64 // firing anomalies whose address was allowlisted and not blocked
	Writes   uint64 // times the file was rewritten
	Failures uint64 // failed rewrites
}

// Blocklist keeps a file of addresses to block: the source address of each firing anomaly of a
// rule with the blocklist action, unless the address is allowlisted. Each entry expires TTL after
// the last anomaly that listed it. The file is rewritten through a temporary file and a rename, so
// a reader sees the old or the new version whole, when an address is added and when one expires.
//
// In nft format the file is a script for `nft -f` that flushes and refills the sets natwatch_block
// (ipv4_addr) and natwatch_block6 (ipv6_addr) in table inet filter, which must exist with
// `flags timeout`. In ipset format it is input for `ipset restore` that creates the sets if
// missing, flushes and refills them. Entries carry their remaining time as the set timeout, so
// the kernel expires them even when the file is not loaded again.
type Blocklist struct {
	cfg BlocklistConfig

	mu      sync.Mutex
	entries map[netip.Addr]time.Time // address → expiry
	dirty   bool

	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once

	added    atomic.Uint64
	allowed  atomic.Uint64
	writes   atomic.Uint64
	failures atomic.Uint64
}

// NewBlocklist loads the entries of an existing file at cfg.Path, whose expiry is its
// modification time plus each entry's timeout, writes the file and starts the goroutine that
// keeps it current.
func NewBlocklist(cfg BlocklistConfig) (*Blocklist, error) {
	if cfg.Format != "nft" && cfg.Format != "ipset" {
		return nil, fmt.Errorf("blocklist %s: invalid format %q: use nft or ipset", cfg.Path, cfg.Format)
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("blocklist %s: invalid TTL %v: use at least 1s", cfg.Path, cfg.TTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	b := &Blocklist{
		cfg:     cfg,
		entries: make(map[netip.Addr]time.Time),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := b.load(); err != nil {
		return nil, err
	}
	if err := b.rewrite(); err != nil {
		return nil, err
	}
	go b.run()
	return b, nil
}

// entryPattern matches the address and timeout of one entry line in either format.
var entryPattern = regexp.MustCompile(`(?:add element inet filter \S+ \{ |add \S+ )([0-9A-Fa-f:.]+) timeout (\d+)s?`)

func (b *Blocklist) load() error {
	f, err := os.Open(b.cfg.Path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blocklist: %w", err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blocklist: %w", err)
	}
	now := b.cfg.Now()

	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		m := entryPattern.FindStringSubmatch(scanner.Text())
		if m == nil {
			continue
		}
		addr, err := netip.ParseAddr(m[1])
		seconds, convErr := strconv.Atoi(m[2])
		if err != nil || convErr != nil {
			continue
		}
		expiry := info.ModTime().Add(time.Duration(seconds) * time.Second)
		if expiry.After(now) && !b.allowlisted("", addr) {
			b.entries[addr] = expiry
		}
	}
	return scanner.Err()
}

// WriteAnomaly lists the source address of a firing anomaly whose rule has the blocklist action.
// It does not touch the disk; the goroutine rewrites the file.
func (b *Blocklist) WriteAnomaly(a detector.Anomaly) {
	if a.State != "firing" || !slices.Contains(a.Actions, "blocklist") {
		return
	}
	addr, ok := anomalyAddr(a)
	if !ok {
		return
	}
	if b.allowlisted(a.Rule, addr) {
		b.allowed.Add(1)
		return
	}

	expiry := b.cfg.Now().Add(b.cfg.TTL)
	b.mu.Lock()
	if expiry.After(b.entries[addr]) {
		b.entries[addr] = expiry
		b.dirty = true
	}
	b.mu.Unlock()
	b.added.Add(1)

	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// anomalyAddr returns the address to block: the anomaly's source, or its key when that is an
// address.
func anomalyAddr(a detector.Anomaly) (netip.Addr, bool) {
	for _, s := range []string{a.Src, a.Key} {
		if addr, err := netip.ParseAddr(s); err == nil {
			return addr.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// allowlisted reports whether addr must never be blocked: it is in Allow or a rule's except
// lists, or it is a loopback, link-local, multicast or unspecified address.
func (b *Blocklist) allowlisted(rule string, addr netip.Addr) bool {
	if addr.IsLoopback() || addr.IsLinkLocalUnicast() || addr.IsMulticast() || addr.IsUnspecified() {
		return true
	}
	for _, p := range b.cfg.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return rule != "" && b.cfg.Excepted != nil && b.cfg.Excepted(rule, addr)
}

// WriteTraffic does nothing: the blocklist reads anomalies only.
func (b *Blocklist) WriteTraffic(detector.TrafficPoint) {}

// WritePlugin does nothing: the blocklist reads anomalies only.
func (b *Blocklist) WritePlugin(sink.PluginStats) {}

// Stats returns the blocklist's counters.
func (b *Blocklist) Stats() BlocklistStats {
	b.mu.Lock()
	listed := len(b.entries)
	b.mu.Unlock()
	return BlocklistStats{Listed: listed, Added: b.added.Load(), Allowed: b.allowed.Load(), Writes: b.writes.Load(), Failures: b.failures.Load()}
}

// Close stops the goroutine and writes the file one last time.
func (b *Blocklist) Close(ctx context.Context) error {
	var err error
	b.closed.Do(func() {
		close(b.stop)
		<-b.done
		err = b.rewrite()
	})
	return err
}

// run rewrites the file when an entry is added and once per sweep interval, which removes expired
// entries.
func (b *Blocklist) run() {
	defer close(b.done)

	sweep := time.NewTicker(min(max(b.cfg.TTL/10, time.Second), time.Minute))
	defer sweep.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.wake:
		case <-sweep.C:
		}
		if err := b.rewrite(); err != nil {
			b.cfg.Logger.Error("blocklist: rewrite failed; the previous file stays in place", "path", b.cfg.Path, "error", err)
		}
	}
}

// rewrite removes expired entries and, when anything changed, replaces the file.
func (b *Blocklist) rewrite() error {
	now := b.cfg.Now()

	b.mu.Lock()
	for addr, expiry := range b.entries {
		if !expiry.After(now) {
			delete(b.entries, addr)
			b.dirty = true
		}
	}
	if !b.dirty && b.writes.Load() > 0 {
		b.mu.Unlock()
		return nil
	}
	addrs := make([]netip.Addr, 0, len(b.entries))
	for addr := range b.entries {
		addrs = append(addrs, addr)
	}
	slices.SortFunc(addrs, func(x, y netip.Addr) int { return x.Compare(y) })
	content := b.render(addrs, now)
	b.dirty = false
	b.mu.Unlock()

	if err := writeAtomic(b.cfg.Path, content); err != nil {
		b.failures.Add(1)
		b.mu.Lock()
		b.dirty = true
		b.mu.Unlock()
		return err
	}
	b.writes.Add(1)
	return nil
}

// render returns the file for addrs; b.mu must be held.
func (b *Blocklist) render(addrs []netip.Addr, now time.Time) []byte {
	var sb strings.Builder
	ttl := int(b.cfg.TTL / time.Second)
	fmt.Fprintf(&sb, "# natwatch blocklist, written %s; %d addresses.\n", now.UTC().Format(time.RFC3339), len(addrs))

	if b.cfg.Format == "nft" {
		sb.WriteString("# Load with: nft -f FILE. The sets must exist in table inet filter with flags timeout.\n")
		fmt.Fprintf(&sb, "flush set inet filter %s\nflush set inet filter %s\n", SetName4, SetName6)
	} else {
		sb.WriteString("# Load with: ipset restore -exist < FILE\n")
		fmt.Fprintf(&sb, "create %s hash:ip family inet timeout %d\ncreate %s hash:ip family inet6 timeout %d\n", SetName4, ttl, SetName6, ttl)
		fmt.Fprintf(&sb, "flush %s\nflush %s\n", SetName4, SetName6)
	}

	for _, addr := range addrs {
		set := SetName4
		if addr.Is6() {
			set = SetName6
		}
		remaining := int(b.entries[addr].Sub(now).Round(time.Second) / time.Second)
		remaining = max(remaining, 1)
		if b.cfg.Format == "nft" {
			fmt.Fprintf(&sb, "add element inet filter %s { %s timeout %ds }\n", set, addr, remaining)
		} else {
			fmt.Fprintf(&sb, "add %s %s timeout %d\n", set, addr, remaining)
		}
	}
	return []byte(sb.String())
}

// writeAtomic replaces path with content through a temporary file in the same directory.
func writeAtomic(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("blocklist: %w", err)
	}
	_, err = tmp.Write(content)
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("blocklist: write %s: %w", path, err)
	}
	return nil
}
