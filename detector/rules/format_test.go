package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
)

const windowRule = `rules:
  - name: r
    severity: high
    kind: window
    window: 1m
    when: conns > 1
    summary: s
`

func TestFormatErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "for on a record rule",
			yaml: "rules:\n  - name: r\n    severity: high\n    kind: record\n    when: dst_port == 25\n    for: 1m\n    summary: s\n",
			want: []string{`bad.yaml:6:10: rule "r": for applies only to kind: window, because record rules have no pending state`},
		},
		{
			name: "for out of range",
			yaml: windowRule + "    for: 25h\n",
			want: []string{`bad.yaml:8:10: rule "r": for 25h is outside the range 0s to 24h`},
		},
		{
			name: "resolve not a switch",
			yaml: windowRule + "    resolve: maybe\n",
			want: []string{`bad.yaml:8:14: rule "r": resolve "maybe" is not on or off`},
		},
		{
			name: "resolve on a record rule",
			yaml: "rules:\n  - name: r\n    severity: high\n    kind: record\n    when: dst_port == 25\n    resolve: on\n    summary: s\n",
			want: []string{`bad.yaml:6:14: rule "r": resolve applies only to kind: window, because record rules only fire`},
		},
		{
			name: "labels",
			yaml: windowRule + "    labels:\n      9team: x\n      team: \"{{ .key }}\"\n      rule: x\n",
			want: []string{
				`bad.yaml:9:7: rule "r": invalid label name "9team": use letters, digits and '_', starting with a letter`,
				`bad.yaml:10:13: rule "r": label "team": values are static text, not templates, so that label values stay few`,
				`bad.yaml:11:7: rule "r": label name "rule" is reserved for the anomaly's own field`,
			},
		},
		{
			name: "labels not a mapping",
			yaml: windowRule + "    labels: [a]\n",
			want: []string{`bad.yaml:8:13: rule "r": labels must be a mapping of label names to values`},
		},
		{
			name: "typed lists",
			yaml: "lists:\n  p: {type: ports, items: [25, 30-20, x]}\n  c: {type: countries, items: [CN, China]}\n  t: {type: colors, items: [red]}\n  m: {items: [1]}\n",
			want: []string{
				`bad.yaml:2:32: list "p": invalid port or port range: range 30-20 ends before it starts`,
				`bad.yaml:2:39: list "p": invalid port or port range: "x" is not a port number 0–65535`,
				`bad.yaml:3:36: list "c": invalid country: "China" is not a two-letter ISO 3166-1 country code such as CN or US`,
				`bad.yaml:4:13: list "t": invalid type "colors" (expected cidrs, ports or countries)`,
				`bad.yaml:5:6: list "m": missing type (cidrs, ports or countries)`,
			},
		},
		{
			name: "list type mismatch in in_list",
			yaml: "lists:\n  p: {type: ports, items: [25]}\n  n: [10.0.0.0/8]\n" +
				"rules:\n  - name: r\n    severity: high\n    kind: record\n    when: in_list(src_ip, \"p\") || in_list(dst_port, \"n\")\n    summary: s\n",
			want: []string{
				"bad.yaml:8:11: rule \"r\": when: in_list: list \"p\" holds ports, so the first argument must be a port such as dst_port, not netip.Addr (1:9)\n | in_list(src_ip, \"p\") || in_list(dst_port, \"n\")\n | ........^",
				"bad.yaml:8:11: rule \"r\": when: in_list: list \"n\" holds cidrs, so the first argument must be an address such as src_ip, not int (1:33)\n | in_list(src_ip, \"p\") || in_list(dst_port, \"n\")\n | ................................^",
			},
		},
		{
			name: "except naming a ports list",
			yaml: "lists:\n  p: {type: ports, items: [25]}\nexcept: [p]\n",
			want: []string{`bad.yaml:3:10: except: list "p" holds ports, but except needs a cidrs list`},
		},
		{
			name: "expression too long",
			yaml: strings.Replace(windowRule, "conns > 1", `key != '`+strings.Repeat("x", MaxExpressionBytes)+`'`, 1),
			want: []string{`bad.yaml:6:11: rule "r": when: expression is 4105 bytes long, more than the limit of 4096; move address and port values into lists`},
		},
		{
			name: "expression with too many nodes",
			yaml: strings.Replace(windowRule, "conns > 1", "conns in ["+strings.TrimSuffix(strings.Repeat("1,", 450), ",")+"]", 1),
			want: []string{`bad.yaml:6:11: rule "r": when: expression has 453 syntax nodes, more than the limit of 400; move address and port values into lists or split the rule`},
		},
		{
			name: "unknown top-level key",
			yaml: "exept: [a]\n",
			want: []string{`bad.yaml:1:1: unknown key "exept" (expected lists, rules or except)`},
		},
		{
			name: "type error at load",
			yaml: strings.Replace(windowRule, "conns > 1", "beacon_peer + 1", 1),
			want: []string{"bad.yaml:6:11: rule \"r\": when: invalid operation: + (mismatched types netip.Addr and int) (1:13)\n | beacon_peer + 1\n | ............^"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileText(t, [2]string{"bad.yaml", tt.yaml})
			errs, _ := err.(Errors)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, want := range tt.want {
				if got := errs[i].Error(); got != want {
					t.Errorf("error %d:\ngot  %s\nwant %s", i, got, want)
				}
			}
		})
	}
}

func TestFormatFields(t *testing.T) {
	set, err := compileText(t, [2]string{"a.yaml", windowRule + "    for: 3\n    resolve: off\n    labels: {team: net, category: scan}\n"},
		[2]string{"b.yaml", "rules:\n  - name: d\n    severity: low\n    kind: window\n    window: 1m\n    for: 2m\n    when: conns > 1\n    summary: s\n"})
	if err != nil {
		t.Fatal(err)
	}
	r, d := set.Rule("r"), set.Rule("d")
	if r.ForEvals != 3 || r.For != 0 || r.Resolve {
		t.Errorf("r: for evals %d, for %s, resolve %v; want 3, 0s, false", r.ForEvals, r.For, r.Resolve)
	}
	if d.For.String() != "2m0s" || d.ForEvals != 0 || !d.Resolve {
		t.Errorf("d: for %s, for evals %d, resolve %v; want 2m0s, 0, true", d.For, d.ForEvals, d.Resolve)
	}
	if got := r.Labels.Map(); len(got) != 2 || got["team"] != "net" || got["category"] != "scan" {
		t.Errorf("labels = %v", got)
	}
	if name, value := r.Labels.At(0); name != "category" || value != "scan" {
		t.Errorf("first label = %s=%s, want category=scan", name, value)
	}
	if d.Labels != nil {
		t.Errorf("d has labels %v", d.Labels.Map())
	}
}

func TestFingerprintCoversForAndResolve(t *testing.T) {
	base, err := compileText(t, [2]string{"a.yaml", windowRule})
	if err != nil {
		t.Fatal(err)
	}
	for _, extra := range []string{"    for: 3\n", "    resolve: off\n", "    cooldown: 1m\n"} {
		changed, err := compileText(t, [2]string{"a.yaml", windowRule + extra})
		if err != nil {
			t.Fatal(err)
		}
		if changed.Rule("r").Fingerprint() == base.Rule("r").Fingerprint() {
			t.Errorf("adding %q keeps the fingerprint", strings.TrimSpace(extra))
		}
	}
	for _, extra := range []string{"    labels: {team: x}\n", "    description: text\n", "    summary_zh: 中文\n"} {
		same, err := compileText(t, [2]string{"a.yaml", windowRule + extra})
		if err != nil {
			t.Fatal(err)
		}
		if same.Rule("r").Fingerprint() != base.Rule("r").Fingerprint() {
			t.Errorf("adding %q changes the fingerprint", strings.TrimSpace(extra))
		}
	}
	global, err := compileText(t, [2]string{"a.yaml", windowRule + "lists:\n  probes: [10.9.0.1]\nexcept: [probes]\n"})
	if err != nil {
		t.Fatal(err)
	}
	if global.Rule("r").Fingerprint() == base.Rule("r").Fingerprint() {
		t.Error("a global except keeps the fingerprint")
	}
}

func TestGlobalExcept(t *testing.T) {
	set, err := compileText(t,
		[2]string{"lists.yaml", "lists:\n  probes: [10.9.0.1]\n  ntp: [192.0.2.123]\nexcept: [probes]\n"},
		[2]string{"more.yaml", "except: [ntp, probes]\n" + strings.TrimPrefix(windowRule, "")})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rule("r")
	for _, tt := range []struct {
		addr string
		want bool
	}{{"10.9.0.1", true}, {"192.0.2.123", true}, {"10.9.0.2", false}} {
		if got := r.Excepted(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Excepted(%s) = %v, want %v", tt.addr, got, tt.want)
		}
		if got := set.GlobalExcept().Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("GlobalExcept().Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

type stubGeo map[string]string

func (g stubGeo) Country(a netip.Addr) string { return g[a.String()] }
func (g stubGeo) ASN(a netip.Addr) uint32 {
	if g[a.String()] != "" {
		return 64500
	}
	return 0
}

type stubIntel map[string]string

func (s stubIntel) Lookup(a netip.Addr) (string, bool) {
	feed, ok := s[a.String()]
	return feed, ok
}

func TestFunctions(t *testing.T) {
	opts := Options{
		Geo:         stubGeo{"198.51.100.1": "US", "203.0.113.1": "CN", "10.0.0.1": "US"},
		HomeCountry: "cn",
		Intel:       stubIntel{"198.51.100.66": "abuse_ch"},
		Lists:       map[string][]string{"partners": {"HK"}},
	}
	lists := "lists:\n  smtp: {type: ports, items: [25, 587]}\n  partners: {type: countries, items: [US]}\n"
	tests := []struct {
		when string
		env  RecordEnv
		want bool
	}{
		{`country(dst_ip) == "US"`, RecordEnv{DstIP: netip.MustParseAddr("198.51.100.1")}, true},
		{`country(dst_ip) == ""`, RecordEnv{DstIP: netip.MustParseAddr("192.0.2.1")}, true},
		{`asn(dst_ip) == 64500`, RecordEnv{DstIP: netip.MustParseAddr("198.51.100.1")}, true},
		{`is_foreign(dst_ip)`, RecordEnv{DstIP: netip.MustParseAddr("198.51.100.1")}, true},
		{`is_foreign(dst_ip)`, RecordEnv{DstIP: netip.MustParseAddr("203.0.113.1")}, false},
		{`is_foreign(dst_ip)`, RecordEnv{DstIP: netip.MustParseAddr("10.0.0.1")}, false},  // private, whatever the database returns
		{`is_foreign(dst_ip)`, RecordEnv{DstIP: netip.MustParseAddr("192.0.2.1")}, false}, // unknown country
		{`threat(dst_ip) == "abuse_ch"`, RecordEnv{DstIP: netip.MustParseAddr("198.51.100.66")}, true},
		{`in_threat_intel(dst_ip)`, RecordEnv{DstIP: netip.MustParseAddr("198.51.100.67")}, false},
		{`in_list(dst_port, "smtp")`, RecordEnv{DstPort: 587}, true},
		{`in_list(dst_port, "smtp")`, RecordEnv{DstPort: 588}, false},
		{`in_list(country(dst_ip), "partners")`, RecordEnv{DstIP: netip.MustParseAddr("198.51.100.1")}, false}, // overridden to HK
		{`hour() == 3 && weekday() == 2 && !work_time()`, RecordEnv{Hour: 3, Weekday: 2}, true},
		{`work_time() && hour == 10`, RecordEnv{Hour: 10, WorkTime: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			file, errs := ParseFile("f.yaml", []byte(lists+"rules:\n  - name: r\n    severity: low\n    kind: record\n    when: '"+tt.when+"'\n    summary: s\n"))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			set, err := opts.Compile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := set.Rule("r").Match(&vm.VM{}, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOverrideOfUnknownList(t *testing.T) {
	file, _ := ParseFile("f.yaml", []byte("lists:\n  a: [10.0.0.0/8]\n"))
	_, err := Options{Lists: map[string][]string{"b": {"10.0.0.1"}}}.Compile(file)
	if err == nil || err.Error() != `(options): list "b": override of a list that no rule file defines` {
		t.Errorf("error = %v", err)
	}
}

func TestPortAndCountrySets(t *testing.T) {
	var ports PortSet
	ports.AddRange(0, 0)
	ports.AddRange(8000, 8080)
	ports.AddRange(65535, 65535)
	for _, tt := range []struct {
		port int
		want bool
	}{{0, true}, {1, false}, {7999, false}, {8000, true}, {8080, true}, {8081, false}, {65535, true}, {-1, false}, {65536, false}} {
		if got := ports.Contains(tt.port); got != tt.want {
			t.Errorf("Contains(%d) = %v, want %v", tt.port, got, tt.want)
		}
	}
	var countries CountrySet
	countries.Add("CN")
	countries.Add("ZZ")
	for _, tt := range []struct {
		code string
		want bool
	}{{"CN", true}, {"cn", true}, {"ZZ", true}, {"US", false}, {"", false}, {"C", false}, {"C1", false}} {
		if got := countries.Contains(tt.code); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(windowRule + "    for: 3\n    labels: {a: b}\n"))
	f.Add([]byte("lists:\n  p: {type: ports, items: [25, 1-9]}\nexcept: [p]\n"))
	f.Add([]byte("rules:\n  - name: r\n    kind: record\n    when: in_list(dst_port, \"p\")\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, errs := ParseFile("fuzz.yaml", data)
		for _, e := range errs {
			if e.File != "fuzz.yaml" || e.Message == "" {
				t.Fatalf("error without file or message: %+v", e)
			}
		}
		if file == nil {
			t.Fatal("nil file")
		}
		set, err := Compile(file)
		if err == nil && set == nil {
			t.Fatal("nil set without error")
		}
	})
}
