package intel

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bundle = `{
  "type": "bundle",
  "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
  "objects": [
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1", "pattern_type": "stix",
     "pattern": "[ipv4-addr:value = '198.51.100.66'] OR [ipv4-addr:value = '203.0.113.0/28']"},
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--a2", "pattern_type": "stix",
     "pattern": "[ipv6-addr:value = '2001:db8:bad::/48']"},
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--a3", "pattern_type": "stix", "revoked": true,
     "pattern": "[ipv4-addr:value = '198.51.100.67']"},
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--a4", "pattern_type": "snort",
     "pattern": "alert ip 198.51.100.68 any -> any any"},
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--a5", "pattern_type": "stix",
     "pattern": "[domain-name:value = 'evil.example']"},
    {"type": "malware", "id": "malware--b1", "name": "x"}
  ]
}`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a_stix.json":  bundle,
		"b_block.txt":  "# blocklist\n192.0.2.7\n192.0.2.64/26 # a range\n\n198.51.100.66\n",
		"c_feed.csv":   "ip,first_seen\n203.0.113.200,2026-03-01\n",
		"notes.md":     "not a feed",
		"d_empty.list": "",
	})
	feeds, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &Store{}
	if _, found := store.Lookup(netip.MustParseAddr("198.51.100.66")); found {
		t.Error("an empty store matches")
	}
	store.Set(feeds)
	tests := []struct {
		addr string
		feed string
	}{
		{"198.51.100.66", "a_stix"}, // listed twice: the first file wins
		{"203.0.113.15", "a_stix"},
		{"203.0.113.16", ""},
		{"2001:db8:bad:1::9", "a_stix"},
		{"198.51.100.67", ""}, // revoked
		{"198.51.100.68", ""}, // not a STIX pattern
		{"192.0.2.7", "b_block"},
		{"192.0.2.127", "b_block"},
		{"192.0.2.128", ""},
		{"::ffff:192.0.2.7", "b_block"},
		{"203.0.113.200", "c_feed"},
	}
	for _, tt := range tests {
		feed, found := store.Lookup(netip.MustParseAddr(tt.addr))
		if feed != tt.feed || found != (tt.feed != "") {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tt.addr, feed, found, tt.feed)
		}
	}
	if feeds.Len() != 7 {
		t.Errorf("Len = %d, want 7", feeds.Len())
	}
	if got := strings.Join(feeds.Names(), ","); got != "a_stix,b_block,c_feed,d_empty" {
		t.Errorf("Names = %s", got)
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.txt":  "192.0.2.1\n192.0.2.300\n",
		"b.json": `{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--x", "pattern": "[ipv4-addr:value = '2001:db8::1']"}]}`,
		"c.json": `{"type": "report"}`,
		"d.json": `{`,
	})
	_, err := LoadDir(dir)
	want := []string{
		filepath.Join(dir, "a.txt") + `:2: invalid address or CIDR "192.0.2.300"`,
		filepath.Join(dir, "b.json") + `: indicator indicator--x: invalid ipv4-addr value "2001:db8::1"`,
		filepath.Join(dir, "c.json") + `: type "report" is not a STIX 2.1 bundle or indicator`,
		filepath.Join(dir, "d.json") + `: invalid JSON: unexpected end of JSON input`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("error:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
