package rules

import (
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// File is a rule file after YAML parsing and before validation. Every value keeps its YAML node,
// so that validation can point at the line and column of a problem.
type File struct {
	Name  string
	Lists []ListNode
	Rules []RuleNode

	// Except names the lists whose addresses every rule of every file skips: the file's
	// top-level `except` key.
	Except []Field
}

// ListNode is one named list as written in a file: a plain sequence of addresses and prefixes,
// or a mapping with `type` (cidrs, ports or countries) and `items`.
type ListNode struct {
	Name  string
	Key   *yaml.Node // the list's name in the `lists` mapping
	Type  Field      // unset for a plain sequence, which is a cidrs list
	Items []*yaml.Node
}

// Field is a scalar value of a rule together with its node. Node is nil when the key is absent.
type Field struct {
	Text string
	Node *yaml.Node
}

// Set reports whether the rule file gave the field.
func (f Field) Set() bool { return f.Node != nil }

// RuleNode is one rule as written in a file.
type RuleNode struct {
	Node  *yaml.Node // the rule's mapping
	Index int        // position in the file's `rules` sequence, from 0

	Name        Field
	Description Field
	Level       Field
	Severity    Field
	Kind        Field
	GroupBy     Field
	Window      Field
	When        Field
	Value       Field
	Threshold   Field
	Cooldown    Field
	Summary     Field
	SummaryZH   Field
	For         Field
	Resolve     Field
	Except      []Field
	ExceptNode  *yaml.Node // the `except` sequence, nil when absent
	Labels      []Label
	LabelsNode  *yaml.Node // the `labels` mapping, nil when absent
	Actions     []Field    // the `actions` sequence: response actions such as webhook and blocklist
	ActionsNode *yaml.Node // the `actions` sequence, nil when absent
}

// Label is one entry of a rule's `labels` mapping.
type Label struct {
	Name, Value Field
}

// ruleKeys maps every key a rule may contain to its scalar field. `except` is a sequence and is
// handled on its own.
func (r *RuleNode) scalarFields() map[string]*Field {
	return map[string]*Field{
		"name":        &r.Name,
		"description": &r.Description,
		"level":       &r.Level,
		"severity":    &r.Severity,
		"kind":        &r.Kind,
		"group_by":    &r.GroupBy,
		"window":      &r.Window,
		"when":        &r.When,
		"value":       &r.Value,
		"threshold":   &r.Threshold,
		"cooldown":    &r.Cooldown,
		"summary":     &r.Summary,
		"summary_zh":  &r.SummaryZH,
		"for":         &r.For,
		"resolve":     &r.Resolve,
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseFile parses the YAML of one rule file. Unknown keys, duplicate keys and values of the
// wrong YAML shape are errors. ParseFile returns what it could parse together with all errors.
func ParseFile(name string, data []byte) (*File, Errors) {
	file := &File{Name: name}
	errs := &errorList{file: name}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		e := &Error{File: name, Message: "invalid YAML: " + err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Message = "invalid YAML: " + m[2]
		}
		return file, Errors{e}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return file, nil
	}

	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		errs.add(doc, "", "a rule file must be a mapping with the keys lists, rules and except")
		return file, errs.errors
	}

	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key, value := doc.Content[i], doc.Content[i+1]
		if first, dup := seen[key.Value]; dup {
			errs.add(key, "", "duplicate key %q, first given at line %d", key.Value, first.Line)
			continue
		}
		seen[key.Value] = key

		switch key.Value {
		case "lists":
			file.Lists = parseLists(value, errs)
		case "rules":
			file.Rules = parseRules(value, errs)
		case "except":
			file.Except = parseNameList(value, "", "except", errs)
		default:
			errs.add(key, "", "unknown key %q (expected lists, rules or except)", key.Value)
		}
	}
	return file, errs.errors
}

func parseLists(node *yaml.Node, errs *errorList) []ListNode {
	if node.Kind != yaml.MappingNode {
		if !isNull(node) {
			errs.add(node, "", "lists must be a mapping of list names to address lists")
		}
		return nil
	}

	var lists []ListNode
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		list := ListNode{Name: key.Value, Key: key}
		switch {
		case value.Kind == yaml.SequenceNode:
			for _, item := range value.Content {
				if item.Kind != yaml.ScalarNode {
					errs.add(item, listSubject(key.Value), "entries must be addresses or CIDR prefixes")
					continue
				}
				list.Items = append(list.Items, item)
			}
		case value.Kind == yaml.MappingNode:
			if !parseTypedList(value, &list, errs) {
				continue
			}
		case isNull(value):
		default:
			errs.add(value, listSubject(key.Value), "must be a sequence of addresses or CIDR prefixes, or a mapping with type and items")
			continue
		}
		lists = append(lists, list)
	}
	return lists
}

// parseTypedList reads the `{type: ports, items: [...]}` form of a list.
func parseTypedList(node *yaml.Node, list *ListNode, errs *errorList) bool {
	subject := listSubject(list.Name)
	ok := true
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		switch key.Value {
		case "type":
			if value.Kind != yaml.ScalarNode {
				errs.add(value, subject, "type must be cidrs, ports or countries")
				ok = false
				continue
			}
			list.Type = Field{Text: value.Value, Node: value}
		case "items":
			if isNull(value) {
				continue
			}
			if value.Kind != yaml.SequenceNode {
				errs.add(value, subject, "items must be a sequence")
				ok = false
				continue
			}
			for _, item := range value.Content {
				if item.Kind != yaml.ScalarNode {
					errs.add(item, subject, "items must be single values")
					continue
				}
				list.Items = append(list.Items, item)
			}
		default:
			errs.add(key, subject, "unknown key %q (expected type or items)", key.Value)
			ok = false
		}
	}
	if !list.Type.Set() {
		errs.add(node, subject, "missing type (cidrs, ports or countries)")
		ok = false
	}
	return ok
}

func parseRules(node *yaml.Node, errs *errorList) []RuleNode {
	if node.Kind != yaml.SequenceNode {
		if !isNull(node) {
			errs.add(node, "", "rules must be a sequence of rules")
		}
		return nil
	}

	var rules []RuleNode
	for index, item := range node.Content {
		if item.Kind != yaml.MappingNode {
			errs.add(item, ruleSubject("", index), "a rule must be a mapping")
			continue
		}
		rules = append(rules, parseRule(item, index, errs))
	}
	return rules
}

func parseRule(node *yaml.Node, index int, errs *errorList) RuleNode {
	rule := RuleNode{Node: node, Index: index}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "name" && node.Content[i+1].Kind == yaml.ScalarNode {
			rule.Name = Field{Text: node.Content[i+1].Value, Node: node.Content[i+1]}
		}
	}
	subject := ruleSubject(rule.Name.Text, index)

	fields := rule.scalarFields()
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		if first, dup := seen[key.Value]; dup {
			errs.add(key, subject, "duplicate key %q, first given at line %d", key.Value, first.Line)
			continue
		}
		seen[key.Value] = key

		if key.Value == "except" {
			rule.ExceptNode = value
			rule.Except = parseNameList(value, subject, "except", errs)
			continue
		}
		if key.Value == "actions" {
			rule.ActionsNode = value
			rule.Actions = parseNameList(value, subject, "actions", errs)
			continue
		}
		if key.Value == "labels" {
			rule.LabelsNode = value
			rule.Labels = parseLabels(value, subject, errs)
			continue
		}
		if key.Value == "group_by" && value.Kind == yaml.SequenceNode {
			rule.GroupBy = parseGroupBy(value, subject, errs)
			continue
		}

		field, known := fields[key.Value]
		if !known {
			errs.add(key, subject, "unknown key %q", key.Value)
			continue
		}
		if value.Kind != yaml.ScalarNode {
			errs.add(value, subject, "%s must be a single value, not a %s", key.Value, kindName(value))
			continue
		}
		*field = Field{Text: value.Value, Node: value}
	}
	return rule
}

func parseLabels(node *yaml.Node, subject string, errs *errorList) []Label {
	if isNull(node) {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		errs.add(node, subject, "labels must be a mapping of label names to values")
		return nil
	}
	var labels []Label
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		if value.Kind != yaml.ScalarNode {
			errs.add(value, subject, "label %q must have a single value, not a %s", key.Value, kindName(value))
			continue
		}
		labels = append(labels, Label{
			Name:  Field{Text: key.Value, Node: key},
			Value: Field{Text: value.Value, Node: value},
		})
	}
	return labels
}

// parseGroupBy accepts `group_by: [src_ip]` as well as `group_by: src_ip`.
func parseGroupBy(node *yaml.Node, subject string, errs *errorList) Field {
	if len(node.Content) != 1 || node.Content[0].Kind != yaml.ScalarNode {
		errs.add(node, subject, "group_by must name exactly one of src_ip, dst_ip or gateway")
		return Field{}
	}
	return Field{Text: node.Content[0].Value, Node: node.Content[0]}
}

func parseNameList(node *yaml.Node, subject, key string, errs *errorList) []Field {
	if isNull(node) {
		return nil
	}
	if node.Kind != yaml.SequenceNode {
		errs.add(node, subject, "%s must be a sequence of list names", key)
		return nil
	}
	var names []Field
	for _, item := range node.Content {
		if item.Kind != yaml.ScalarNode {
			errs.add(item, subject, "%s entries must be list names", key)
			continue
		}
		names = append(names, Field{Text: item.Value, Node: item})
	}
	return names
}

func isNull(node *yaml.Node) bool {
	return node.Kind == yaml.ScalarNode && node.Tag == "!!null"
}

func kindName(node *yaml.Node) string {
	switch node.Kind {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}
