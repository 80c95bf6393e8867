// Package intel loads threat-intelligence address feeds from a directory: plain lists of
// addresses and CIDR prefixes (*.txt, *.list, *.csv with the address in the first column) and
// STIX 2.1 bundles (*.json) whose indicators have patterns such as
// [ipv4-addr:value = '198.51.100.7'] or [ipv6-addr:value = '2001:db8::/32'].
//
// A Store holds the current feeds behind an atomic pointer, so that rules keep calling Lookup
// while a reload builds the next generation.
package intel

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
)

// Feeds is one loaded generation of feeds.
type Feeds struct {
	names []string // feed names, the file names without extension
	v4    []span4
	v6    []span6
	count int
}

type span4 struct {
	first, last uint32
	feed        int
}

type span6 struct {
	first, last [16]byte
	feed        int
}

// Len returns the number of indicators loaded.
func (f *Feeds) Len() int {
	if f == nil {
		return 0
	}
	return f.count
}

// Names returns the feed names in load order.
func (f *Feeds) Names() []string {
	if f == nil {
		return nil
	}
	return f.names
}

// Lookup returns the name of the first feed, in file name order, that lists addr.
func (f *Feeds) Lookup(addr netip.Addr) (string, bool) {
	if f == nil || !addr.IsValid() {
		return "", false
	}
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		// Spans are sorted by first address and do not overlap after merging.
		i, _ := slices.BinarySearchFunc(f.v4, n, func(s span4, n uint32) int {
			switch {
			case s.last < n:
				return -1
			case s.first > n:
				return 1
			}
			return 0
		})
		if i < len(f.v4) && f.v4[i].first <= n && n <= f.v4[i].last {
			return f.names[f.v4[i].feed], true
		}
		return "", false
	}
	n := addr.As16()
	i, _ := slices.BinarySearchFunc(f.v6, n, func(s span6, n [16]byte) int {
		switch {
		case bytes.Compare(s.last[:], n[:]) < 0:
			return -1
		case bytes.Compare(s.first[:], n[:]) > 0:
			return 1
		}
		return 0
	})
	if i < len(f.v6) && bytes.Compare(f.v6[i].first[:], n[:]) <= 0 && bytes.Compare(n[:], f.v6[i].last[:]) <= 0 {
		return f.names[f.v6[i].feed], true
	}
	return "", false
}

// Store holds the current Feeds. The zero Store is empty and ready to use.
type Store struct {
	current atomic.Pointer[Feeds]
}

// Lookup looks addr up in the current feeds.
func (s *Store) Lookup(addr netip.Addr) (string, bool) {
	if s == nil {
		return "", false
	}
	return s.current.Load().Lookup(addr)
}

// Set replaces the current feeds.
func (s *Store) Set(f *Feeds) { s.current.Store(f) }

// Current returns the current feeds, nil before the first Set.
func (s *Store) Current() *Feeds { return s.current.Load() }

// Error is one problem in a feed file.
type Error struct {
	File    string
	Line    int
	Message string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// Errors is every problem found while loading feeds.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// feedExtensions are the file name extensions LoadDir reads.
var feedExtensions = []string{".txt", ".list", ".csv", ".json"}

// LoadDir reads every feed file in dir, in name order. Entries that cannot be read are errors;
// LoadDir returns every one of them and no Feeds, so that a reload keeps the previous feeds.
func LoadDir(dir string) (*Feeds, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("threat intel directory: %w", err)
	}
	feeds := &Feeds{}
	var errs Errors
	var v4 []span4
	var v6 []span6
	for _, entry := range entries {
		ext := strings.ToLower(filepath.Ext(entry.Name()))
		if entry.IsDir() || !slices.Contains(feedExtensions, ext) {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, &Error{File: path, Message: err.Error()})
			continue
		}
		feed := len(feeds.names)
		feeds.names = append(feeds.names, strings.TrimSuffix(entry.Name(), filepath.Ext(entry.Name())))

		var prefixes []netip.Prefix
		var fileErrs Errors
		if ext == ".json" {
			prefixes, fileErrs = parseSTIX(path, data)
		} else {
			prefixes, fileErrs = parseList(path, data)
		}
		errs = append(errs, fileErrs...)
		for _, p := range prefixes {
			feeds.count++
			if p.Addr().Is4() {
				first, last := range4(p)
				v4 = append(v4, span4{first, last, feed})
			} else {
				first, last := range6(p)
				v6 = append(v6, span6{first, last, feed})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	feeds.v4 = merge4(v4)
	feeds.v6 = merge6(v6)
	return feeds, nil
}

// parseList reads one address or prefix per line; '#' starts a comment, and in CSV files only
// the first column counts.
func parseList(path string, data []byte) ([]netip.Prefix, Errors) {
	var prefixes []netip.Prefix
	var errs Errors
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; scanner.Scan(); line++ {
		text, _, _ := strings.Cut(scanner.Text(), "#")
		text, _, _ = strings.Cut(text, ",")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		p, err := parsePrefix(text)
		if err != nil {
			if line == 1 && strings.HasSuffix(path, ".csv") {
				continue // a CSV header
			}
			errs = append(errs, &Error{File: path, Line: line, Message: fmt.Sprintf("invalid address or CIDR %q", text)})
			continue
		}
		prefixes = append(prefixes, p)
	}
	if err := scanner.Err(); err != nil {
		errs = append(errs, &Error{File: path, Message: err.Error()})
	}
	return prefixes, errs
}

func parsePrefix(text string) (netip.Prefix, error) {
	if !strings.Contains(text, "/") {
		addr, err := netip.ParseAddr(text)
		if err != nil {
			return netip.Prefix{}, err
		}
		addr = addr.Unmap().WithZone("")
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(text)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// stixValue matches one comparison of an address object's value in a STIX pattern.
var stixValue = regexp.MustCompile(`\b(ipv4-addr|ipv6-addr):value\s*(=|ISSUBSET)\s*'([^']*)'`)

// parseSTIX reads the indicators of a STIX 2.1 bundle, or of a single indicator object. Only
// indicators with pattern_type stix (the default) and address comparisons count; others,
// revoked indicators and other object types are skipped.
func parseSTIX(path string, data []byte) ([]netip.Prefix, Errors) {
	var doc struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: path, Message: "invalid JSON: " + err.Error()}}
	}
	objects := doc.Objects
	switch doc.Type {
	case "bundle":
	case "indicator":
		objects = []json.RawMessage{data}
	default:
		return nil, Errors{{File: path, Message: fmt.Sprintf("type %q is not a STIX 2.1 bundle or indicator", doc.Type)}}
	}

	var prefixes []netip.Prefix
	var errs Errors
	for i, raw := range objects {
		var obj struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			Pattern     string `json:"pattern"`
			PatternType string `json:"pattern_type"`
			Revoked     bool   `json:"revoked"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			errs = append(errs, &Error{File: path, Message: fmt.Sprintf("object %d: %v", i, err)})
			continue
		}
		if obj.Type != "indicator" || obj.Revoked || (obj.PatternType != "" && obj.PatternType != "stix") {
			continue
		}
		for _, m := range stixValue.FindAllStringSubmatch(obj.Pattern, -1) {
			p, err := parsePrefix(m[3])
			if err != nil || (m[1] == "ipv4-addr") != p.Addr().Is4() {
				errs = append(errs, &Error{File: path, Message: fmt.Sprintf("indicator %s: invalid %s value %q", obj.ID, m[1], m[3])})
				continue
			}
			prefixes = append(prefixes, p)
		}
	}
	return prefixes, errs
}

func range4(p netip.Prefix) (uint32, uint32) {
	b := p.Addr().As4()
	first := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if p.Bits() == 0 {
		return 0, ^uint32(0)
	}
	return first, first | (uint32(1)<<(32-p.Bits()) - 1)
}

func range6(p netip.Prefix) (first, last [16]byte) {
	first = p.Addr().As16()
	last = first
	for bit := p.Bits(); bit < 128; bit++ {
		last[bit/8] |= 0x80 >> (bit % 8)
	}
	return first, last
}

// merge4 sorts spans by first address and merges overlaps; the merged span keeps the feed of
// the span that starts first, which is the earlier file for equal starts.
func merge4(spans []span4) []span4 {
	slices.SortStableFunc(spans, func(a, b span4) int { return cmp.Compare(a.first, b.first) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && (out[n-1].last == ^uint32(0) || s.first <= out[n-1].last) {
			out[n-1].last = max(out[n-1].last, s.last)
			continue
		}
		out = append(out, s)
	}
	return out
}

func merge6(spans []span6) []span6 {
	slices.SortStableFunc(spans, func(a, b span6) int { return bytes.Compare(a.first[:], b.first[:]) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && bytes.Compare(s.first[:], out[n-1].last[:]) <= 0 {
			if bytes.Compare(s.last[:], out[n-1].last[:]) > 0 {
				out[n-1].last = s.last
			}
			continue
		}
		out = append(out, s)
	}
	return out
}
