// Command natwatch runs natwatch's pipeline without Fluent Bit: it replays log files through the
// same normalisation, detection and outputs as the plugin, and checks rule files.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `natwatch detects scans, floods and policy violations in NAT gateway and firewall logs.

Usage:
  natwatch replay [flags] FILE...|-   run the pipeline over log files (or stdin), driven by the records' own times
  natwatch rules check [DIR]          load every rule file in DIR (default: the built-in rule pack) and report all errors
  natwatch rules test FILE...         run rule test files (expected anomalies and silences) and report each case

Run "natwatch COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit status: 0 on success, 1 when the command
// failed, 2 on a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}

	switch args[0] {
	case "replay":
		return runReplay(args[1:], stdin, stdout, stderr)
	case "rules":
		return runRules(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "natwatch: unknown command %q\n\n%s", args[0], usage)
	return 2
}
