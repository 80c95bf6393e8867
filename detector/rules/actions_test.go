package rules

import (
	"strings"
	"testing"
)

const actionsRule = `
rules:
  - name: scan
    level: basic
    severity: high
    kind: record
    when: dst_port == 23
    summary: telnet
    actions: [%s]
`

func TestActionsLoaded(t *testing.T) {
	set, err := compileText(t, [2]string{"a.yaml", strings.Replace(actionsRule, "%s", "blocklist, webhook", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Rule("scan").Actions, ","); got != "blocklist,webhook" {
		t.Errorf("actions = %q, want blocklist,webhook", got)
	}
}

func TestActionsInvalid(t *testing.T) {
	tests := []struct{ actions, want string }{
		{"mail", `a.yaml:9:15: rule "scan": unknown action "mail" (expected webhook or blocklist)`},
		{"webhook, webhook", `a.yaml:9:24: rule "scan": action "webhook" listed twice`},
	}
	for _, tt := range tests {
		_, err := compileText(t, [2]string{"a.yaml", strings.Replace(actionsRule, "%s", tt.actions, 1)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("actions [%s]: error %v, want %q", tt.actions, err, tt.want)
		}
	}
}
