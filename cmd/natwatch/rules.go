package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/pipeline"
	"github.com/natwatch/natwatch/internal/rulestest"
)

const rulesUsage = `Usage:
  natwatch rules check [DIR]   load every *.yaml rule file in DIR (default: the built-in rule pack)
                               and print every error as file:line:col; exit status 1 on any error
  natwatch rules test FILE...  run rule test files and print PASS or FAIL per test case, with the
                               missing (-) and unexpected (+) anomalies; exit status 1 on any failure
`

func runRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return runRulesCheck(args[1:], stdout, stderr)
	case "test":
		return runRulesTest(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, rulesUsage)
		return 0
	}
	fmt.Fprintf(stderr, "natwatch rules: unknown command %q\n\n%s", args[0], rulesUsage)
	return 2
}

func runRulesCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	}
	source, err := pipeline.LoadRules(dir, rules.Options{})
	if err != nil {
		printRuleErrors(stderr, err)
		return 1
	}

	fmt.Fprintf(stdout, "%s: %d files, %d rules: OK\n", source.Path, len(source.Files), source.Set.Len())
	return 0
}

// printRuleErrors prints every rule error on its own line, then their number.
func printRuleErrors(w io.Writer, err error) {
	var list rules.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		fmt.Fprintf(w, "%d errors\n", len(list))
		return
	}
	fmt.Fprintln(w, err)
}

func runRulesTest(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, "natwatch rules test: no test file given\n\n"+rulesUsage)
		return 2
	}

	passed, failed := 0, 0
	for _, file := range files {
		results, err := rulestest.RunFile(file)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s\n", file)
			var list rules.Errors
			if errors.As(err, &list) {
				printRuleErrors(stdout, err)
			} else {
				fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
			}
			continue
		}
		for _, r := range results {
			if r.Passed {
				passed++
				fmt.Fprintf(stdout, "PASS %s: %s\n", r.File, r.Name)
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %s\n", r.File, r.Name)
			for _, line := range r.Diff {
				fmt.Fprintf(stdout, "  %s\n", line)
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
