package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// Kind selects when a rule is evaluated.
type Kind string

// Rule kinds.
const (
	KindRecord Kind = "record" // per connection record
	KindWindow Kind = "window" // per group key and tick, on window aggregates
)

// GroupBy names the key that window aggregates, cooldowns and anomalies are kept per.
type GroupBy string

// Group keys.
const (
	GroupSrcIP   GroupBy = "src_ip"
	GroupDstIP   GroupBy = "dst_ip"
	GroupGateway GroupBy = "gateway"
)

// Limits and defaults of rule fields.
const (
	MinWindow       = time.Second
	MaxWindow       = 15 * time.Minute
	DefaultCooldown = 10 * time.Minute
	DefaultLevel    = "basic"
)

var (
	levels     = []string{"basic", "behavior", "intelligent"}
	severities = []string{"info", "low", "medium", "high", "critical"}
	ruleName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// Rule is a validated, compiled rule.
type Rule struct {
	Name        string
	Description string
	Level       string
	Severity    string
	Kind        Kind
	GroupBy     GroupBy
	Window      time.Duration // zero for record rules
	Cooldown    time.Duration
	When        string
	Value       string  // expression for the observed value; derived from When or empty
	Threshold   float64 // from the threshold key or derived from When
	Except      []string
	Summary     string
	SummaryZH   string

	// Pins holds the values the condition fixes; only record rules have them.
	Pins Pins

	File         string
	Line, Column int

	cond        *vm.Program
	value       *vm.Program
	summary     *template.Template
	summaryZH   *template.Template
	except      *PrefixSet
	direct      *directWindow
	idents      []string
	fingerprint string
}

// Match evaluates the condition. env must be a RecordEnv or WindowEnv value (not a pointer),
// matching the rule's kind; machine is reused between calls to avoid allocations.
func (r *Rule) Match(machine *vm.VM, env any) (bool, error) {
	out, err := machine.Run(r.cond, env)
	if err != nil {
		return false, err
	}
	return out.(bool), nil
}

// Measure evaluates the rule's value expression, or returns 0 when the rule has none.
func (r *Rule) Measure(machine *vm.VM, env any) (float64, error) {
	if r.value == nil {
		return 0, nil
	}
	out, err := machine.Run(r.value, env)
	if err != nil {
		return 0, err
	}
	return out.(float64), nil
}

// Excepted reports whether addr is in one of the rule's except lists.
func (r *Rule) Excepted(addr netip.Addr) bool {
	return r.except.Contains(addr)
}

// HasExcept reports whether the rule has except lists.
func (r *Rule) HasExcept() bool {
	return !r.except.Empty()
}

// Reads reports whether the condition reads the environment variable name.
func (r *Rule) Reads(name string) bool {
	_, found := slices.BinarySearch(r.idents, name)
	return found
}

// Fingerprint identifies what decides when the rule fires: kind, group key, window, condition,
// cooldown and except lists. A reload keeps alert state for rules whose name and fingerprint are
// unchanged, so editing a summary or severity does not re-send alerts.
func (r *Rule) Fingerprint() string {
	return r.fingerprint
}

// RenderSummary fills the summary template with data, choosing the Chinese summary when chinese
// is true and the rule has one.
func (r *Rule) RenderSummary(data map[string]any, chinese bool) (string, error) {
	tmpl := r.summary
	if chinese && r.summaryZH != nil {
		tmpl = r.summaryZH
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Set is a compiled collection of rules and lists from one or more files.
type Set struct {
	rules  []*Rule
	byName map[string]*Rule
	lists  map[string]*PrefixSet
}

// Rules returns the rules in file and position order. The slice must not be modified.
func (s *Set) Rules() []*Rule {
	if s == nil {
		return nil
	}
	return s.rules
}

// Len returns the number of rules.
func (s *Set) Len() int {
	return len(s.Rules())
}

// Rule returns the rule called name, or nil.
func (s *Set) Rule(name string) *Rule {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// List returns the list called name, or nil.
func (s *Set) List(name string) *PrefixSet {
	if s == nil {
		return nil
	}
	return s.lists[name]
}

// LoadDir loads every *.yaml and *.yml file in dir, in name order.
func LoadDir(dir string) (*Set, error) {
	var paths []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, fmt.Errorf("rules directory %s: %w", dir, err)
		}
		paths = append(paths, matches...)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("rules directory: %w", err)
	}
	slices.Sort(paths)
	return LoadFiles(paths...)
}

// LoadFiles parses and compiles rule files. The error, when not nil, is Errors with every
// problem of every file, or the error of a file that could not be read.
func LoadFiles(paths ...string) (*Set, error) {
	var files []*File
	var errs Errors
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		f, parseErrs := ParseFile(path, data)
		files = append(files, f)
		errs = append(errs, parseErrs...)
	}

	set, err := Compile(files...)
	if compileErrs, ok := err.(Errors); ok {
		errs = append(errs, compileErrs...)
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return set, nil
}

// Compile validates parsed files and compiles their lists and rules into one Set. List and rule
// names are shared by all files, so a name defined twice is an error. It returns Errors with
// every problem found.
func Compile(files ...*File) (*Set, error) {
	c := &compiler{set: &Set{byName: map[string]*Rule{}, lists: map[string]*PrefixSet{}}}

	for _, f := range files {
		c.compileLists(f)
	}
	for _, f := range files {
		for i := range f.Rules {
			c.compileRule(f.Name, &f.Rules[i])
		}
	}

	if len(c.errs) > 0 {
		c.errs.sort()
		return nil, c.errs
	}
	return c.set, nil
}

type compiler struct {
	set       *Set
	errs      Errors
	listFirst map[string]string // list name → "file:line:col" of its definition
	ruleFirst map[string]string
}

func (c *compiler) compileLists(f *File) {
	if c.listFirst == nil {
		c.listFirst = map[string]string{}
	}
	errs := &errorList{file: f.Name}
	for _, list := range f.Lists {
		subject := listSubject(list.Name)
		if first, dup := c.listFirst[list.Name]; dup {
			errs.add(list.Key, subject, "duplicate list name, first defined at %s", first)
			continue
		}
		c.listFirst[list.Name] = position(f.Name, list.Key)

		var prefixes []netip.Prefix
		for _, item := range list.Items {
			p, err := ParsePrefix(item.Value)
			if err != nil {
				errs.add(item, subject, "invalid address or CIDR %q: %v", item.Value, err)
				continue
			}
			prefixes = append(prefixes, p)
		}
		c.set.lists[list.Name] = NewPrefixSet(prefixes)
	}
	c.errs = append(c.errs, errs.errors...)
}

func position(file string, node *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", file, node.Line, node.Column)
}

// ruleCheck validates one aspect of a rule and fills the matching part of out.
type ruleCheck func(c *compiler, in *RuleNode, out *Rule, report reporter)

type reporter func(node *yaml.Node, format string, args ...any)

// ruleChecks run in order; later checks rely on Kind and GroupBy from earlier ones.
var ruleChecks = []ruleCheck{
	checkName,
	checkLevel,
	checkSeverity,
	checkKind,
	checkGroupBy,
	checkWindow,
	checkCooldown,
	checkExcept,
	checkWhen,
	checkValue,
	checkSummaries,
}

func (c *compiler) compileRule(fileName string, in *RuleNode) {
	errs := &errorList{file: fileName}
	subject := ruleSubject(in.Name.Text, in.Index)
	report := func(node *yaml.Node, format string, args ...any) {
		if node == nil {
			node = in.Node
		}
		errs.add(node, subject, format, args...)
	}

	out := &Rule{
		Name:        in.Name.Text,
		Description: in.Description.Text,
		File:        fileName,
		Line:        in.Node.Line,
		Column:      in.Node.Column,
	}
	for _, check := range ruleChecks {
		check(c, in, out, report)
	}
	c.errs = append(c.errs, errs.errors...)

	if len(errs.errors) > 0 || out.Name == "" {
		return
	}
	if c.ruleFirst == nil {
		c.ruleFirst = map[string]string{}
	}
	c.ruleFirst[out.Name] = position(fileName, in.Name.Node)
	out.fingerprint = fingerprint(out)
	c.set.rules = append(c.set.rules, out)
	c.set.byName[out.Name] = out
}

func checkName(c *compiler, in *RuleNode, out *Rule, report reporter) {
	switch {
	case !in.Name.Set() || in.Name.Text == "":
		report(in.Name.Node, "missing name")
	case !ruleName.MatchString(in.Name.Text):
		report(in.Name.Node, "invalid name %q: use letters, digits, '_', '.' and '-', starting with a letter or '_'", in.Name.Text)
	default:
		if first, dup := c.ruleFirst[in.Name.Text]; dup {
			report(in.Name.Node, "duplicate rule name, first defined at %s", first)
			return
		}
		// Reserve the name now, so that a second definition is reported even if this rule has
		// other errors.
		if c.ruleFirst == nil {
			c.ruleFirst = map[string]string{}
		}
		c.ruleFirst[in.Name.Text] = position(out.File, in.Name.Node)
	}
}

func checkLevel(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	out.Level = DefaultLevel
	if !in.Level.Set() {
		return
	}
	if !slices.Contains(levels, in.Level.Text) {
		report(in.Level.Node, "invalid level %q (expected %s)", in.Level.Text, orList(levels))
		return
	}
	out.Level = in.Level.Text
}

func checkSeverity(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	if !in.Severity.Set() {
		report(nil, "missing severity (expected %s)", orList(severities))
		return
	}
	if !slices.Contains(severities, in.Severity.Text) {
		report(in.Severity.Node, "invalid severity %q (expected %s)", in.Severity.Text, orList(severities))
		return
	}
	out.Severity = in.Severity.Text
}

func checkKind(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	switch Kind(in.Kind.Text) {
	case KindRecord, KindWindow:
		out.Kind = Kind(in.Kind.Text)
	default:
		if !in.Kind.Set() {
			report(nil, "missing kind (expected record or window)")
			return
		}
		report(in.Kind.Node, "invalid kind %q (expected record or window)", in.Kind.Text)
	}
}

func checkGroupBy(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	out.GroupBy = GroupSrcIP
	if !in.GroupBy.Set() {
		return
	}
	switch GroupBy(in.GroupBy.Text) {
	case GroupSrcIP, GroupDstIP, GroupGateway:
		out.GroupBy = GroupBy(in.GroupBy.Text)
	default:
		report(in.GroupBy.Node, "invalid group_by %q (expected src_ip, dst_ip or gateway)", in.GroupBy.Text)
	}
}

func checkWindow(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	if out.Kind != KindWindow {
		if in.Window.Set() && out.Kind == KindRecord {
			report(in.Window.Node, "window applies only to kind: window")
		}
		return
	}
	if !in.Window.Set() {
		report(nil, "missing window (a duration from 1s to 15m)")
		return
	}

	d, ok := parseDuration(in.Window, "window", report)
	if !ok {
		return
	}
	switch {
	case d%time.Second != 0:
		report(in.Window.Node, "window %s is not a whole number of seconds", in.Window.Text)
	case d < MinWindow || d > MaxWindow:
		report(in.Window.Node, "window %s is outside the range 1s to 15m", in.Window.Text)
	default:
		out.Window = d
	}
}

func checkCooldown(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	out.Cooldown = DefaultCooldown
	if !in.Cooldown.Set() {
		return
	}
	d, ok := parseDuration(in.Cooldown, "cooldown", report)
	if !ok {
		return
	}
	if d < 0 {
		report(in.Cooldown.Node, "cooldown %s is negative", in.Cooldown.Text)
		return
	}
	out.Cooldown = d
}

func parseDuration(f Field, key string, report reporter) (time.Duration, bool) {
	d, err := time.ParseDuration(f.Text)
	if err != nil {
		report(f.Node, "%s %q is not a duration such as 30s, 5m or 1h", key, f.Text)
		return 0, false
	}
	return d, true
}

func checkExcept(c *compiler, in *RuleNode, out *Rule, report reporter) {
	if len(in.Except) > 0 && out.Kind == KindWindow && out.GroupBy == GroupGateway {
		report(in.ExceptNode, "except needs an address key, but group_by is gateway")
		return
	}

	var sets []*PrefixSet
	for _, name := range in.Except {
		set, known := c.set.lists[name.Text]
		if !known {
			if _, defined := c.listFirst[name.Text]; !defined {
				report(name.Node, "except: unknown list %q", name.Text)
			}
			continue
		}
		out.Except = append(out.Except, name.Text)
		sets = append(sets, set)
	}
	out.except = Union(sets...)
}

func checkWhen(c *compiler, in *RuleNode, out *Rule, report reporter) {
	if !in.When.Set() || strings.TrimSpace(in.When.Text) == "" {
		report(in.When.Node, "missing when (a condition such as dst_ports > 50)")
		return
	}
	if out.Kind == "" {
		return // the environment depends on the kind
	}
	out.When = in.When.Text

	program, err := expr.Compile(in.When.Text, c.exprOptions(out.Kind, expr.AsBool())...)
	if err != nil {
		report(in.When.Node, "when: %v", err)
		return
	}
	tree, err := parser.Parse(in.When.Text)
	if err != nil {
		report(in.When.Node, "when: %v", err)
		return
	}

	problems := checkCalls(tree.Node, in.When.Text, c.set.lists)
	if out.Kind == KindRecord {
		var pinProblems []string
		out.Pins, pinProblems = analyzeRecordPins(tree.Node, in.When.Text)
		problems = append(problems, pinProblems...)
	}
	for _, p := range problems {
		report(in.When.Node, "when: %s", p)
	}
	if len(problems) > 0 {
		return
	}

	out.cond = program
	out.idents = identifiers(tree.Node)
	if out.Kind == KindWindow {
		out.direct = analyzeDirectWindow(tree.Node)
	}
	if text, threshold, ok := comparisonValue(tree.Node); ok {
		out.Value = text
		out.Threshold = threshold
	}
}

func checkValue(c *compiler, in *RuleNode, out *Rule, report reporter) {
	if in.Threshold.Set() {
		t, err := strconv.ParseFloat(in.Threshold.Text, 64)
		if err != nil || math.IsNaN(t) {
			report(in.Threshold.Node, "threshold %q is not a number", in.Threshold.Text)
		} else {
			out.Threshold = t
		}
	}
	if in.Value.Set() {
		out.Value = in.Value.Text
	}
	if out.Value == "" || out.Kind == "" {
		return
	}

	program, err := expr.Compile(out.Value, c.exprOptions(out.Kind, expr.AsFloat64())...)
	if err != nil {
		node := in.Value.Node
		if node == nil {
			node = in.When.Node
		}
		report(node, "value: %v", err)
		return
	}
	out.value = program
	if out.direct != nil {
		out.direct.value = windowFields[strings.TrimSpace(out.Value)]
	}
}

func checkSummaries(_ *compiler, in *RuleNode, out *Rule, report reporter) {
	if !in.Summary.Set() || strings.TrimSpace(in.Summary.Text) == "" {
		report(in.Summary.Node, "missing summary")
		return
	}
	if out.Kind == "" {
		return
	}
	out.Summary = in.Summary.Text
	out.summary = parseSummary("summary", in.Summary, out.Kind, report)

	if in.SummaryZH.Set() {
		out.SummaryZH = in.SummaryZH.Text
		out.summaryZH = parseSummary("summary_zh", in.SummaryZH, out.Kind, report)
	}
}

// parseSummary parses a text/template and runs it once on sample data, so that a misspelt field
// such as {{ .kye }} is a load error.
func parseSummary(key string, f Field, kind Kind, report reporter) *template.Template {
	tmpl, err := template.New(key).Option("missingkey=error").Parse(f.Text)
	if err != nil {
		report(f.Node, "%s: %v", key, err)
		return nil
	}
	if err := tmpl.Execute(discard{}, SampleSummaryData(kind)); err != nil {
		report(f.Node, "%s: %v", key, err)
		return nil
	}
	return tmpl
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (c *compiler) exprOptions(kind Kind, result expr.Option) []expr.Option {
	var env any = RecordEnv{}
	if kind == KindWindow {
		env = WindowEnv{}
	}
	lists := c.set.lists
	return []expr.Option{
		expr.Env(env),
		result,
		expr.Function("in_list", func(params ...any) (any, error) {
			return lists[params[1].(string)].Contains(params[0].(netip.Addr)), nil
		}, new(func(netip.Addr, string) bool)),
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
	}
}

func fingerprint(r *Rule) string {
	h := sha256.New()
	for _, part := range []string{
		string(r.Kind), string(r.GroupBy), r.Window.String(), r.When, r.Cooldown.String(),
		strings.Join(r.Except, ","),
	} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
