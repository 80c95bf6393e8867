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

	// GroupGatewayDirection keeps a gateway's traffic apart per direction (outbound, inbound,
	// internal, external, unknown).
	GroupGatewayDirection GroupBy = "gateway_direction"
	// GroupHost keys traffic by its internal host: the source of outbound and internal
	// connections and the destination of inbound ones.
	GroupHost GroupBy = "host"
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
	labelName  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
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
	Actions     []string // response actions, each one of ActionNames, in the order written
	Summary     string
	SummaryZH   string

	// For and ForEvals delay firing until the condition has held for this long, or for this many
	// consecutive evaluations; at most one of them is set, and only on window rules.
	For      time.Duration
	ForEvals int
	// Resolve sends a resolved anomaly when a window rule's condition stops holding.
	Resolve bool
	// Labels are static labels carried on every anomaly of the rule; nil when the rule has none.
	Labels *LabelSet

	// Pins holds the values the condition fixes; only record rules have them.
	Pins Pins

	File         string
	Line, Column int

	cond      *vm.Program
	value     *vm.Program
	summary   *template.Template
	summaryZH *template.Template
	except    *PrefixSet
	// globalExcept names the top-level except lists, part of the fingerprint.
	globalExcept []string
	direct       *directWindow
	idents       []string
	fingerprint  string
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
// cooldown, except lists, global except lists, for, resolve and actions. A reload keeps alert
// state for rules whose name and fingerprint are unchanged, so editing a summary, labels or
// severity does not re-send alerts.
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
	rules     []*Rule
	byName    map[string]*Rule
	lists     map[string]*PrefixSet
	ports     map[string]*PortSet
	countries map[string]*CountrySet
	listTypes map[string]ListType

	globalExcept      *PrefixSet
	globalExceptNames []string
	options           Options
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

// ListType returns the type of the list called name, or "" when there is none.
func (s *Set) ListType(name string) ListType {
	if s == nil {
		return ""
	}
	return s.listTypes[name]
}

// GlobalExcept returns the union of the lists named by the files' top-level except keys. Every
// rule skips these addresses, and so do the behavior detectors.
func (s *Set) GlobalExcept() *PrefixSet {
	if s == nil {
		return nil
	}
	return s.globalExcept
}

// Options returns the options the set was compiled with.
func (s *Set) Options() Options {
	if s == nil {
		return Options{}
	}
	return s.options
}

// Reads reports whether any rule's condition or value reads the variable or calls the function
// name.
func (s *Set) Reads(name string) bool {
	for _, r := range s.Rules() {
		if r.Reads(name) {
			return true
		}
	}
	return false
}

// LoadDir loads every *.yaml and *.yml file in dir, in name order, with no Options.
func LoadDir(dir string) (*Set, error) {
	return Options{}.LoadDir(dir)
}

// LoadDir loads every *.yaml and *.yml file in dir, in name order.
func (o Options) LoadDir(dir string) (*Set, error) {
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
	return o.LoadFiles(paths...)
}

// LoadFiles parses and compiles rule files with no Options.
func LoadFiles(paths ...string) (*Set, error) {
	return Options{}.LoadFiles(paths...)
}

// LoadFiles parses and compiles rule files. The error, when not nil, is Errors with every
// problem of every file, or the error of a file that could not be read.
func (o Options) LoadFiles(paths ...string) (*Set, error) {
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

	set, err := o.Compile(files...)
	if compileErrs, ok := err.(Errors); ok {
		errs = append(errs, compileErrs...)
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return set, nil
}

// Compile compiles parsed files with no Options.
func Compile(files ...*File) (*Set, error) {
	return Options{}.Compile(files...)
}

// Compile validates parsed files and compiles their lists and rules into one Set. List and rule
// names are shared by all files, so a name defined twice is an error. It returns Errors with
// every problem found.
func (o Options) Compile(files ...*File) (*Set, error) {
	c := &compiler{set: &Set{
		byName:    map[string]*Rule{},
		lists:     map[string]*PrefixSet{},
		ports:     map[string]*PortSet{},
		countries: map[string]*CountrySet{},
		listTypes: map[string]ListType{},
		options:   o,
	}}

	for _, f := range files {
		c.compileLists(f)
	}
	c.checkOverrides()
	for _, f := range files {
		c.compileGlobalExcept(f)
	}
	c.set.globalExcept = Union(c.globalSets...)
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
	set        *Set
	errs       Errors
	listFirst  map[string]string // list name → "file:line:col" of its definition
	ruleFirst  map[string]string
	globalSets []*PrefixSet
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

		listType := ListCIDRs
		if list.Type.Set() {
			listType = ListType(list.Type.Text)
		}
		items := listItems(list)
		if override, found := c.set.options.Lists[list.Name]; found {
			items = overrideItems(override, list.Key)
		}
		switch listType {
		case ListCIDRs:
			c.set.lists[list.Name] = compileCIDRs(items, subject, errs)
		case ListPorts:
			c.set.ports[list.Name] = compilePorts(items, subject, errs)
		case ListCountries:
			c.set.countries[list.Name] = compileCountries(items, subject, errs)
		default:
			errs.add(list.Type.Node, subject, "invalid type %q (expected cidrs, ports or countries)", list.Type.Text)
			continue
		}
		c.set.listTypes[list.Name] = listType
	}
	c.errs = append(c.errs, errs.errors...)
}

func position(file string, node *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", file, node.Line, node.Column)
}

// checkOverrides reports list overrides that name no list.
func (c *compiler) checkOverrides() {
	var names []string
	for name := range c.set.options.Lists {
		if _, defined := c.set.listTypes[name]; !defined {
			if _, failed := c.listFirst[name]; !failed {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	for _, name := range names {
		c.errs = append(c.errs, &Error{File: "(options)", Subject: listSubject(name), Message: "override of a list that no rule file defines"})
	}
}

// compileGlobalExcept resolves a file's top-level except names to cidrs lists.
func (c *compiler) compileGlobalExcept(f *File) {
	errs := &errorList{file: f.Name}
	for _, name := range f.Except {
		set, ok := c.cidrList(name, errs, "")
		if !ok {
			continue
		}
		if !slices.Contains(c.set.globalExceptNames, name.Text) {
			c.set.globalExceptNames = append(c.set.globalExceptNames, name.Text)
		}
		c.globalSets = append(c.globalSets, set)
	}
	c.errs = append(c.errs, errs.errors...)
}

// cidrList looks up a list named in an except key, which must be a cidrs list.
func (c *compiler) cidrList(name Field, errs *errorList, subject string) (*PrefixSet, bool) {
	listType, known := c.set.listTypes[name.Text]
	switch {
	case !known:
		if _, defined := c.listFirst[name.Text]; !defined {
			errs.add(name.Node, subject, "except: unknown list %q", name.Text)
		}
		return nil, false
	case listType != ListCIDRs:
		errs.add(name.Node, subject, "except: list %q holds %s, but except needs a cidrs list", name.Text, listType)
		return nil, false
	}
	return c.set.lists[name.Text], true
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
	checkFor,
	checkResolve,
	checkLabels,
	checkExcept,
	checkActions,
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
	case GroupSrcIP, GroupDstIP, GroupGateway, GroupGatewayDirection, GroupHost:
		out.GroupBy = GroupBy(in.GroupBy.Text)
	default:
		report(in.GroupBy.Node, "invalid group_by %q (expected src_ip, dst_ip, host, gateway or gateway_direction)", in.GroupBy.Text)
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

// ActionNames are the response actions a rule may list under `actions`.
var ActionNames = []string{"webhook", "blocklist"}

func checkActions(c *compiler, in *RuleNode, out *Rule, report reporter) {
	for _, action := range in.Actions {
		if !slices.Contains(ActionNames, action.Text) {
			report(action.Node, "unknown action %q (expected %s)", action.Text, strings.Join(ActionNames, " or "))
			continue
		}
		if slices.Contains(out.Actions, action.Text) {
			report(action.Node, "action %q listed twice", action.Text)
			continue
		}
		out.Actions = append(out.Actions, action.Text)
	}
}

func checkExcept(c *compiler, in *RuleNode, out *Rule, report reporter) {
	if len(in.Except) > 0 && out.Kind == KindWindow && (out.GroupBy == GroupGateway || out.GroupBy == GroupGatewayDirection) {
		report(in.ExceptNode, "except needs an address key, but group_by is %s", out.GroupBy)
		return
	}

	sets := []*PrefixSet{c.set.globalExcept}
	for _, name := range in.Except {
		errs := &errorList{}
		set, ok := c.cidrList(name, errs, "")
		for _, e := range errs.errors {
			report(name.Node, "%s", e.Message)
		}
		if !ok {
			continue
		}
		out.Except = append(out.Except, name.Text)
		sets = append(sets, set)
	}
	out.except = Union(sets...)
	out.globalExcept = c.set.globalExceptNames
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
	if problem := checkSize(in.When.Text); problem != "" {
		report(in.When.Node, "when: %s", problem)
		return
	}

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

	problems := checkCalls(tree.Node, in.When.Text, c.set.listTypes)
	problems = append(problems, checkListTypes(program.Node(), in.When.Text, c.set.listTypes)...)
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
	out.idents = identifiers(program.Node())
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
	if problem := checkSize(out.Value); problem != "" && in.Value.Set() {
		report(in.Value.Node, "value: %s", problem)
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
	if in.Value.Set() {
		out.idents = mergeNames(out.idents, identifiers(program.Node()))
	}
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

func fingerprint(r *Rule) string {
	h := sha256.New()
	for _, part := range []string{
		string(r.Kind), string(r.GroupBy), r.Window.String(), r.When, r.Cooldown.String(),
		strings.Join(r.Except, ","), strings.Join(r.globalExcept, ","), strings.Join(r.Actions, ","),
		r.For.String(), strconv.Itoa(r.ForEvals), strconv.FormatBool(r.Resolve),
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
