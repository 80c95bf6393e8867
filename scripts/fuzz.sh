#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 10s), one after another,
# because go test accepts only one -fuzz target per package run.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."

go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
  grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | while read -r target; do
    echo "fuzz $pkg $target for $fuzztime"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
  done
done
