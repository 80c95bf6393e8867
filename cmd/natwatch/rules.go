package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/pipeline"
)

const rulesUsage = `Usage:
  natwatch rules check [DIR]   load every *.yaml rule file in DIR (default: the built-in rule pack)
                               and print every error as file:line:col; exit status 1 on any error
`

func runRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}

	dir := ""
	if len(args) == 2 {
		dir = args[1]
	}
	source, err := pipeline.LoadRules(dir)
	if err != nil {
		var list rules.Errors
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d errors\n", len(list))
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}

	fmt.Fprintf(stdout, "%s: %d files, %d rules: OK\n", source.Path, len(source.Files), source.Set.Len())
	return 0
}
