package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/natlog"
)

const testLists = `lists:
  office_nets: [10.20.0.0/16, 10.21.0.0/16]
  mail_relays: [10.20.1.25/32]
`

// compileText parses and compiles rule files given as name → YAML text, in the order given.
func compileText(t *testing.T, files ...[2]string) (*Set, error) {
	t.Helper()
	var parsed []*File
	var errs Errors
	for _, f := range files {
		file, parseErrs := ParseFile(f[0], []byte(f[1]))
		parsed = append(parsed, file)
		errs = append(errs, parseErrs...)
	}
	set, err := Compile(parsed...)
	var compileErrs Errors
	if errors.As(err, &compileErrs) {
		errs = append(errs, compileErrs...)
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return set, nil
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "tab indentation",
			yaml: "rules:\n\t- name: scan\n",
			want: []string{`bad.yaml:2: invalid YAML: found character that cannot start any token`},
		},
		{
			name: "unclosed flow sequence",
			yaml: "rules:\n  - name: scan\n    except: [a\n",
			want: []string{`bad.yaml:2: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "unknown key",
			yaml: `rules:
  - name: port_scan
    severity: high
    kind: window
    windw: 5m
    when: dst_ports > 50
    summary: scan
`,
			want: []string{
				`bad.yaml:2:5: rule "port_scan": missing window (a duration from 1s to 15m)`,
				`bad.yaml:5:5: rule "port_scan": unknown key "windw"`,
			},
		},
		{
			name: "unknown top-level key",
			yaml: "rule:\n  - name: scan\n",
			want: []string{`bad.yaml:1:1: unknown key "rule" (expected lists, rules or except)`},
		},
		{
			name: "bad CIDR",
			yaml: "lists:\n  cdn_nets: [192.0.2.0/24, 10.20.0.0/33, 10.30.0.1.5]\n",
			want: []string{
				`bad.yaml:2:28: list "cdn_nets": invalid address or CIDR "10.20.0.0/33": netip.ParsePrefix("10.20.0.0/33"): prefix length out of range`,
				`bad.yaml:2:42: list "cdn_nets": invalid address or CIDR "10.30.0.1.5": ParseAddr("10.30.0.1.5"): IPv4 address too long`,
			},
		},
		{
			name: "bad duration",
			yaml: `rules:
  - name: port_scan
    severity: high
    kind: window
    window: 5 minutes
    cooldown: -1m
    when: dst_ports > 50
    summary: scan
`,
			want: []string{
				`bad.yaml:5:13: rule "port_scan": window "5 minutes" is not a duration such as 30s, 5m or 1h`,
				`bad.yaml:6:15: rule "port_scan": cooldown -1m is negative`,
			},
		},
		{
			name: "window out of range",
			yaml: `rules:
  - name: slow_scan
    severity: low
    kind: window
    window: 1h
    when: dst_ports > 50
    summary: scan
  - name: fast_scan
    severity: low
    kind: window
    window: 1500ms
    when: dst_ports > 50
    summary: scan
`,
			want: []string{
				`bad.yaml:5:13: rule "slow_scan": window 1h is outside the range 1s to 15m`,
				`bad.yaml:11:13: rule "fast_scan": window 1500ms is not a whole number of seconds`,
			},
		},
		{
			name: "unknown list in except",
			yaml: `rules:
  - name: port_scan
    severity: high
    kind: window
    window: 5m
    when: dst_ports > 50
    except: [office_nets, cdn_nets]
    summary: scan
`,
			want: []string{`bad.yaml:7:27: rule "port_scan": except: unknown list "cdn_nets"`},
		},
		{
			name: "unknown list in condition",
			yaml: `rules:
  - name: smtp
    severity: high
    kind: record
    when: in_list(src_ip, "ofice_nets")
    summary: smtp
`,
			want: []string{"bad.yaml:5:11: rule \"smtp\": when: in_list: unknown list \"ofice_nets\" (1:17)\n" +
				" | in_list(src_ip, \"ofice_nets\")\n" +
				" | ................^"},
		},
		{
			name: "type error in condition",
			yaml: `rules:
  - name: smtp
    severity: high
    kind: record
    when: dst_port == "x"
    summary: smtp
`,
			want: []string{"bad.yaml:5:11: rule \"smtp\": when: invalid operation: == (mismatched types int and string) (1:10)\n" +
				" | dst_port == \"x\"\n" +
				" | .........^"},
		},
		{
			name: "condition is not bool",
			yaml: `rules:
  - name: busy
    severity: low
    kind: window
    window: 1m
    when: conns + 1
    summary: busy
`,
			want: []string{`bad.yaml:6:11: rule "busy": when: expected bool, but got int`},
		},
		{
			name: "misspelt protocol and summary field",
			yaml: `rules:
  - name: smtp
    severity: high
    kind: record
    when: proto == "tpc"
    summary: "{{ .kye }}"
`,
			want: []string{
				"bad.yaml:5:11: rule \"smtp\": when: proto \"tpc\" is not a protocol name (tcp, udp, icmp, icmpv6, gre, esp, sctp or a number 0–255) (1:7)\n" +
					" | proto == \"tpc\"\n" +
					" | ......^",
				`bad.yaml:6:14: rule "smtp": summary: template: summary:1:3: executing "summary" at <.kye>: map has no entry for key "kye"`,
			},
		},
		{
			name: "bad severity and level",
			yaml: `rules:
  - name: smtp
    level: advanced
    severity: hgh
    kind: record
    when: dst_port == 25
    summary: smtp
`,
			want: []string{
				`bad.yaml:3:12: rule "smtp": invalid level "advanced" (expected basic, behavior or intelligent)`,
				`bad.yaml:4:15: rule "smtp": invalid severity "hgh" (expected info, low, medium, high or critical)`,
			},
		},
		{
			name: "missing fields and bad kind",
			yaml: `rules:
  - kind: flow
    group_by: [src_ip, dst_ip]
`,
			want: []string{
				`bad.yaml:2:5: rule 1: missing name`,
				`bad.yaml:2:5: rule 1: missing severity (expected info, low, medium, high or critical)`,
				`bad.yaml:2:5: rule 1: missing when (a condition such as dst_ports > 50)`,
				`bad.yaml:2:5: rule 1: missing summary`,
				`bad.yaml:2:11: rule 1: invalid kind "flow" (expected record or window)`,
				`bad.yaml:3:15: rule 1: group_by must name exactly one of src_ip, dst_ip or gateway`,
			},
		},
		{
			name: "window key on a record rule and bad template",
			yaml: `rules:
  - name: smtp
    severity: high
    kind: record
    window: 5m
    when: dst_port == 25
    summary: "{{ .src"
`,
			want: []string{
				`bad.yaml:5:13: rule "smtp": window applies only to kind: window`,
				`bad.yaml:7:14: rule "smtp": summary: template: summary:1: unclosed action`,
			},
		},
		{
			name: "duplicate rule name and key in one file",
			yaml: `rules:
  - name: scan
    severity: high
    severity: low
    kind: window
    window: 5m
    when: dst_ports > 50
    summary: scan
  - name: scan
    severity: high
    kind: window
    window: 1m
    when: dst_ports > 10
    summary: scan
`,
			want: []string{
				`bad.yaml:4:5: rule "scan": duplicate key "severity", first given at line 3`,
				`bad.yaml:9:11: rule "scan": duplicate rule name, first defined at bad.yaml:2:11`,
			},
		},
		{
			name: "except on a gateway key",
			yaml: `rules:
  - name: gateway_drops
    severity: medium
    kind: window
    group_by: gateway
    window: 1m
    when: drops_per_s > 100
    except: [office_nets]
    summary: drops
`,
			want: []string{`bad.yaml:8:13: rule "gateway_drops": except needs an address key, but group_by is gateway`},
		},
		{
			name: "bad value and threshold",
			yaml: `rules:
  - name: heavy
    severity: low
    kind: window
    window: 1m
    when: bytes > 1e9 && conns > 10
    value: proto
    threshold: lots
    summary: heavy
`,
			want: []string{
				"bad.yaml:7:12: rule \"heavy\": value: unknown name proto (1:1)\n" +
					" | proto\n" +
					" | ^",
				`bad.yaml:8:16: rule "heavy": threshold "lots" is not a number`,
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := compileText(t, [2]string{"lists.yaml", testLists}, [2]string{"bad.yaml", tt.yaml})
			if set != nil {
				t.Fatalf("Compile returned a set, want errors")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i := range tt.want {
				if got := errs[i].Error(); got != tt.want[i] {
					t.Errorf("error %d:\ngot  %s\nwant %s", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestLoadFilesReportsAllFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.yaml", testLists+`rules:
  - name: smtp
    severity: high
    kind: record
    when: dst_port == 25
    summary: smtp
  - name: scan
    severity: urgent
    kind: window
    window: 5m
    when: dst_ports > 50
    summary: scan
`)
	b := write("b.yaml", `lists:
  mail_relays: [10.9.0.1]
rules:
  - name: smtp
    severity: high
    kind: record
    when: dst_port == 587
    summary: submission
`)
	c := write("c.yaml", "rules: {name: x}\n")

	_, err := LoadFiles(a, b, c)
	want := a + `:11:15: rule "scan": invalid severity "urgent" (expected info, low, medium, high or critical)` + "\n" +
		b + `:2:3: list "mail_relays": duplicate list name, first defined at ` + a + ":3:3\n" +
		b + `:4:11: rule "smtp": duplicate rule name, first defined at ` + a + ":5:11\n" +
		c + `:1:8: rules must be a sequence of rules`
	if err == nil || err.Error() != want {
		t.Errorf("LoadFiles error:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadShippedRules(t *testing.T) {
	set, err := LoadDir("../../rules.d")
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}

	type want struct {
		kind      Kind
		groupBy   GroupBy
		window    time.Duration
		cooldown  time.Duration
		severity  string
		value     string
		threshold float64
		except    []string
	}
	wants := map[string]want{
		"port_scan_vertical": {KindWindow, GroupSrcIP, 5 * time.Minute, 10 * time.Minute, "high", "dst_ports", 50, []string{"scanner_allowlist"}},
		"syn_flood_source":   {KindWindow, GroupSrcIP, time.Second, 10 * time.Minute, "critical", "syn_per_s", 2000, []string{"scanner_allowlist"}},
		"smtp_from_office":   {KindRecord, GroupSrcIP, 0, time.Hour, "medium", "", 0, []string{"mail_relays"}},
	}
	for _, r := range set.Rules() {
		if r.Summary == "" || r.SummaryZH == "" || r.Description == "" {
			t.Errorf("rule %s lacks a description, an English or a Chinese summary", r.Name)
		}
	}
	for name, w := range wants {
		r := set.Rule(name)
		if r == nil {
			t.Errorf("rule %s missing", name)
			continue
		}
		got := want{r.Kind, r.GroupBy, r.Window, r.Cooldown, r.Severity, r.Value, r.Threshold, r.Except}
		if !equalWant(got.except, w.except) || got.kind != w.kind || got.groupBy != w.groupBy ||
			got.window != w.window || got.cooldown != w.cooldown || got.severity != w.severity ||
			got.value != w.value || got.threshold != w.threshold {
			t.Errorf("rule %s = %+v, want %+v", name, got, w)
		}
		if r.Summary == "" || r.SummaryZH == "" {
			t.Errorf("rule %s lacks an English or Chinese summary", name)
		}
	}

	smtp := set.Rule("smtp_from_office")
	pins := smtp.Pins
	if len(pins.Protos) != 1 || pins.Protos[0] != natlog.ProtoTCP {
		t.Errorf("smtp protocol pins = %v, want [tcp]", pins.Protos)
	}
	if len(pins.DstPorts) != 1 || pins.DstPorts[0] != 25 {
		t.Errorf("smtp port pins = %v, want [25]", pins.DstPorts)
	}
	if len(pins.Directions) != 1 || pins.Directions[0] != natlog.DirectionOutbound {
		t.Errorf("smtp direction pins = %v, want [outbound]", pins.Directions)
	}
	if strings.Join(pins.SrcLists, ",") != "office_nets" {
		t.Errorf("smtp source list pins = %v, want [office_nets]", pins.SrcLists)
	}

	for _, list := range []string{"office_nets", "mail_relays", "scanner_allowlist"} {
		if set.List(list).Empty() {
			t.Errorf("list %s is missing or empty", list)
		}
	}
}

func equalWant(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestLoadDirMissing(t *testing.T) {
	_, err := LoadDir(filepath.Join(t.TempDir(), "absent"))
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("LoadDir of a missing directory: %v", err)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	set, err := compileText(t, [2]string{"empty.yaml", "# no rules yet\n"})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if set.Len() != 0 {
		t.Errorf("got %d rules, want 0", set.Len())
	}
}
