package rules

import (
	"github.com/expr-lang/expr/ast"
)

// windowFields reads the numeric variables of WindowEnv by name.
var windowFields = map[string]func(*WindowEnv) float64{
	"window_seconds": func(e *WindowEnv) float64 { return float64(e.WindowSeconds) },
	"conns":          func(e *WindowEnv) float64 { return float64(e.Conns) },
	"bytes":          func(e *WindowEnv) float64 { return float64(e.Bytes) },
	"packets":        func(e *WindowEnv) float64 { return float64(e.Packets) },
	"syn":            func(e *WindowEnv) float64 { return float64(e.SYN) },
	"drops":          func(e *WindowEnv) float64 { return float64(e.Drops) },
	"dst_ports":      func(e *WindowEnv) float64 { return float64(e.DstPorts) },
	"dst_hosts":      func(e *WindowEnv) float64 { return float64(e.DstHosts) },
	"src_hosts":      func(e *WindowEnv) float64 { return float64(e.SrcHosts) },
	"conns_per_s":    func(e *WindowEnv) float64 { return e.ConnsPerS },
	"bytes_per_s":    func(e *WindowEnv) float64 { return e.BytesPerS },
	"packets_per_s":  func(e *WindowEnv) float64 { return e.PacketsPerS },
	"syn_per_s":      func(e *WindowEnv) float64 { return e.SYNPerS },
	"drops_per_s":    func(e *WindowEnv) float64 { return e.DropsPerS },
	"syn_ratio":      func(e *WindowEnv) float64 { return e.SYNRatio },
	"hour":           func(e *WindowEnv) float64 { return float64(e.Hour) },
	"weekday":        func(e *WindowEnv) float64 { return float64(e.Weekday) },

	"beacon_score":      func(e *WindowEnv) float64 { return e.BeaconScore },
	"beacon_conns":      func(e *WindowEnv) float64 { return float64(e.BeaconConns) },
	"beacon_interval":   func(e *WindowEnv) float64 { return e.BeaconInterval },
	"loop_hits":         func(e *WindowEnv) float64 { return float64(e.LoopHits) },
	"tuple_repeats":     func(e *WindowEnv) float64 { return float64(e.TupleRepeats) },
	"failed_share":      func(e *WindowEnv) float64 { return e.FailedShare },
	"failed_conns":      func(e *WindowEnv) float64 { return float64(e.FailedConns) },
	"dst_hosts_on_port": func(e *WindowEnv) float64 { return float64(e.DstHostsOnPort) },
	"scan_port":         func(e *WindowEnv) float64 { return float64(e.ScanPort) },
	"dst_ports_30m":     func(e *WindowEnv) float64 { return float64(e.DstPorts30m) },
	"threat_conns":      func(e *WindowEnv) float64 { return float64(e.ThreatConns) },

	"out_bytes_per_s": func(e *WindowEnv) float64 { return e.OutBytesPerS },
	"in_bytes_per_s":  func(e *WindowEnv) float64 { return e.InBytesPerS },
	"out_in_ratio":    func(e *WindowEnv) float64 { return e.OutInRatio },
	"profile_score":   func(e *WindowEnv) float64 { return e.ProfileScore },
}

// comparison is `variable op constant` on a WindowEnv.
type comparison struct {
	field    func(*WindowEnv) float64
	op       string
	constant float64
}

func (c comparison) holds(env *WindowEnv) bool {
	v := c.field(env)
	switch c.op {
	case ">":
		return v > c.constant
	case ">=":
		return v >= c.constant
	case "<":
		return v < c.constant
	case "<=":
		return v <= c.constant
	case "==":
		return v == c.constant
	}
	return v != c.constant
}

// directWindow is a window condition made only of `&&`-joined comparisons of a variable with a
// number, such as `syn_per_s > 2000 && conns > 10`. The engine evaluates it in Go, without
// boxing the environment for expr, and with the same result as the compiled program.
type directWindow struct {
	terms []comparison
	value func(*WindowEnv) float64 // nil unless the value expression is a single variable

	// partial is true when the condition has other `&&` terms as well. Then terms only
	// prefilter: one that fails decides the condition is false without expr, and when all hold
	// the caller must run the compiled program.
	partial bool
}

func analyzeDirectWindow(tree ast.Node) *directWindow {
	direct := &directWindow{}
	for _, term := range conjuncts(tree) {
		if c, ok := directComparison(term); ok {
			direct.terms = append(direct.terms, c)
		} else {
			direct.partial = true
		}
	}
	if direct.partial && len(direct.terms) == 0 {
		return nil
	}
	return direct
}

// directComparison returns term as a comparison of a variable with a number, if it is one.
func directComparison(term ast.Node) (comparison, bool) {
	bin, ok := term.(*ast.BinaryNode)
	if !ok {
		return comparison{}, false
	}
	switch bin.Operator {
	case ">", ">=", "<", "<=", "==", "!=":
	default:
		return comparison{}, false
	}
	id, ok := bin.Left.(*ast.IdentifierNode)
	if !ok {
		return comparison{}, false
	}
	field := windowFields[id.Value]
	v, ok := constant(bin.Right)
	number, isNumber := v.(float64)
	if field == nil || !ok || !isNumber {
		return comparison{}, false
	}
	return comparison{field: field, op: bin.Operator, constant: number}, true
}

// MatchWindow evaluates a window rule's condition on env in Go when the condition is simple
// enough, and reports ok = false when the caller must use Match with expr instead.
func (r *Rule) MatchWindow(env *WindowEnv) (holds, ok bool) {
	if r.direct == nil {
		return false, false
	}
	for _, term := range r.direct.terms {
		if !term.holds(env) {
			return false, true
		}
	}
	if r.direct.partial {
		return false, false
	}
	return true, true
}

// MeasureWindow returns the value of a window rule whose value expression is a single variable,
// and ok = false when the caller must use Measure instead.
func (r *Rule) MeasureWindow(env *WindowEnv) (value float64, ok bool) {
	if r.direct == nil || r.direct.value == nil {
		return 0, r.value == nil
	}
	return r.direct.value(env), true
}
