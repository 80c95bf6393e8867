package rules

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PrefixSet is a set of IPv4 and IPv6 prefixes stored as sorted, merged address ranges, so that
// Contains is a binary search with no allocation.
type PrefixSet struct {
	v4 []rangeV4
	v6 []rangeV6
}

type rangeV4 struct{ first, last uint32 }

type rangeV6 struct{ first, last uint128 }

type uint128 struct{ hi, lo uint64 }

func (a uint128) less(b uint128) bool {
	return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo)
}

// addOne returns a+1, and false on overflow.
func (a uint128) addOne() (uint128, bool) {
	if a.lo != ^uint64(0) {
		return uint128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return uint128{a.hi + 1, 0}, true
	}
	return a, false
}

// ParsePrefix parses a CIDR prefix or a bare address, which stands for a single host (/32 or
// /128). IPv4-mapped IPv6 prefixes are stored as their IPv4 form.
func ParsePrefix(text string) (netip.Prefix, error) {
	text = strings.TrimSpace(text)
	if !strings.Contains(text, "/") {
		addr, err := netip.ParseAddr(text)
		if err != nil {
			return netip.Prefix{}, err
		}
		if addr.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("address %q has a zone, which lists do not support", text)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}

	prefix, err := netip.ParsePrefix(text)
	if err != nil {
		return netip.Prefix{}, err
	}
	if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
	}
	return prefix.Masked(), nil
}

// NewPrefixSet builds a set from prefixes. Overlapping and adjacent prefixes are merged.
func NewPrefixSet(prefixes []netip.Prefix) *PrefixSet {
	set := &PrefixSet{}
	for _, p := range prefixes {
		p = p.Masked()
		if p.Addr().Is4() {
			first := v4Number(p.Addr())
			span := uint32(1)<<(32-p.Bits()) - 1
			if p.Bits() == 0 {
				span = ^uint32(0)
			}
			set.v4 = append(set.v4, rangeV4{first, first + span})
			continue
		}
		first := v6Number(p.Addr())
		last := first
		hostBits := 128 - p.Bits()
		switch {
		case hostBits >= 64:
			last.lo = ^uint64(0)
			if hostBits == 128 {
				last.hi = ^uint64(0)
			} else {
				last.hi |= uint64(1)<<(hostBits-64) - 1
			}
		case hostBits > 0:
			last.lo |= uint64(1)<<hostBits - 1
		}
		set.v6 = append(set.v6, rangeV6{first, last})
	}
	set.v4 = mergeV4(set.v4)
	set.v6 = mergeV6(set.v6)
	return set
}

// Union returns a set containing the addresses of all the given sets.
func Union(sets ...*PrefixSet) *PrefixSet {
	out := &PrefixSet{}
	for _, s := range sets {
		if s == nil {
			continue
		}
		out.v4 = append(out.v4, s.v4...)
		out.v6 = append(out.v6, s.v6...)
	}
	out.v4 = mergeV4(out.v4)
	out.v6 = mergeV6(out.v6)
	return out
}

func mergeV4(ranges []rangeV4) []rangeV4 {
	slices.SortFunc(ranges, func(a, b rangeV4) int { return cmp.Compare(a.first, b.first) })
	merged := ranges[:0]
	for _, r := range ranges {
		n := len(merged)
		if n > 0 && (merged[n-1].last == ^uint32(0) || r.first <= merged[n-1].last+1) {
			merged[n-1].last = max(merged[n-1].last, r.last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func mergeV6(ranges []rangeV6) []rangeV6 {
	slices.SortFunc(ranges, func(a, b rangeV6) int {
		switch {
		case a.first.less(b.first):
			return -1
		case b.first.less(a.first):
			return 1
		}
		return 0
	})
	merged := ranges[:0]
	for _, r := range ranges {
		n := len(merged)
		if n > 0 {
			next, ok := merged[n-1].last.addOne()
			if !ok || !next.less(r.first) {
				if merged[n-1].last.less(r.last) {
					merged[n-1].last = r.last
				}
				continue
			}
		}
		merged = append(merged, r)
	}
	return merged
}

func v4Number(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func v6Number(a netip.Addr) uint128 {
	b := a.As16()
	var n uint128
	for i := 0; i < 8; i++ {
		n.hi = n.hi<<8 | uint64(b[i])
		n.lo = n.lo<<8 | uint64(b[i+8])
	}
	return n
}

// Contains reports whether addr lies in one of the set's prefixes. An IPv4-mapped IPv6 address
// is looked up as IPv4. The zero Addr and a nil set contain nothing.
func (s *PrefixSet) Contains(addr netip.Addr) bool {
	if s == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	if addr.Is4() {
		n := v4Number(addr)
		i, _ := slices.BinarySearchFunc(s.v4, n, func(r rangeV4, n uint32) int {
			if r.last < n {
				return -1
			}
			if r.first > n {
				return 1
			}
			return 0
		})
		return i < len(s.v4) && s.v4[i].first <= n && n <= s.v4[i].last
	}

	n := v6Number(addr)
	i, _ := slices.BinarySearchFunc(s.v6, n, func(r rangeV6, n uint128) int {
		if r.last.less(n) {
			return -1
		}
		if n.less(r.first) {
			return 1
		}
		return 0
	})
	return i < len(s.v6) && !n.less(s.v6[i].first) && !s.v6[i].last.less(n)
}

// Empty reports whether the set contains no address.
func (s *PrefixSet) Empty() bool {
	return s == nil || (len(s.v4) == 0 && len(s.v6) == 0)
}

// ListType is what a named list holds.
type ListType string

// List types. A list written as a plain sequence is a cidrs list.
const (
	ListCIDRs     ListType = "cidrs"
	ListPorts     ListType = "ports"
	ListCountries ListType = "countries"
)

// PortSet is a set of TCP/UDP port numbers, one bit per port.
type PortSet struct {
	bits [65536 / 64]uint64
}

// ParsePortRange parses a port ("25") or an inclusive range ("8000-8080").
func ParsePortRange(text string) (first, last uint16, err error) {
	text = strings.TrimSpace(text)
	lo, hi, isRange := strings.Cut(text, "-")
	a, err := parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return a, a, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return 0, 0, err
	}
	if b < a {
		return 0, 0, fmt.Errorf("range %s ends before it starts", text)
	}
	return a, b, nil
}

func parsePort(text string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(text), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number 0–65535", text)
	}
	return uint16(n), nil
}

// AddRange adds the ports first to last, both included.
func (s *PortSet) AddRange(first, last uint16) {
	for p := uint32(first); p <= uint32(last); p++ {
		s.bits[p/64] |= 1 << (p % 64)
	}
}

// Contains reports whether port is in the set. Numbers outside 0–65535 and a nil set contain
// nothing.
func (s *PortSet) Contains(port int) bool {
	if s == nil || port < 0 || port > 65535 {
		return false
	}
	return s.bits[port/64]&(1<<(uint(port)%64)) != 0
}

// CountrySet is a set of ISO 3166-1 alpha-2 country codes such as CN or US.
type CountrySet struct {
	bits [26*26/64 + 1]uint64
}

// ParseCountry checks an ISO 3166-1 alpha-2 code and returns it in upper case.
func ParseCountry(text string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(text))
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return "", fmt.Errorf("%q is not a two-letter ISO 3166-1 country code such as CN or US", text)
	}
	return code, nil
}

func countryIndex(code string) (int, bool) {
	if len(code) != 2 {
		return 0, false
	}
	a, b := code[0]|0x20, code[1]|0x20 // lower case
	if a < 'a' || a > 'z' || b < 'a' || b > 'z' {
		return 0, false
	}
	return int(a-'a')*26 + int(b-'a'), true
}

// Add adds a code that ParseCountry accepted.
func (s *CountrySet) Add(code string) {
	if i, ok := countryIndex(code); ok {
		s.bits[i/64] |= 1 << (uint(i) % 64)
	}
}

// Contains reports whether code is in the set, ignoring case. "" and a nil set contain nothing.
func (s *CountrySet) Contains(code string) bool {
	i, ok := countryIndex(code)
	if s == nil || !ok {
		return false
	}
	return s.bits[i/64]&(1<<(uint(i)%64)) != 0
}
