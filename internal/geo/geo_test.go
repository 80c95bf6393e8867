package geo

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeDB builds a small MaxMind-format database in a temp dir. Records use the GeoLite2 layout:
// country.iso_code, registered_country.iso_code and autonomous_system_number.
func writeDB(t *testing.T, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "natwatch-test", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "test.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func country(code string) mmdbtype.Map {
	return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
}

func TestLookup(t *testing.T) {
	countries := writeDB(t, map[string]mmdbtype.Map{
		"198.51.100.0/24": country("US"),
		"203.0.113.0/25":  country("CN"),
		"192.0.2.0/24":    {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("jp")}},
		"2001:db8::/32":   country("DE"),
	})
	asns := writeDB(t, map[string]mmdbtype.Map{
		"198.51.100.0/25": {"autonomous_system_number": mmdbtype.Uint32(64500)},
		"2001:db8::/48":   {"autonomous_system_number": mmdbtype.Uint32(64501)},
	})
	db, err := OpenList(countries + ", " + asns)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		country string
		asn     uint32
	}{
		{"198.51.100.1", "US", 64500},
		{"198.51.100.200", "US", 0},
		{"203.0.113.5", "CN", 0},
		{"203.0.113.200", "", 0},
		{"192.0.2.9", "JP", 0}, // registered country when the country is missing
		{"::ffff:198.51.100.1", "US", 64500},
		{"2001:db8::1", "DE", 64501},
		{"2001:db8:1::1", "DE", 0},
		{"2001:db9::1", "", 0},
		{"10.1.2.3", "", 0},
	}
	for _, tt := range tests {
		addr := netip.MustParseAddr(tt.addr)
		if got := db.Country(addr); got != tt.country {
			t.Errorf("Country(%s) = %q, want %q", tt.addr, got, tt.country)
		}
		if got := db.ASN(addr); got != tt.asn {
			t.Errorf("ASN(%s) = %d, want %d", tt.addr, got, tt.asn)
		}
	}
	if got := testing.AllocsPerRun(100, func() { db.Country(netip.MustParseAddr("198.51.100.1")) }); got != 0 {
		t.Errorf("Country allocates %.0f times per call", got)
	}
}

func TestOpenErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o644)
	for _, list := range []string{"", " , ", bad, filepath.Join(t.TempDir(), "missing.mmdb")} {
		if db, err := OpenList(list); err == nil {
			t.Errorf("OpenList(%q) = %v, want an error", list, db)
		}
	}
	var none *DB
	if none.Country(netip.MustParseAddr("198.51.100.1")) != "" || none.ASN(netip.MustParseAddr("198.51.100.1")) != 0 {
		t.Error("a nil DB answers")
	}
}
