package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a rule file, with the position of the YAML node it concerns.
type Error struct {
	File    string
	Line    int // 1-based; 0 when unknown
	Column  int // 1-based; 0 when unknown
	Subject string
	Message string
}

// Error formats the problem as `file:line:col: subject: message`, where the subject is
// `rule "name"`, `rule 3` for a rule without a name, `list "name"` or empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Subject != "" {
		b.WriteString(e.Subject)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found while loading rule files, in file and position order.
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
}

// errorList collects errors for one file and subject.
type errorList struct {
	file   string
	errors Errors
}

func (l *errorList) add(node *yaml.Node, subject, format string, args ...any) {
	e := &Error{File: l.file, Subject: subject, Message: fmt.Sprintf(format, args...)}
	if node != nil {
		e.Line = node.Line
		e.Column = node.Column
	}
	l.errors = append(l.errors, e)
}

func ruleSubject(name string, index int) string {
	if name == "" {
		return fmt.Sprintf("rule %d", index+1)
	}
	return fmt.Sprintf("rule %q", name)
}

func listSubject(name string) string {
	return fmt.Sprintf("list %q", name)
}
