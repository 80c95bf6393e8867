package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"

	"github.com/natwatch/natwatch"
	"github.com/natwatch/natwatch/detector/rules"
)

// RuleSource is a compiled rule set with where it came from.
type RuleSource struct {
	Path  string   // the rules directory, or "(built-in)"
	Files []string // the rule files read, in load order
	Set   *rules.Set
}

// LoadRules compiles every *.yaml and *.yml file in dir, or the built-in rule pack when dir is
// empty. The error lists every problem of every file.
func LoadRules(dir string) (*RuleSource, error) {
	if dir == "" {
		return loadRulesFS(natwatch.BuiltinRules, "rules.d", "(built-in)")
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

	set, err := rules.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	return &RuleSource{Path: dir, Files: files, Set: set}, nil
}

func loadRulesFS(fsys fs.FS, dir, label string) (*RuleSource, error) {
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

	set, err := rules.Compile(files...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s rule pack", label), err)
	}
	return &RuleSource{Path: label, Files: names, Set: set}, nil
}
