package fluentbit

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/natwatch/natwatch/internal/config"
)

// section is one [SECTION] of a classic Fluent Bit configuration file.
type section struct {
	name string // upper-cased, such as INPUT
	line int
	keys map[string]string // lower-cased key → value
}

// parseClassic reads a classic configuration file and fails the test on a malformed one.
func parseClassic(t *testing.T, path string) []section {
	t.Helper()

	sections, err := readClassic(path)
	if err != nil {
		t.Fatal(err)
	}
	return sections
}

// readClassic reads Fluent Bit's classic format: [SECTION] headers, indented "key value" lines
// and # comments. It rejects a key outside a section, a key without a value and a repeated key.
func readClassic(path string) ([]section, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var sections []section
	scanner := bufio.NewScanner(f)
	lineNo := 0
	for scanner.Scan() {
		lineNo++
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}

		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: invalid section header %q", path, lineNo, line)
			}
			name := strings.ToUpper(strings.Trim(line, "[]"))
			sections = append(sections, section{name: name, line: lineNo, keys: map[string]string{}})
			continue
		}

		if len(sections) == 0 {
			return nil, fmt.Errorf("%s:%d: key outside a section: %q", path, lineNo, line)
		}
		key, value, ok := strings.Cut(line, " ")
		value = strings.TrimSpace(value)
		if !ok || value == "" {
			return nil, fmt.Errorf("%s:%d: key %q has no value", path, lineNo, key)
		}
		current := &sections[len(sections)-1]
		lower := strings.ToLower(key)
		if _, seen := current.keys[lower]; seen {
			return nil, fmt.Errorf("%s:%d: key %q repeated in [%s]", path, lineNo, key, current.name)
		}
		current.keys[lower] = value
	}
	return sections, scanner.Err()
}

// yamlConfig is Fluent Bit's YAML configuration format.
type yamlConfig struct {
	Service  map[string]any `yaml:"service"`
	Pipeline struct {
		Inputs  []map[string]any `yaml:"inputs"`
		Filters []map[string]any `yaml:"filters"`
		Outputs []map[string]any `yaml:"outputs"`
	} `yaml:"pipeline"`
	Parsers []map[string]any `yaml:"parsers"`
}

func parseYAML(t *testing.T, path string) yamlConfig {
	t.Helper()

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c yamlConfig
	decoder := yaml.NewDecoder(strings.NewReader(string(data)))
	decoder.KnownFields(true)
	if err := decoder.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// lowerKeys turns a YAML section into lower-cased key → value text.
func lowerKeys(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for key, value := range m {
		switch v := value.(type) {
		case string:
			out[strings.ToLower(key)] = v
		default:
			out[strings.ToLower(key)] = strings.TrimSpace(yamlText(v))
		}
	}
	return out
}

func yamlText(v any) string {
	data, _ := yaml.Marshal(v)
	return string(data)
}

// fluentBitOwnKeys are the output keys that Fluent Bit itself consumes, so they never reach natwatch.
var fluentBitOwnKeys = []string{"name", "match", "match_regex", "alias", "workers", "retry_limit", "log_level"}

// checkNatwatchOutput requires every key of a natwatch output to be a natwatch or Fluent Bit key
// and natwatch to accept the values.
func checkNatwatchOutput(t *testing.T, where string, keys map[string]string) {
	t.Helper()

	known := map[string]bool{}
	for _, k := range config.Keys {
		known[strings.ToLower(k.Name)] = true
	}
	for key := range keys {
		if !known[key] && !slices.Contains(fluentBitOwnKeys, key) {
			t.Errorf("%s: %q is not a natwatch configuration key", where, key)
		}
	}
	if keys["match"] == "" && keys["match_regex"] == "" {
		t.Errorf("%s: the natwatch output has no Match", where)
	}

	cfg, err := config.FromProperties(func(key string) string { return keys[strings.ToLower(key)] })
	if err != nil {
		t.Errorf("%s: natwatch rejects the configuration: %v", where, err)
	}
	if cfg.InfluxURL == "" || cfg.RulesPath == "" {
		t.Errorf("%s: InfluxDB_URL %q, Rules_Path %q; the examples set both", where, cfg.InfluxURL, cfg.RulesPath)
	}
}

// classicParsers returns the parser names defined in a classic parsers file.
func classicParsers(t *testing.T, path string) []string {
	var names []string
	for _, s := range parseClassic(t, path) {
		if s.name != "PARSER" {
			t.Errorf("%s:%d: [%s] in a parsers file", path, s.line, s.name)
		}
		names = append(names, s.keys["name"])
	}
	return names
}

func yamlParsers(t *testing.T, path string) []string {
	var names []string
	for _, p := range parseYAML(t, path).Parsers {
		names = append(names, lowerKeys(p)["name"])
	}
	return names
}

// wantInputs lists each example's input plugins.
var wantInputs = map[string][]string{
	"kern-log":  {"tail"},
	"syslog":    {"syslog", "syslog"},
	"conntrack": {"tail"},
	"zeek":      {"tail"},
}

func TestClassicExamples(t *testing.T) {
	parsers := classicParsers(t, "parsers.conf")
	if !slices.Equal(parsers, []string{"natwatch_raw", "zeek_json"}) {
		t.Errorf("parsers.conf defines %v", parsers)
	}

	for example, inputs := range wantInputs {
		t.Run(example, func(t *testing.T) {
			path := example + ".conf"
			var gotInputs []string
			outputs := 0
			for _, s := range parseClassic(t, path) {
				where := path + ":" + strconv.Itoa(s.line)
				switch s.name {
				case "SERVICE":
					if file := s.keys["parsers_file"]; file != "" && file != "parsers.conf" {
						t.Errorf("%s: Parsers_File %q, want parsers.conf", where, file)
					}
				case "INPUT":
					gotInputs = append(gotInputs, s.keys["name"])
					checkParser(t, where, s.keys["parser"], parsers, s.keys)
				case "OUTPUT":
					if s.keys["name"] == "natwatch" {
						outputs++
						checkNatwatchOutput(t, where, s.keys)
					}
				default:
					t.Errorf("%s: unexpected section [%s]", where, s.name)
				}
			}
			if !slices.Equal(gotInputs, inputs) {
				t.Errorf("inputs %v, want %v", gotInputs, inputs)
			}
			if outputs != 1 {
				t.Errorf("%d natwatch outputs, want 1", outputs)
			}
		})
	}
}

// checkParser requires a named parser to be defined, and the service section to load the
// parsers file when one is named. keys are the input's keys.
func checkParser(t *testing.T, where, parser string, defined []string, keys map[string]string) {
	t.Helper()

	if parser != "" && !slices.Contains(defined, parser) {
		t.Errorf("%s: parser %q is not defined", where, parser)
	}
	if keys["name"] == "syslog" && parser == "" {
		t.Errorf("%s: the syslog input needs a parser", where)
	}
}

func TestYAMLExamples(t *testing.T) {
	parsers := yamlParsers(t, "parsers.yaml")
	if !slices.Equal(parsers, []string{"natwatch_raw", "zeek_json"}) {
		t.Errorf("parsers.yaml defines %v", parsers)
	}

	for example, inputs := range wantInputs {
		t.Run(example, func(t *testing.T) {
			path := example + ".yaml"
			c := parseYAML(t, path)

			usesParser := false
			var gotInputs []string
			for i, input := range c.Pipeline.Inputs {
				keys := lowerKeys(input)
				gotInputs = append(gotInputs, keys["name"])
				checkParser(t, path+" input "+strconv.Itoa(i+1), keys["parser"], parsers, keys)
				usesParser = usesParser || keys["parser"] != ""
			}
			if !slices.Equal(gotInputs, inputs) {
				t.Errorf("inputs %v, want %v", gotInputs, inputs)
			}
			if file, _ := c.Service["parsers_file"].(string); usesParser && file != "parsers.yaml" {
				t.Errorf("service.parsers_file = %q, want parsers.yaml", file)
			}

			if len(c.Pipeline.Outputs) != 1 {
				t.Fatalf("%d outputs, want 1", len(c.Pipeline.Outputs))
			}
			checkNatwatchOutput(t, path+" output", lowerKeys(c.Pipeline.Outputs[0]))
		})
	}
}

// TestClassicAndYAMLAgree requires the two forms of each example to give natwatch the same
// settings.
func TestClassicAndYAMLAgree(t *testing.T) {
	for example := range wantInputs {
		var classic map[string]string
		for _, s := range parseClassic(t, example+".conf") {
			if s.name == "OUTPUT" {
				classic = s.keys
			}
		}
		yamlKeys := lowerKeys(parseYAML(t, example+".yaml").Pipeline.Outputs[0])
		for key, value := range classic {
			if yamlKeys[key] != value {
				t.Errorf("%s: %s is %q in the classic form and %q in YAML", example, key, value, yamlKeys[key])
			}
		}
		if len(classic) != len(yamlKeys) {
			t.Errorf("%s: the classic output has %d keys, YAML %d", example, len(classic), len(yamlKeys))
		}
	}
}

func TestReadClassicRejectsMalformedFiles(t *testing.T) {
	tests := map[string]struct{ content, want string }{
		"key outside a section": {"Name tail\n", "bad.conf:1: key outside a section"},
		"key without value":     {"[INPUT]\n    Name\n", `bad.conf:2: key "Name" has no value`},
		"repeated key":          {"[INPUT]\n    Name tail\n    name tail\n", `bad.conf:3: key "name" repeated in [INPUT]`},
		"unclosed header":       {"[INPUT\n", `bad.conf:1: invalid section header "[INPUT"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.conf")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readClassic(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readClassic(%q) error = %v, want %s", tt.content, err, tt.want)
			}
		})
	}
}
