package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"gopkg.in/yaml.v3"
)

// Limits on the size of one expression, so that a rule file cannot make every evaluation
// arbitrarily expensive.
const (
	MaxExpressionBytes = 4096
	MaxExpressionNodes = 400
	MaxLabels          = 8
	MaxLabelValueBytes = 64
)

// GeoLookup returns the country and autonomous system of an address. internal/geo implements it
// over a MaxMind-format database.
type GeoLookup interface {
	Country(addr netip.Addr) string // ISO 3166-1 alpha-2 code in upper case, "" when unknown
	ASN(addr netip.Addr) uint32     // 0 when unknown
}

// IntelLookup finds an address in threat-intelligence feeds. internal/intel implements it.
type IntelLookup interface {
	// Lookup returns the name of the feed that lists addr, and false when none does.
	Lookup(addr netip.Addr) (string, bool)
}

// Options are what conditions can reach beyond the record or window: the GeoIP database, the
// threat-intelligence feeds and list overrides. The zero Options compile every rule; country()
// then returns "", asn() 0, and threat() "".
type Options struct {
	Geo         GeoLookup
	HomeCountry string // ISO code; is_foreign is false for every address when empty
	Intel       IntelLookup

	// Lists replaces the items of lists the rule files define, by name. `rules test` uses it.
	Lists map[string][]string
}

// specialRanges are never foreign: private, shared (CGNAT), loopback, link-local, multicast and
// unspecified addresses.
var specialRanges = NewPrefixSet([]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/3"),
	netip.MustParsePrefix("::/127"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
})

// IsSpecial reports whether addr is private, shared, loopback, link-local, multicast or
// unspecified, the ranges that is_foreign never calls foreign.
func IsSpecial(addr netip.Addr) bool {
	return specialRanges.Contains(addr)
}

// clockFunctions are called without arguments and read the environment's clock fields, which
// the engine fills in the configured time zone. The patcher turns `hour()` into `hour`.
var clockFunctions = map[string]string{
	"hour":      "hour",
	"weekday":   "weekday",
	"work_time": "work_time",
}

type clockPatcher struct{}

func (clockPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || len(call.Arguments) != 0 {
		return
	}
	callee, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if field, found := clockFunctions[callee.Value]; found {
		ast.Patch(node, &ast.IdentifierNode{Value: field})
	}
}

func (c *compiler) exprOptions(kind Kind, result expr.Option) []expr.Option {
	var env any = RecordEnv{}
	if kind == KindWindow {
		env = WindowEnv{}
	}
	set := c.set
	opts := set.options
	home := strings.ToUpper(opts.HomeCountry)

	country := func(addr netip.Addr) string {
		if opts.Geo == nil || !addr.IsValid() {
			return ""
		}
		return opts.Geo.Country(addr.Unmap())
	}

	return []expr.Option{
		expr.Env(env),
		result,
		expr.MaxNodes(4 * MaxExpressionNodes),
		expr.Patch(clockPatcher{}),
		expr.Function("in_list", func(params ...any) (any, error) {
			name := params[1].(string)
			switch v := params[0].(type) {
			case netip.Addr:
				return set.lists[name].Contains(v), nil
			case int:
				return set.ports[name].Contains(v), nil
			case string:
				return set.countries[name].Contains(v), nil
			}
			return false, nil
		},
			new(func(netip.Addr, string) bool),
			new(func(int, string) bool),
			new(func(string, string) bool),
		),
		expr.Function("in_cidr", func(params ...any) (any, error) {
			prefix, err := ParsePrefix(params[1].(string))
			if err != nil {
				return false, fmt.Errorf("in_cidr: invalid CIDR %q", params[1])
			}
			addr := params[0].(netip.Addr).Unmap()
			return prefix.Contains(addr), nil
		}, new(func(netip.Addr, string) bool)),
		expr.Function("ip", func(params ...any) (any, error) {
			addr, err := netip.ParseAddr(params[0].(string))
			if err != nil {
				return nil, fmt.Errorf("ip: invalid address %q", params[0])
			}
			return addr.Unmap(), nil
		}, new(func(string) netip.Addr)),
		expr.Function("country", func(params ...any) (any, error) {
			return country(params[0].(netip.Addr)), nil
		}, new(func(netip.Addr) string)),
		expr.Function("asn", func(params ...any) (any, error) {
			addr := params[0].(netip.Addr)
			if opts.Geo == nil || !addr.IsValid() {
				return 0, nil
			}
			return int(opts.Geo.ASN(addr.Unmap())), nil
		}, new(func(netip.Addr) int)),
		expr.Function("is_foreign", func(params ...any) (any, error) {
			addr := params[0].(netip.Addr)
			if home == "" || !addr.IsValid() || IsSpecial(addr) {
				return false, nil
			}
			code := country(addr)
			return code != "" && code != home, nil
		}, new(func(netip.Addr) bool)),
		expr.Function("threat", func(params ...any) (any, error) {
			addr := params[0].(netip.Addr)
			if opts.Intel == nil || !addr.IsValid() {
				return "", nil
			}
			feed, _ := opts.Intel.Lookup(addr.Unmap())
			return feed, nil
		}, new(func(netip.Addr) string)),
		expr.Function("in_threat_intel", func(params ...any) (any, error) {
			addr := params[0].(netip.Addr)
			if opts.Intel == nil || !addr.IsValid() {
				return false, nil
			}
			_, found := opts.Intel.Lookup(addr.Unmap())
			return found, nil
		}, new(func(netip.Addr) bool)),
	}
}

// checkSize rejects expressions longer than MaxExpressionBytes or with more than
// MaxExpressionNodes syntax nodes. It returns "" when the size is within the limits or the text
// does not parse, which expr then reports.
func checkSize(text string) string {
	if len(text) > MaxExpressionBytes {
		return fmt.Sprintf("expression is %d bytes long, more than the limit of %d; move address and port values into lists", len(text), MaxExpressionBytes)
	}
	tree, err := parser.Parse(text)
	if err != nil {
		return ""
	}
	counter := &nodeCounter{}
	ast.Walk(&tree.Node, counter)
	if counter.n > MaxExpressionNodes {
		return fmt.Sprintf("expression has %d syntax nodes, more than the limit of %d; move address and port values into lists or split the rule", counter.n, MaxExpressionNodes)
	}
	return ""
}

type nodeCounter struct{ n int }

func (c *nodeCounter) Visit(*ast.Node) { c.n++ }

// checkListTypes checks that each in_list call passes a value of the list's type: an address
// for a cidrs list, a port number for a ports list, a country code for a countries list. tree
// must be the type-checked tree of a compiled program.
func checkListTypes(tree ast.Node, source string, lists map[string]ListType) []string {
	finder := &callFinder{}
	ast.Walk(&tree, finder)

	var problems []string
	for _, call := range finder.calls {
		if call.Callee.(*ast.IdentifierNode).Value != "in_list" || len(call.Arguments) != 2 {
			continue
		}
		name, ok := call.Arguments[1].(*ast.StringNode)
		if !ok {
			continue
		}
		listType, known := lists[name.Value]
		if !known {
			continue
		}
		argType := call.Arguments[0].Type()
		if argType == nil {
			continue
		}
		want := map[ListType]string{ListCIDRs: "netip.Addr", ListPorts: "int", ListCountries: "string"}[listType]
		if argType.String() != want {
			problems = append(problems, locate(call.Arguments[0], source,
				"in_list: list %q holds %s, so the first argument must be %s, not %s",
				name.Value, listType, listArgument(listType), argType))
		}
	}
	return problems
}

func listArgument(t ListType) string {
	switch t {
	case ListPorts:
		return "a port such as dst_port"
	case ListCountries:
		return "a country code such as country(dst_ip)"
	}
	return "an address such as src_ip"
}

func listItems(list ListNode) []Field {
	items := make([]Field, len(list.Items))
	for i, item := range list.Items {
		items[i] = Field{Text: item.Value, Node: item}
	}
	return items
}

// overrideItems gives override values the position of the list they replace.
func overrideItems(values []string, at *yaml.Node) []Field {
	items := make([]Field, len(values))
	for i, v := range values {
		items[i] = Field{Text: v, Node: at}
	}
	return items
}

func compileCIDRs(items []Field, subject string, errs *errorList) *PrefixSet {
	var prefixes []netip.Prefix
	for _, item := range items {
		p, err := ParsePrefix(item.Text)
		if err != nil {
			errs.add(item.Node, subject, "invalid address or CIDR %q: %v", item.Text, err)
			continue
		}
		prefixes = append(prefixes, p)
	}
	return NewPrefixSet(prefixes)
}

func compilePorts(items []Field, subject string, errs *errorList) *PortSet {
	set := &PortSet{}
	for _, item := range items {
		first, last, err := ParsePortRange(item.Text)
		if err != nil {
			errs.add(item.Node, subject, "invalid port or port range: %v", err)
			continue
		}
		set.AddRange(first, last)
	}
	return set
}

func compileCountries(items []Field, subject string, errs *errorList) *CountrySet {
	set := &CountrySet{}
	for _, item := range items {
		code, err := ParseCountry(item.Text)
		if err != nil {
			errs.add(item.Node, subject, "invalid country: %v", err)
			continue
		}
		set.Add(code)
	}
	return set
}

// checkFor reads `for`: a duration such as 2m, or a whole number of consecutive evaluations.
func checkFor(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	if !in.For.Set() {
		return
	}
	if out.Kind == KindRecord {
		report(in.For.Node, "for applies only to kind: window, because record rules have no pending state")
		return
	}
	text := strings.TrimSpace(in.For.Text)
	if n, ok := wholeNumber(text); ok {
		if n < 0 || n > 1000 {
			report(in.For.Node, "for %s is outside the range 0 to 1000 evaluations", text)
			return
		}
		out.ForEvals = n
		return
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		report(in.For.Node, "for %q is neither a duration such as 2m nor a number of evaluations such as 3", text)
		return
	}
	if d < 0 || d > 24*time.Hour {
		report(in.For.Node, "for %s is outside the range 0s to 24h", text)
		return
	}
	out.For = d
}

func wholeNumber(text string) (int, bool) {
	n := 0
	if text == "" || len(text) > 6 {
		return 0, false
	}
	for _, r := range text {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

// checkResolve reads `resolve`, on by default for window rules.
func checkResolve(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	out.Resolve = out.Kind == KindWindow
	if !in.Resolve.Set() {
		return
	}
	var on bool
	switch strings.ToLower(in.Resolve.Text) {
	case "true", "on", "yes":
		on = true
	case "false", "off", "no":
	default:
		report(in.Resolve.Node, "resolve %q is not on or off", in.Resolve.Text)
		return
	}
	if on && out.Kind == KindRecord {
		report(in.Resolve.Node, "resolve applies only to kind: window, because record rules only fire")
		return
	}
	out.Resolve = on
}

// reservedLabels are the anomaly's own tags and fields, which a label must not shadow.
var reservedLabels = []string{"gateway", "rule", "level", "severity", "state", "key", "value", "threshold", "summary", "src", "dst", "time"}

// checkLabels reads `labels`: at most MaxLabels static name/value pairs.
func checkLabels(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	if len(in.Labels) > MaxLabels {
		report(in.LabelsNode, "%d labels, more than the limit of %d; labels become InfluxDB tags and must stay few", len(in.Labels), MaxLabels)
		return
	}
	for _, l := range in.Labels {
		switch {
		case !labelName.MatchString(l.Name.Text):
			report(l.Name.Node, "invalid label name %q: use letters, digits and '_', starting with a letter", l.Name.Text)
		case slices.Contains(reservedLabels, l.Name.Text):
			report(l.Name.Node, "label name %q is reserved for the anomaly's own field", l.Name.Text)
		case len(l.Value.Text) > MaxLabelValueBytes:
			report(l.Value.Node, "label %q: value is %d bytes long, more than the limit of %d", l.Name.Text, len(l.Value.Text), MaxLabelValueBytes)
		case strings.Contains(l.Value.Text, "{{"):
			report(l.Value.Node, "label %q: values are static text, not templates, so that label values stay few", l.Name.Text)
		default:
			if out.Labels == nil {
				out.Labels = &LabelSet{}
			}
			out.Labels.add(l.Name.Text, l.Value.Text)
		}
	}
}

// LabelSet is a rule's static labels, sorted by name. It is immutable once compiled, so that
// anomalies share it and stay comparable with ==.
type LabelSet struct {
	names, values []string
}

func (s *LabelSet) add(name, value string) {
	i, _ := slices.BinarySearch(s.names, name)
	s.names = slices.Insert(s.names, i, name)
	s.values = slices.Insert(s.values, i, value)
}

// Len returns the number of labels; 0 for a nil set.
func (s *LabelSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// At returns the i-th label in name order.
func (s *LabelSet) At(i int) (name, value string) {
	return s.names[i], s.values[i]
}

// Get returns the value of the label name, and false when the set has no such label.
func (s *LabelSet) Get(name string) (string, bool) {
	if s == nil {
		return "", false
	}
	i, found := slices.BinarySearch(s.names, name)
	if !found {
		return "", false
	}
	return s.values[i], true
}

// Map returns the labels as a new map, or nil for an empty set.
func (s *LabelSet) Map() map[string]string {
	if s.Len() == 0 {
		return nil
	}
	m := make(map[string]string, len(s.names))
	for i, name := range s.names {
		m[name] = s.values[i]
	}
	return m
}

func mergeNames(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
