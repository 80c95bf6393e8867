// Package natwatch holds what the whole module shares: the built-in rule pack, embedded so that
// the plugin and the replay command detect scans and floods with no rule directory configured.
package natwatch

import "embed"

// BuiltinRules contains rules.d/*.yaml as shipped with this version.
//
//go:embed rules.d/*.yaml
var BuiltinRules embed.FS
