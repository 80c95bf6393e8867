package rules

import (
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"

	"github.com/natwatch/natwatch/internal/natlog"
)

// Pins are the values a record rule's condition fixes through top-level `&&` terms such as
// `proto == "tcp"`, `dst_port in [25, 465]`, `direction == "outbound"` or
// `in_list(src_ip, "office_nets")`. A record that fails a pin cannot match, so the engine skips
// the expression for it. A nil slice means the field is not pinned; an empty non-nil slice means
// the terms contradict each other and no record can match.
type Pins struct {
	Protos     []natlog.Proto
	DstPorts   []uint16
	Directions []natlog.Direction
	SrcLists   []string // the source address must be in each of these lists
	DstLists   []string // the destination address must be in each of these lists
}

// conjuncts returns the terms of a chain of `&&` (or `and`) operators.
func conjuncts(node ast.Node) []ast.Node {
	if bin, ok := node.(*ast.BinaryNode); ok && (bin.Operator == "&&" || bin.Operator == "and") {
		return append(conjuncts(bin.Left), conjuncts(bin.Right)...)
	}
	return []ast.Node{node}
}

// analyzeRecordPins derives the pins of a record rule and checks the protocol, port and direction
// names the pins use, since a misspelt name would silently never match.
func analyzeRecordPins(tree ast.Node, source string) (Pins, []string) {
	var pins Pins
	var problems []string

	for _, term := range conjuncts(tree) {
		field, values, ok := pinnedValues(term)
		if !ok {
			if list, side, ok := listPin(term); ok {
				if side == "src_ip" {
					pins.SrcLists = append(pins.SrcLists, list)
				} else {
					pins.DstLists = append(pins.DstLists, list)
				}
			}
			continue
		}

		switch field {
		case "proto":
			var protos []natlog.Proto
			for _, v := range values {
				p, known := protoByName(v)
				if !known {
					problems = append(problems, locate(term, source, "proto %v is not a protocol name (tcp, udp, icmp, icmpv6, gre, esp, sctp or a number 0–255)", quote(v)))
					continue
				}
				protos = append(protos, p)
			}
			pins.Protos = intersect(pins.Protos, protos)
		case "dst_port":
			var ports []uint16
			for _, v := range values {
				n, isNumber := v.(float64)
				if !isNumber || n != math.Trunc(n) || n < 0 || n > 65535 {
					problems = append(problems, locate(term, source, "dst_port %v is not a port number 0–65535", quote(v)))
					continue
				}
				ports = append(ports, uint16(n))
			}
			pins.DstPorts = intersect(pins.DstPorts, ports)
		case "direction":
			var dirs []natlog.Direction
			for _, v := range values {
				d, known := directionByName(v)
				if !known {
					problems = append(problems, locate(term, source, "direction %v is not one of outbound, inbound, internal, external or unknown", quote(v)))
					continue
				}
				dirs = append(dirs, d)
			}
			pins.Directions = intersect(pins.Directions, dirs)
		}
	}
	return pins, problems
}

// pinnedValues recognises `field == constant`, `constant == field` and `field in [constants]` for
// the pinnable fields. Numbers come back as float64 and strings as string.
func pinnedValues(term ast.Node) (string, []any, bool) {
	bin, ok := term.(*ast.BinaryNode)
	if !ok {
		return "", nil, false
	}

	switch bin.Operator {
	case "==":
		if id, ok := bin.Left.(*ast.IdentifierNode); ok && pinnable(id.Value) {
			if v, ok := constant(bin.Right); ok {
				return id.Value, []any{v}, true
			}
		}
		if id, ok := bin.Right.(*ast.IdentifierNode); ok && pinnable(id.Value) {
			if v, ok := constant(bin.Left); ok {
				return id.Value, []any{v}, true
			}
		}
	case "in":
		id, ok := bin.Left.(*ast.IdentifierNode)
		array, isArray := bin.Right.(*ast.ArrayNode)
		if !ok || !isArray || !pinnable(id.Value) {
			return "", nil, false
		}
		values := make([]any, 0, len(array.Nodes))
		for _, n := range array.Nodes {
			v, ok := constant(n)
			if !ok {
				return "", nil, false
			}
			values = append(values, v)
		}
		return id.Value, values, true
	}
	return "", nil, false
}

func pinnable(name string) bool {
	return name == "proto" || name == "dst_port" || name == "direction"
}

// listPin recognises `in_list(src_ip, "name")` and `in_list(dst_ip, "name")`.
func listPin(term ast.Node) (list, side string, ok bool) {
	call, isCall := term.(*ast.CallNode)
	if !isCall || len(call.Arguments) != 2 {
		return "", "", false
	}
	callee, isIdent := call.Callee.(*ast.IdentifierNode)
	if !isIdent || callee.Value != "in_list" {
		return "", "", false
	}
	addr, isIdent := call.Arguments[0].(*ast.IdentifierNode)
	name, isString := call.Arguments[1].(*ast.StringNode)
	if !isIdent || !isString || (addr.Value != "src_ip" && addr.Value != "dst_ip") {
		return "", "", false
	}
	return name.Value, addr.Value, true
}

// constant returns the value of a number or string literal, numbers as float64.
func constant(node ast.Node) (any, bool) {
	switch n := node.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.StringNode:
		return n.Value, true
	case *ast.UnaryNode:
		if n.Operator == "-" {
			if v, ok := constant(n.Node); ok {
				if f, isNumber := v.(float64); isNumber {
					return -f, true
				}
			}
		}
	}
	return nil, false
}

// comparisonValue recognises a condition that is one comparison of an expression with a number,
// such as `dst_ports > 50` or `0.9 <= syn_ratio`, and returns the expression's text and the number.
func comparisonValue(tree ast.Node) (string, float64, bool) {
	bin, ok := tree.(*ast.BinaryNode)
	if !ok {
		return "", 0, false
	}
	switch bin.Operator {
	case ">", ">=", "<", "<=":
	default:
		return "", 0, false
	}

	if v, ok := constant(bin.Right); ok {
		if f, isNumber := v.(float64); isNumber {
			return bin.Left.String(), f, true
		}
	}
	if v, ok := constant(bin.Left); ok {
		if f, isNumber := v.(float64); isNumber {
			return bin.Right.String(), f, true
		}
	}
	return "", 0, false
}

// checkCalls checks the constant arguments of in_list, in_cidr and ip, so that an unknown list
// or a malformed address is a load error rather than a failure on every record.
func checkCalls(tree ast.Node, source string, lists map[string]ListType) []string {
	finder := &callFinder{}
	ast.Walk(&tree, finder)

	var problems []string
	for _, call := range finder.calls {
		name := call.Callee.(*ast.IdentifierNode).Value
		switch name {
		case "in_list":
			if len(call.Arguments) != 2 {
				continue // expr reports the wrong argument count
			}
			list, ok := call.Arguments[1].(*ast.StringNode)
			if !ok {
				problems = append(problems, locate(call, source, "in_list needs the list name as a string literal"))
				continue
			}
			if _, known := lists[list.Value]; !known {
				problems = append(problems, locate(call.Arguments[1], source, "in_list: unknown list %q", list.Value))
			}
		case "in_cidr":
			if len(call.Arguments) != 2 {
				continue
			}
			if text, ok := call.Arguments[1].(*ast.StringNode); ok {
				if _, err := ParsePrefix(text.Value); err != nil {
					problems = append(problems, locate(call.Arguments[1], source, "in_cidr: invalid CIDR %q", text.Value))
				}
			}
		case "ip":
			if len(call.Arguments) != 1 {
				continue
			}
			if text, ok := call.Arguments[0].(*ast.StringNode); ok {
				if _, err := netip.ParseAddr(text.Value); err != nil {
					problems = append(problems, locate(call.Arguments[0], source, "ip: invalid address %q", text.Value))
				}
			}
		}
	}
	return problems
}

type callFinder struct{ calls []*ast.CallNode }

func (f *callFinder) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	if _, ok := call.Callee.(*ast.IdentifierNode); ok {
		f.calls = append(f.calls, call)
	}
}

// identifiers returns the names an expression reads.
func identifiers(tree ast.Node) []string {
	finder := &identFinder{}
	ast.Walk(&tree, finder)
	slices.Sort(finder.names)
	return slices.Compact(finder.names)
}

type identFinder struct{ names []string }

func (f *identFinder) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok {
		f.names = append(f.names, id.Value)
	}
}

// locate formats a message with expr's own `(line:col)` and caret snippet for node.
func locate(node ast.Node, source, format string, args ...any) string {
	e := &file.Error{Location: node.Location(), Message: fmt.Sprintf(format, args...)}
	return e.Bind(file.NewSource(source)).Error()
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func protoByName(v any) (natlog.Proto, bool) {
	name, ok := v.(string)
	if !ok {
		return 0, false
	}
	for i := 0; i < 256; i++ {
		if natlog.Proto(i).String() == name {
			return natlog.Proto(i), true
		}
	}
	return 0, false
}

func directionByName(v any) (natlog.Direction, bool) {
	name, ok := v.(string)
	if !ok {
		return 0, false
	}
	for d := natlog.DirectionUnknown; d <= natlog.DirectionExternal; d++ {
		if d.String() == name {
			return d, true
		}
	}
	return 0, false
}

// intersect combines two pins of one field: nil is "any value".
func intersect[T comparable](have, add []T) []T {
	if add == nil {
		add = []T{}
	}
	if have == nil {
		return add
	}
	out := []T{}
	for _, v := range have {
		if slices.Contains(add, v) {
			out = append(out, v)
		}
	}
	return out
}
