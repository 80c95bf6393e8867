// Command gen writes natwatch's Grafana dashboards, in English and in Chinese, and the Grafana
// alert rules, from the Grafana foundation SDK's typed builders. `make dashboards` runs it from the
// repository root:
//
//	go run ./dashboards/gen -out dashboards
//
// The output is deterministic, and a test compares it with the committed files.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	out := flag.String("out", "dashboards", "directory to write the dashboards and provisioning files into")
	flag.Parse()

	files, err := generate()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
	if err := writeFiles(*out, files); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

// dashboardFiles lists each dashboard's file name and builder, in the order Grafana's folder
// shows them.
var dashboardFiles = []struct {
	name  string
	build func(*locale) *dashboard.DashboardBuilder
}{
	{"natwatch-overview.json", overviewDashboard},
	{"natwatch-anomalies.json", anomaliesDashboard},
	{"natwatch-host.json", hostDashboard},
	{"natwatch-topology.json", topologyDashboard},
	{"natwatch-health.json", healthDashboard},
}

// alertRulesFile is the path of the generated alert rules below the output directory.
const alertRulesFile = "provisioning/alerting/natwatch-alert-rules.yaml"

// generate returns the content of every generated file, keyed by its slash-separated path below
// the output directory.
func generate() (map[string][]byte, error) {
	files := map[string][]byte{}

	for _, l := range []*locale{english(), chinese()} {
		for _, f := range dashboardFiles {
			data, err := renderDashboard(f.build(l))
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", f.name, l.name, err)
			}
			files[filepath.ToSlash(filepath.Join(l.dir, f.name))] = data
		}
		if err := l.err(); err != nil {
			return nil, err
		}
	}

	rules, err := renderAlertRules()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", alertRulesFile, err)
	}
	files[alertRulesFile] = rules
	return files, nil
}

// renderDashboard builds d, numbers its panels from 1 in layout order and encodes it as indented
// JSON.
func renderDashboard(d *dashboard.DashboardBuilder) ([]byte, error) {
	built, err := d.Build()
	if err != nil {
		return nil, err
	}

	for i, p := range built.Panels {
		if p.Panel != nil {
			id := uint32(i + 1)
			p.Panel.Id = &id
		}
	}

	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(built); err != nil {
		return nil, err
	}
	return unescapeHTML(buf.Bytes()), nil
}

// unescapeHTML turns the escapes \u0026, \u003c and \u003e back into &, < and >. The SDK's
// MarshalJSON methods escape them, which makes data link URLs hard to read in the files.
func unescapeHTML(data []byte) []byte {
	replacements := map[string]byte{`\u0026`: '&', `\u003c`: '<', `\u003e`: '>'}

	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			out = append(out, data[i])
			continue
		}
		if i+6 <= len(data) {
			if c, ok := replacements[string(data[i:i+6])]; ok {
				out = append(out, c)
				i += 5
				continue
			}
		}
		// Any other escape, such as \\ or \", is copied whole, so that its second byte is never
		// read as the start of an escape.
		out = append(out, data[i])
		if i+1 < len(data) {
			out = append(out, data[i+1])
			i++
		}
	}
	return out
}

// writeFiles writes files below dir, creating directories as needed.
func writeFiles(dir string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)

	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
