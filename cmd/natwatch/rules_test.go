package main

import (
	"bytes"
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
	if !strings.Contains(stdout.String(), "(built-in): 4 files, 3 rules: OK") {
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
