#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 10s), one after another,
# because go test accepts only one -fuzz target per package run.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."

targets=0
while read -r pkg dir; do
  for target in $(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p'); do
    echo "fuzz $pkg $target for $fuzztime"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
    targets=$((targets + 1))
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
echo "fuzzed $targets targets for $fuzztime each"
