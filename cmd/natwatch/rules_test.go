package main

import (
	"bytes"
	"fmt"

	"github.com/natwatch/natwatch/detector/rules"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCheckBuiltin(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "check"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}
	shipped, err := rules.LoadDir(filepath.Join("..", "..", "rules.d"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "rules.d", "*.yaml"))
	want := fmt.Sprintf("(built-in): %d files, %d rules: OK\n", len(files), shipped.Len())
	if stdout.String() != want {
		t.Errorf("stdout = %q", stdout.String())
	}
}

func TestRulesCheckShippedDirectory(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := filepath.Join("..", "..", "rules.d")
	if code := run([]string{"rules", "check", dir}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
	}
}

func TestRulesCheckReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.yaml": "rules:\n  - name: scan\n    severity: high\n    kind: window\n    group_by: src_ip\n    window: 5m\n    when: dst_ports > 50\n    sumary: typo\n",
		"b.yaml": "lists:\n  office: [10.20.0.0/33]\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "check", dir}, nil, &stdout, &stderr); code != 1 {
		t.Fatalf("exit status %d, want 1; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{
		filepath.Join(dir, "a.yaml") + ":8:5",
		filepath.Join(dir, "b.yaml") + ":2:",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks an error at %s:\n%s", want, stderr.String())
		}
	}
}

func TestRulesCheckDozenBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	rule := func(extra string) string {
		return "rules:\n  - name: r\n    severity: high\n    kind: window\n    window: 1m\n    when: conns > 1\n    summary: s\n" + extra
	}
	files := map[string]string{
		"01.yaml": "rules:\n\t- name: tab\n",
		"02.yaml": rule("    windw: 5m\n"),
		"03.yaml": "lists:\n  nets: [10.0.0.0/33]\n",
		"04.yaml": strings.Replace(rule(""), "severity: high", "severity: hgih", 1),
		"05.yaml": strings.Replace(rule(""), "conns > 1", "conns > \"x\"", 1),
		"06.yaml": strings.Replace(rule(""), "window: 1m", "window: 1h", 1),
		"07.yaml": strings.Replace(rule(""), "name: r", "name: r7", 1) + "    for: soon\n",
		"08.yaml": strings.Replace(rule(""), "name: r", "name: r8", 1) + "    labels: {state: x}\n",
		"09.yaml": strings.Replace(rule(""), "name: r", "name: r9", 1) + "    except: [missing]\n",
		"10.yaml": "lists:\n  ports10: {type: ports, items: [70000]}\n",
		"11.yaml": "except: [nowhere]\n",
		"12.yaml": strings.Replace(rule(""), "summary: s", "summary: \"{{ .kye }}\"", 1),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "check", dir}, nil, &stdout, &stderr); code != 1 {
		t.Fatalf("exit status %d, want 1; stderr:\n%s", code, stderr.String())
	}
	want := []string{
		"01.yaml:2: invalid YAML",
		"02.yaml:8:5: rule \"r\": unknown key \"windw\"",
		"03.yaml:2:10: list \"nets\": invalid address or CIDR \"10.0.0.0/33\"",
		"04.yaml:3:15: rule",
		"05.yaml:6:11: rule",
		"06.yaml:5:13: rule",
		"07.yaml:8:10: rule \"r7\": for \"soon\" is neither a duration",
		"08.yaml:8:14: rule \"r8\": label name \"state\" is reserved",
		"09.yaml:8:14: rule \"r9\": except: unknown list \"missing\"",
		"10.yaml:2:34: list \"ports10\": invalid port",
		"11.yaml:1:10: except: unknown list \"nowhere\"",
		"12.yaml:7:14: rule",
	}
	for _, w := range want {
		if !strings.Contains(stderr.String(), filepath.Join(dir, w)) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
}

// TestShippedRuleTests runs the tests of the shipped rule pack through the command, as
// `natwatch rules test rules.d/tests/*.yaml` does.
func TestShippedRuleTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "rules.d", "tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule test files: %v", err)
	}
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"rules", "test"}, files...), nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.HasSuffix(stdout.String(), " passed, 0 failed\n") {
		t.Errorf("stdout does not end with the summary:\n%s", stdout.String())
	}
}

// TestShippedRulesAllTested checks that every shipped rule has a test case that expects it to
// fire and one that expects it to stay silent.
func TestShippedRulesAllTested(t *testing.T) {
	set, err := rules.LoadDir(filepath.Join("..", "..", "rules.d"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "rules.d", "tests", "*.yaml"))
	var text strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(data)
	}
	expect := map[string]bool{}
	silent := map[string]bool{}
	section := ""
	for line := range strings.SplitSeq(text.String(), "\n") {
		trimmed := strings.TrimSpace(line)
		switch trimmed {
		case "expect:", "silent:":
			section = trimmed
			continue
		}
		if name, ok := strings.CutPrefix(trimmed, "- rule: "); ok {
			if section == "expect:" {
				expect[name] = true
			} else if section == "silent:" {
				silent[name] = true
			}
		}
	}
	for _, r := range set.Rules() {
		if !expect[r.Name] {
			t.Errorf("rule %s has no test case that expects it to fire", r.Name)
		}
		if !silent[r.Name] {
			t.Errorf("rule %s has no test case in which it must stay silent", r.Name)
		}
	}
}

func TestRulesTestReportsFailure(t *testing.T) {
	dir := t.TempDir()
	rulesText := "rules:\n  - name: scan\n    severity: high\n    kind: window\n    window: 1m\n    when: dst_ports > 5\n    summary: s\n"
	testText := `rule_files: [scan.yaml]
tests:
  - name: expects the wrong key
    input:
      - at: 2026-03-14T01:00:00Z
        count: 10
        event: {src: 198.51.100.7, dst: 203.0.113.1, dst_port: 1}
        step: {dst_port: 1}
    expect:
      - rule: scan
        key: 198.51.100.8
        at: 2026-03-14T01:00:06Z
`
	os.WriteFile(filepath.Join(dir, "scan.yaml"), []byte(rulesText), 0o644)
	os.WriteFile(filepath.Join(dir, "scan.test.yaml"), []byte(testText), 0o644)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "test", filepath.Join(dir, "scan.test.yaml")}, nil, &stdout, &stderr); code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, stdout.String())
	}
	for _, want := range []string{
		"FAIL " + filepath.Join(dir, "scan.test.yaml") + ": expects the wrong key\n",
		"  - rule=scan key=198.51.100.8 state=firing at=2026-03-14T01:00:06Z\n",
		"  + rule=scan key=198.51.100.7 state=firing at=2026-03-14T01:00:06Z value=6\n",
		"0 passed, 1 failed\n",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestRulesCheckRejectsFileAndEmptyDirectory(t *testing.T) {
	tests := []struct {
		name string
		path string
		want string
	}{
		{"file", filepath.Join("..", "..", "rules.d", "scans.yaml"), "not a directory"},
		{"empty directory", t.TempDir(), "no rule files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"rules", "check", tt.path}, nil, &stdout, &stderr); code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}
