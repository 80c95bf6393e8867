package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const scanRule = `rules:
  - name: %s
    severity: high
    kind: window
    window: 1m
    when: dst_ports > 50
    summary: "{{ .key }} probed {{ .value }} ports"
`

func ruleFile(name string) string {
	return strings.Replace(scanRule, "%s", name, 1)
}

// logBuffer collects log output safely across the watcher goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLivePipeline(t *testing.T, dir string) (*Pipeline, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := testConfig(t, map[string]string{"Rules_Path": dir, "Anomaly_Stdout": "off", "Reload_Poll_Interval": "0"})
	p, err := New(cfg, Options{Live: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, logs
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes; file events arrive asynchronously.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ruleNames(p *Pipeline) []string {
	var names []string
	for _, r := range p.Rules().Set.Rules() {
		names = append(names, r.Name)
	}
	return names
}

func hasRule(p *Pipeline, name string) bool {
	return p.Rules().Set.Rule(name) != nil
}

func TestReloadEditRenameMove(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), ruleFile("scan_a"))
	p, _ := newLivePipeline(t, dir)

	// An editor that writes in place.
	writeFile(t, filepath.Join(dir, "a.yaml"), ruleFile("scan_edited"))
	waitFor(t, time.Second, "in-place edit applied", func() bool { return hasRule(p, "scan_edited") })

	// An editor that writes a temporary file and renames it over the original.
	tmp := filepath.Join(dir, ".a.yaml.swp")
	writeFile(t, tmp, ruleFile("scan_renamed"))
	if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "rename over the file applied", func() bool { return hasRule(p, "scan_renamed") })

	// A file moved into the directory from elsewhere.
	writeFile(t, filepath.Join(outside, "b.yaml"), ruleFile("scan_moved_in"))
	if err := os.Rename(filepath.Join(outside, "b.yaml"), filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "moved-in file applied", func() bool { return hasRule(p, "scan_moved_in") })

	// A file removed from the directory.
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "removed file dropped", func() bool { return !hasRule(p, "scan_renamed") })

	if got := strings.Join(ruleNames(p), ","); got != "scan_moved_in" {
		t.Errorf("rules = %s, want scan_moved_in", got)
	}
	if got := p.detect.ruleReloads.Load(); got != 4 {
		t.Errorf("rule reloads = %d, want 4", got)
	}
}

func TestReloadBrokenFileKeepsRules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), ruleFile("scan_a"))
	p, logs := newLivePipeline(t, dir)

	writeFile(t, filepath.Join(dir, "broken.yaml"), "rules:\n  - name: bad\n    severity: hgih\n    kind: window\n    windw: 1m\n")
	waitFor(t, time.Second, "reload failure counted", func() bool { return p.detect.ruleReloadFailures.Load() == 1 })

	if got := strings.Join(ruleNames(p), ","); got != "scan_a" {
		t.Errorf("rules after a broken file = %s, want scan_a", got)
	}
	stats := p.pluginStats(time.Now())
	if stats.RuleReloadFailures != 1 || stats.RuleReloads != 0 {
		t.Errorf("plugin stats reloads = %d, failures = %d, want 0 and 1", stats.RuleReloads, stats.RuleReloadFailures)
	}
	for _, want := range []string{
		`broken.yaml:3:15: rule \"bad\": invalid severity \"hgih\"`,
		`broken.yaml:5:5: rule \"bad\": unknown key \"windw\"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}

	// The scan rule still fires on the rules in force.
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	if err := p.Flush(scanChunk(start, "198.51.100.77", 60), "gw.kern"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.engine.Advance(start.Add(10 * time.Second))
	fired := p.engine.Stats().AnomaliesFired
	p.mu.Unlock()
	if fired != 1 {
		t.Errorf("anomalies fired = %d, want 1", fired)
	}

	// Fixing the file applies both files.
	writeFile(t, filepath.Join(dir, "broken.yaml"), ruleFile("scan_fixed"))
	waitFor(t, time.Second, "fixed file applied", func() bool { return hasRule(p, "scan_fixed") })
}

func TestReloadKeepsAlertStateOfUnchangedRules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), ruleFile("scan_a"))
	p, _ := newLivePipeline(t, dir)

	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	if err := p.Flush(scanChunk(start, "198.51.100.77", 60), "gw.kern"); err != nil {
		t.Fatal(err)
	}

	// Another file appears; scan_a is unchanged and must not fire again for the same source.
	writeFile(t, filepath.Join(dir, "b.yaml"), ruleFile("scan_b"))
	waitFor(t, time.Second, "second file applied", func() bool { return hasRule(p, "scan_b") })
	if err := p.Flush(scanChunk(start.Add(7*time.Second), "198.51.100.77", 60), "gw.kern"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.engine.Advance(start.Add(20 * time.Second))
	fired := p.engine.Stats().AnomaliesFired
	p.mu.Unlock()
	// scan_a fires once before the reload; scan_b fires once after it.
	if fired != 2 {
		t.Errorf("anomalies fired = %d, want 2", fired)
	}
}

func TestBuiltinRulesNotWatched(t *testing.T) {
	cfg := testConfig(t, map[string]string{"Anomaly_Stdout": "off"})
	p, err := New(cfg, Options{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if p.detect.ruleWatcher != nil {
		t.Error("the built-in rule pack has a watcher")
	}
	p.ReloadRules()
	if got := p.detect.ruleReloads.Load() + p.detect.ruleReloadFailures.Load(); got != 0 {
		t.Errorf("reloads of the built-in pack = %d, want 0", got)
	}
}
