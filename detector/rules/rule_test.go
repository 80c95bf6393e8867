package rules

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/natwatch/natwatch/internal/natlog"
)

func TestPrefixSetContains(t *testing.T) {
	var prefixes []netip.Prefix
	for _, text := range []string{"10.20.0.0/16", "10.21.0.0/16", "10.20.5.0/24", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120"} {
		p, err := ParsePrefix(text)
		if err != nil {
			t.Fatalf("ParsePrefix(%q): %v", text, err)
		}
		prefixes = append(prefixes, p)
	}
	set := NewPrefixSet(prefixes)

	tests := []struct {
		addr string
		want bool
	}{
		{"10.20.0.0", true},
		{"10.21.255.255", true},
		{"10.22.0.0", false},
		{"10.19.255.255", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"198.51.100.200", true},
		{"::ffff:10.20.3.4", true},
		{"2001:db8:ffff::1", true},
		{"2001:db9::1", false},
		{"::1", false},
	}
	for _, tt := range tests {
		if got := set.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if set.Contains(netip.Addr{}) {
		t.Error("Contains(zero Addr) = true, want false")
	}
	if len(set.v4) != 3 {
		t.Errorf("IPv4 ranges = %v, want 3 after merging the adjacent /16s and the nested /24", set.v4)
	}
}

func TestPrefixSetWholeSpace(t *testing.T) {
	set := NewPrefixSet([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")})
	for _, addr := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		if !set.Contains(netip.MustParseAddr(addr)) {
			t.Errorf("Contains(%s) = false, want true", addr)
		}
	}
}

func TestDerivedValueAndThreshold(t *testing.T) {
	tests := []struct {
		when      string
		value     string
		threshold float64
	}{
		{"dst_ports > 50", "dst_ports", 50},
		{"syn_per_s >= 2000.5", "syn_per_s", 2000.5},
		{"conns / window_seconds < 3", "conns / window_seconds", 3},
		{"0.9 <= syn_ratio", "syn_ratio", 0.9},
		{"drops > -1", "drops", -1},
		{"dst_ports > 50 && conns > 100", "", 0},
		{"dst_ports == 50", "", 0},
	}
	for _, tt := range tests {
		set, err := compileText(t, [2]string{"r.yaml", `rules:
  - name: r
    severity: low
    kind: window
    window: 1m
    when: "` + tt.when + `"
    summary: x
`})
		if err != nil {
			t.Fatalf("%s: %v", tt.when, err)
		}
		r := set.Rule("r")
		if r.Value != tt.value || r.Threshold != tt.threshold {
			t.Errorf("%s: value %q threshold %v, want %q and %v", tt.when, r.Value, r.Threshold, tt.value, tt.threshold)
		}
	}
}

func TestRecordPins(t *testing.T) {
	tests := []struct {
		when   string
		protos []natlog.Proto
		ports  []uint16
		dirs   []natlog.Direction
		src    []string
	}{
		{`proto == "udp" && dst_port == 53`, []natlog.Proto{natlog.ProtoUDP}, []uint16{53}, nil, nil},
		{`dst_port in [25, 465, 587] and "tcp" == proto`, []natlog.Proto{natlog.ProtoTCP}, []uint16{25, 465, 587}, nil, nil},
		{`direction in ["outbound", "internal"] && in_list(src_ip, "office_nets")`, nil, nil,
			[]natlog.Direction{natlog.DirectionOutbound, natlog.DirectionInternal}, []string{"office_nets"}},
		{`dst_port in [25, 587] && dst_port == 587`, nil, []uint16{587}, nil, nil},
		{`dst_port == 25 && dst_port == 587`, nil, []uint16{}, nil, nil},
		{`dst_port == 25 || proto == "udp"`, nil, nil, nil, nil},
		{`proto == "47"`, []natlog.Proto{natlog.ProtoGRE}, nil, nil, nil},
	}
	for _, tt := range tests {
		set, err := compileText(t, [2]string{"lists.yaml", testLists}, [2]string{"r.yaml", `rules:
  - name: r
    severity: low
    kind: record
    when: '` + tt.when + `'
    summary: x
`})
		if tt.when == `proto == "47"` {
			// Proto.String names protocol 47 "gre", so "47" never matches and is an error.
			if err == nil {
				t.Errorf("%s: no error for a protocol number with a name", tt.when)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.when, err)
		}
		pins := set.Rule("r").Pins
		if !equalPins(pins.Protos, tt.protos) || !equalPins(pins.DstPorts, tt.ports) ||
			!equalPins(pins.Directions, tt.dirs) || !equalPins(pins.SrcLists, tt.src) {
			t.Errorf("%s: pins %+v, want protos %v ports %v directions %v lists %v", tt.when, pins, tt.protos, tt.ports, tt.dirs, tt.src)
		}
	}
}

// equalPins compares pins, telling nil (any value) from empty (no value).
func equalPins[T comparable](a, b []T) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

func TestRecordRuleMatch(t *testing.T) {
	set, err := compileText(t, [2]string{"lists.yaml", testLists}, [2]string{"r.yaml", `rules:
  - name: smtp
    severity: medium
    kind: record
    when: proto == "tcp" && dst_port == 25 && in_list(src_ip, "office_nets") && !in_list(src_ip, "mail_relays")
    value: bytes
    summary: "{{ .src }} sent {{ .value }} bytes to {{ .dst }}:{{ .dst_port }}"
    summary_zh: "{{ .src }} 向 {{ .dst }} 发送了 {{ .value }} 字节"
  - name: known_bad
    severity: high
    kind: record
    when: dst_ip == ip("203.0.113.66") || in_cidr(dst_ip, "198.51.100.0/24")
    summary: bad
`})
	if err != nil {
		t.Fatal(err)
	}

	ev := natlog.ConnEvent{
		Time:      time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC),
		Proto:     natlog.ProtoTCP,
		Src:       netip.MustParseAddr("10.20.3.4"),
		Dst:       netip.MustParseAddr("203.0.113.66"),
		DstPort:   25,
		Counters:  natlog.CountersTotal,
		OrigBytes: 1200, ReplyBytes: 300,
	}
	tests := []struct {
		rule   string
		mutate func(*natlog.ConnEvent)
		want   bool
	}{
		{"smtp", func(*natlog.ConnEvent) {}, true},
		{"smtp", func(e *natlog.ConnEvent) { e.Src = netip.MustParseAddr("10.20.1.25") }, false},
		{"smtp", func(e *natlog.ConnEvent) { e.Src = netip.MustParseAddr("10.30.0.1") }, false},
		{"smtp", func(e *natlog.ConnEvent) { e.Proto = natlog.ProtoUDP }, false},
		{"known_bad", func(*natlog.ConnEvent) {}, true},
		{"known_bad", func(e *natlog.ConnEvent) { e.Dst = netip.MustParseAddr("198.51.100.9") }, true},
		{"known_bad", func(e *natlog.ConnEvent) { e.Dst = netip.MustParseAddr("198.51.101.9") }, false},
	}
	var machine vm.VM
	for i, tt := range tests {
		e := ev
		tt.mutate(&e)
		var env RecordEnv
		env.Fill(&e)
		got, err := set.Rule(tt.rule).Match(&machine, env)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got != tt.want {
			t.Errorf("case %d: %s matched %v, want %v", i, tt.rule, got, tt.want)
		}
	}

	var env RecordEnv
	env.Fill(&ev)
	smtp := set.Rule("smtp")
	value, err := smtp.Measure(&machine, env)
	if err != nil || value != 1500 {
		t.Errorf("Measure = %v, %v; want 1500", value, err)
	}
	data := SummaryData(smtp, "gw1", "10.20.3.4", value, "10.20.3.4", "203.0.113.66")
	AddRecordData(data, &env)
	for _, tt := range []struct {
		chinese bool
		want    string
	}{
		{false, "10.20.3.4 sent 1500 bytes to 203.0.113.66:25"},
		{true, "10.20.3.4 向 203.0.113.66 发送了 1500 字节"},
	} {
		got, err := smtp.RenderSummary(data, tt.chinese)
		if err != nil || got != tt.want {
			t.Errorf("RenderSummary(chinese=%v) = %q, %v; want %q", tt.chinese, got, err, tt.want)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	tests := map[float64]string{60: "60", 2500.5: "2500.50", 1e6: "1000000", 0.126: "0.13", -3: "-3"}
	for v, want := range tests {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{5 * time.Minute: "5m", time.Second: "1s", 90 * time.Second: "90s", 2 * time.Hour: "2h", 1500 * time.Millisecond: "1.5s"}
	for d, want := range tests {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestMatchWindowAgreesWithExpr(t *testing.T) {
	conditions := []string{
		"syn_per_s > 2000",
		"dst_ports >= 51 && conns > 10",
		"drops_per_s <= 0.5",
		"syn_ratio == 1 && hour != 3",
		"conns / window_seconds > 5", // not direct: evaluated by expr only
	}
	envs := []WindowEnv{
		{SYNPerS: 2000, Conns: 11, DstPorts: 51, DropsPerS: 0.5, SYNRatio: 1, Hour: 3, WindowSeconds: 2},
		{SYNPerS: 2000.5, Conns: 10, DstPorts: 60, DropsPerS: 0.6, SYNRatio: 1, Hour: 4, WindowSeconds: 1},
		{},
	}
	var machine vm.VM
	for _, cond := range conditions {
		set, err := compileText(t, [2]string{"r.yaml", "rules:\n  - name: r\n    severity: low\n    kind: window\n    window: 1m\n    when: \"" + cond + "\"\n    summary: x\n"})
		if err != nil {
			t.Fatal(err)
		}
		r := set.Rule("r")
		for i := range envs {
			want, err := r.Match(&machine, envs[i])
			if err != nil {
				t.Fatal(err)
			}
			got, direct := r.MatchWindow(&envs[i])
			if direct != (cond != "conns / window_seconds > 5") {
				t.Errorf("%s: direct = %v", cond, direct)
			}
			if direct && got != want {
				t.Errorf("%s on env %d: direct %v, expr %v", cond, i, got, want)
			}
		}
	}
}
