// Package geo maps addresses to countries and autonomous systems from MaxMind-format (.mmdb)
// databases: MaxMind GeoLite2 Country and ASN (free with a MaxMind account), GeoIP2, or the
// DB-IP Lite country and ASN databases, which use the same record layout.
//
// Open reads every network of the databases once into sorted address ranges, so a lookup is a
// binary search that allocates nothing, rather than a tree walk and a record decode per call.
package geo

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB maps addresses to countries and AS numbers. A nil *DB returns "" and 0.
type DB struct {
	country   table    // values index countries
	asn       table    // values are AS numbers
	countries []string // interned codes; index 0 is ""
	networks  int
}

// table maps address ranges to a value, in two sorted lists of ranges that do not overlap.
type table struct {
	v4 []span4
	v6 []span6
}

type span4 struct {
	first, last uint32
	value       uint32
}

type span6 struct {
	first, last [16]byte
	value       uint32
}

// record is the part of a GeoLite2/GeoIP2/DB-IP record natwatch reads.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
}

// Open loads one or more databases, such as a country database and an ASN database. Where
// two databases give a country (or an ASN) for the same address, the first database wins.
func Open(paths ...string) (*DB, error) {
	db := &DB{countries: []string{""}}
	codes := map[string]uint32{"": 0}

	for _, path := range paths {
		reader, err := maxminddb.Open(path)
		if err != nil {
			return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
		}
		var rec record
		for result := range reader.Networks() {
			if err := result.Err(); err != nil {
				reader.Close()
				return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
			}
			rec = record{}
			if err := result.Decode(&rec); err != nil {
				reader.Close()
				return nil, fmt.Errorf("GeoIP database %s: network %s: %w", path, result.Prefix(), err)
			}
			db.networks++
			code := strings.ToUpper(rec.Country.ISOCode)
			if code == "" {
				code = strings.ToUpper(rec.RegisteredCountry.ISOCode)
			}
			prefix := result.Prefix()
			if code != "" {
				id, known := codes[code]
				if !known {
					id = uint32(len(db.countries))
					codes[code] = id
					db.countries = append(db.countries, code)
				}
				db.country.add(prefix, id)
			}
			if rec.ASN != 0 {
				db.asn.add(prefix, rec.ASN)
			}
		}
		reader.Close()
	}

	db.country.merge()
	db.asn.merge()
	return db, nil
}

func (t *table) add(prefix netip.Prefix, value uint32) {
	if addr := prefix.Addr().Unmap(); addr.Is4() {
		bits := prefix.Bits()
		if prefix.Addr().Is4In6() {
			bits -= 96
		}
		first, last := range4(netip.PrefixFrom(addr, bits))
		t.v4 = append(t.v4, span4{first, last, value})
		return
	}
	first, last := range6(prefix)
	t.v6 = append(t.v6, span6{first, last, value})
}

func range4(p netip.Prefix) (uint32, uint32) {
	p = p.Masked()
	b := p.Addr().As4()
	first := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if p.Bits() == 0 {
		return 0, ^uint32(0)
	}
	return first, first | (uint32(1)<<(32-p.Bits()) - 1)
}

func range6(p netip.Prefix) (first, last [16]byte) {
	p = p.Masked()
	first = p.Addr().As16()
	last = first
	for bit := p.Bits(); bit < 128; bit++ {
		last[bit/8] |= 0x80 >> (bit % 8)
	}
	return first, last
}

// merge sorts the spans and drops a span that overlaps an earlier one. One database never has
// overlapping networks, so only a later database loses, in the range it shares.
//
// NOTE: a later span that only partly overlaps is dropped whole, so its part outside the
// earlier span is lost.
func (t *table) merge() {
	slices.SortStableFunc(t.v4, func(a, b span4) int { return cmp.Compare(a.first, b.first) })
	out4 := t.v4[:0]
	for _, s := range t.v4 {
		if n := len(out4); n > 0 && s.first <= out4[n-1].last {
			continue
		}
		out4 = append(out4, s)
	}
	t.v4 = out4

	slices.SortStableFunc(t.v6, func(a, b span6) int { return cmpBytes(a.first, b.first) })
	out6 := t.v6[:0]
	for _, s := range t.v6 {
		if n := len(out6); n > 0 && cmpBytes(s.first, out6[n-1].last) <= 0 {
			continue
		}
		out6 = append(out6, s)
	}
	t.v6 = out6
}

func cmpBytes(a, b [16]byte) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// Networks returns the number of networks read from the databases.
func (db *DB) Networks() int {
	if db == nil {
		return 0
	}
	return db.networks
}

// Country returns the ISO 3166-1 alpha-2 code of addr's country, or "" when unknown.
func (db *DB) Country(addr netip.Addr) string {
	if db == nil {
		return ""
	}
	return db.countries[db.country.lookup(addr)]
}

// ASN returns the number of addr's autonomous system, or 0 when unknown.
func (db *DB) ASN(addr netip.Addr) uint32 {
	if db == nil {
		return 0
	}
	return db.asn.lookup(addr)
}

func (t *table) lookup(addr netip.Addr) uint32 {
	if !addr.IsValid() {
		return 0
	}
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		i, _ := slices.BinarySearchFunc(t.v4, n, func(s span4, n uint32) int {
			switch {
			case s.last < n:
				return -1
			case s.first > n:
				return 1
			}
			return 0
		})
		if i < len(t.v4) && t.v4[i].first <= n && n <= t.v4[i].last {
			return t.v4[i].value
		}
		return 0
	}
	n := addr.As16()
	i, _ := slices.BinarySearchFunc(t.v6, n, func(s span6, n [16]byte) int {
		switch {
		case cmpBytes(s.last, n) < 0:
			return -1
		case cmpBytes(s.first, n) > 0:
			return 1
		}
		return 0
	})
	if i < len(t.v6) && cmpBytes(t.v6[i].first, n) <= 0 && cmpBytes(n, t.v6[i].last) <= 0 {
		return t.v6[i].value
	}
	return 0
}

// ErrNoPaths is returned by OpenList for an empty list.
var ErrNoPaths = errors.New("no GeoIP database given")

// OpenList opens the comma-separated database paths of the GeoIP_Database key.
func OpenList(list string) (*DB, error) {
	var paths []string
	for p := range strings.SplitSeq(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, ErrNoPaths
	}
	return Open(paths...)
}
