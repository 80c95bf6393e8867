package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/natwatch/natwatch"
	"github.com/natwatch/natwatch/detector/behavior"
	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/config"
	"github.com/natwatch/natwatch/internal/geo"
	"github.com/natwatch/natwatch/internal/intel"
	"github.com/natwatch/natwatch/internal/reload"
)

// BuiltinRulesPath is RuleSource.Path for the embedded rule pack.
const BuiltinRulesPath = "(built-in)"

// RuleSource is a compiled rule set with where it came from.
type RuleSource struct {
	Path  string   // the rules directory, or "(built-in)"
	Files []string // the rule files read, in load order
	Set   *rules.Set
}

// IsRuleFile reports whether a file name is loaded as a rule file: *.yaml or *.yml.
func IsRuleFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// LoadRules compiles every *.yaml and *.yml file in dir, or the built-in rule pack when dir is
// empty. The error lists every problem of every file.
func LoadRules(dir string, opts rules.Options) (*RuleSource, error) {
	if dir == "" {
		return loadRulesFS(natwatch.BuiltinRules, "rules.d", BuiltinRulesPath, opts)
	}

	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("rules directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("rules directory %s: not a directory; set it to the directory that contains the rule files", dir)
	}

	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, fmt.Errorf("rules directory %s: %w", dir, err)
		}
		files = append(files, matches...)
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("rules directory %s: no rule files (*.yaml or *.yml)", dir)
	}

	set, err := opts.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	return &RuleSource{Path: dir, Files: files, Set: set}, nil
}

func loadRulesFS(fsys fs.FS, dir, label string, opts rules.Options) (*RuleSource, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)

	var files []*rules.File
	var errs rules.Errors
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, parseErrs := rules.ParseFile(name, data)
		files = append(files, f)
		errs = append(errs, parseErrs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	set, err := opts.Compile(files...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s rule pack", label), err)
	}
	return &RuleSource{Path: label, Files: names, Set: set}, nil
}

// detection holds the sources the rules of one pipeline read besides records (the GeoIP
// database, the threat-intel store, the behavior tracker) and the watchers that reload rules and
// feeds.
type detection struct {
	options rules.Options
	intel   *intel.Store
	tracker *behavior.Tracker

	ruleWatcher  *reload.Watcher
	intelWatcher *reload.Watcher

	ruleReloads        atomic.Uint64
	ruleReloadFailures atomic.Uint64
}

// newDetection opens the GeoIP database and the threat-intel feeds and builds the tracker.
func newDetection(cfg config.Config) (*detection, error) {
	d := &detection{intel: &intel.Store{}}
	d.options = rules.Options{HomeCountry: cfg.HomeCountry, Intel: d.intel}

	if cfg.GeoIPDatabase != "" {
		db, err := geo.OpenList(cfg.GeoIPDatabase)
		if err != nil {
			return nil, fmt.Errorf("key GeoIP_Database: %w", err)
		}
		d.options.Geo = db
	}
	if cfg.ThreatIntelPath != "" {
		feeds, err := intel.LoadDir(cfg.ThreatIntelPath)
		if err != nil {
			return nil, fmt.Errorf("key Threat_Intel_Path: %w", err)
		}
		d.intel.Set(feeds)
	}

	loc := cfg.Location
	calendar, err := cfg.Calendar(loc)
	if err != nil {
		return nil, fmt.Errorf("key Holidays_File: %w", err)
	}
	d.tracker = behavior.New(behavior.Config{Calendar: calendar, MaxAddresses: min(cfg.MaxSources, behavior.DefaultMaxAddresses)})
	return d, nil
}

// watch starts the reload watchers: the rules directory (never the built-in pack) and the
// threat-intel directory.
func (p *Pipeline) watch() error {
	opts := reload.Options{Poll: p.cfg.ReloadPoll, Logger: p.logger}
	if p.cfg.ReloadPoll == 0 {
		opts.Poll = -1
	}

	if p.cfg.RulesPath != "" {
		ruleOpts := opts
		ruleOpts.Match = IsRuleFile
		w, err := reload.Watch(p.cfg.RulesPath, ruleOpts, p.ReloadRules)
		if err != nil {
			return fmt.Errorf("watching rules directory: %w", err)
		}
		p.detect.ruleWatcher = w
	}
	if p.cfg.ThreatIntelPath != "" {
		w, err := reload.Watch(p.cfg.ThreatIntelPath, opts, p.ReloadIntel)
		if err != nil {
			return fmt.Errorf("watching threat intel directory: %w", err)
		}
		p.detect.intelWatcher = w
	}
	return nil
}

func (d *detection) close() {
	if d.ruleWatcher != nil {
		d.ruleWatcher.Close()
	}
	if d.intelWatcher != nil {
		d.intelWatcher.Close()
	}
}

// ReloadRules loads the rules directory again and swaps the new rules in. When a file is
// invalid, the previous rules stay in force and each error is logged on its own line. It does
// nothing for the built-in rule pack.
func (p *Pipeline) ReloadRules() {
	if p.cfg.RulesPath == "" {
		return
	}
	source, err := LoadRules(p.cfg.RulesPath, p.detect.options)
	if err != nil {
		p.detect.ruleReloadFailures.Add(1)
		var list rules.Errors
		if errors.As(err, &list) {
			for _, e := range list {
				p.logger.Error("rule reload failed, previous rules kept", "path", p.cfg.RulesPath, "error", e.Error())
			}
		} else {
			p.logger.Error("rule reload failed, previous rules kept", "path", p.cfg.RulesPath, "error", err)
		}
		return
	}

	p.mu.Lock()
	p.engine.SetRules(source.Set)
	p.rules = source
	p.mu.Unlock()
	p.detect.ruleReloads.Add(1)
	p.logger.Info("rules reloaded", "path", source.Path, "files", len(source.Files), "rules", source.Set.Len())
}

// ReloadIntel loads the threat-intel directory again. Invalid feeds keep the previous feeds in
// force.
func (p *Pipeline) ReloadIntel() {
	feeds, err := intel.LoadDir(p.cfg.ThreatIntelPath)
	if err != nil {
		var list intel.Errors
		if errors.As(err, &list) {
			for _, e := range list {
				p.logger.Error("threat intel reload failed, previous feeds kept", "path", p.cfg.ThreatIntelPath, "error", e.Error())
			}
		} else {
			p.logger.Error("threat intel reload failed, previous feeds kept", "path", p.cfg.ThreatIntelPath, "error", err)
		}
		return
	}
	p.detect.intel.Set(feeds)
	p.logger.Info("threat intel reloaded", "path", p.cfg.ThreatIntelPath, "feeds", len(feeds.Names()), "indicators", feeds.Len())
}

// Rules returns the rule source in force.
func (p *Pipeline) Rules() *RuleSource {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rules
}

// logDetection logs what the rules can reach, once at start.
func (d *detection) log(logger *slog.Logger) {
	if db, ok := d.options.Geo.(*geo.DB); ok && db != nil {
		logger.Info("GeoIP database loaded", "networks", db.Networks())
	}
	if feeds := d.intel.Current(); feeds != nil {
		logger.Info("threat intel loaded", "feeds", len(feeds.Names()), "indicators", feeds.Len())
	}
}
