package natlog

import (
	"testing"
	"time"
)

func TestNextPair(t *testing.T) {
	line := []byte(`a=1 b="x, y \"z\"" c= d;e=2#012f=3 bare`)
	want := [][2]string{{"a", "1"}, {"b", `x, y \"z\"`}, {"c", ""}, {"d;e", "2"}, {"f", "3"}, {"bare", "<nil>"}}
	i := 0
	for n, w := range want {
		key, value, next, ok := nextPair(line, i, ' ')
		if !ok {
			t.Fatalf("pair %d: no pair left", n)
		}
		got := string(value)
		if value == nil {
			got = "<nil>"
		}
		if string(key) != w[0] || got != w[1] {
			t.Errorf("pair %d = %q=%q, want %q=%q", n, key, got, w[0], w[1])
		}
		i = next
	}
	if _, _, _, ok := nextPair(line, i, ' '); ok {
		t.Error("a pair after the last one")
	}
}

func TestNextPairSemicolons(t *testing.T) {
	line := []byte("Protocol(1001)=TCP;RcvVPNInstance(1042)=;Event(1048)=(8)Session created;")
	var keys, values []string
	for i := 0; ; {
		key, value, next, ok := nextPair(line, i, ';')
		if !ok {
			break
		}
		keys = append(keys, string(stripKeyID(key)))
		values = append(values, string(value))
		i = next
	}
	if len(keys) != 3 || keys[2] != "Event" || values[1] != "" || values[2] != "(8)Session created" {
		t.Errorf("keys %q values %q", keys, values)
	}
}

func TestReasonState(t *testing.T) {
	tests := []struct {
		reason string
		proto  Proto
		want   State
	}{
		{"TCP FINs", ProtoTCP, StateClosed},
		{"TCP Reset-I", ProtoTCP, StateReset},
		{"tcp-rst-from-client", ProtoTCP, StateReset},
		{"SYN Timeout", ProtoTCP, StateSYNOnly},
		{"(1)Normal over", ProtoTCP, StateClosed},
		{"aged-out", ProtoUDP, StateUnknown},
		{"first packet", ProtoTCP, StateUnknown},
		{"", ProtoTCP, StateUnknown},
	}
	for _, tt := range tests {
		if got := reasonState(tt.proto, []byte(tt.reason)); got != tt.want {
			t.Errorf("reasonState(%q) = %s, want %s", tt.reason, got, tt.want)
		}
	}
}

func TestIsAbsent(t *testing.T) {
	for _, s := range []string{"", "-", "--", "N/A", "None", "UNKNOWN", "(null)", "-@-", "0000/00/00 00:00:00", "0000-00-00 00:00:00"} {
		if !isAbsent([]byte(s)) {
			t.Errorf("isAbsent(%q) = false", s)
		}
	}
	for _, s := range []string{"0", "10.20.4.37", "aged-out", "0000:1::1"} {
		if isAbsent([]byte(s)) {
			t.Errorf("isAbsent(%q) = true", s)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct{ in, host, port string }{
		{"10.20.4.37:52144", "10.20.4.37", "52144"},
		{"[2001:db8::1]:443", "2001:db8::1", "443"},
		{"2001:db8:1::37:52144", "2001:db8:1::37", "52144"},
		{"2001:db8::1", "2001:db8::1", ""},
		{"10.20.4.37", "10.20.4.37", ""},
	}
	for _, tt := range tests {
		host, port := splitHostPort([]byte(tt.in), ':')
		if string(host) != tt.host || string(port) != tt.port {
			t.Errorf("splitHostPort(%q) = %q, %q; want %q, %q", tt.in, host, port, tt.host, tt.port)
		}
	}
}

func TestParseHMS(t *testing.T) {
	tests := map[string]time.Duration{"0:31:48": 31*time.Minute + 48*time.Second, "92:24:20": 92*time.Hour + 24*time.Minute + 20*time.Second}
	for in, want := range tests {
		if got, ok := parseHMS([]byte(in)); !ok || got != want {
			t.Errorf("parseHMS(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "1:2:3", ":31:48", "0:61:00", "0:31:48x"} {
		if _, ok := parseHMS([]byte(in)); ok {
			t.Errorf("parseHMS(%q) accepted", in)
		}
	}
}
