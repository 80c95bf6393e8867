package detector

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/natwatch/natwatch/detector/rules"
)

// Anomaly states.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// alertKey is a group key: an address, or a gateway number for group_by gateway.
type alertKey struct {
	addr    netip.Addr
	gateway uint32
}

type alert struct {
	firing    bool
	lastFired int64 // Unix seconds of the last firing event
	evaluated int64 // the tick that last evaluated this key
}

// ruleState is a rule with its alert state, which survives a reload that leaves the rule's
// name and fingerprint unchanged.
type ruleState struct {
	rule   *rules.Rule
	alerts map[alertKey]*alert
	firing int // alerts in the firing state

	errors       uint64
	lastErrorLog int64 // engine second of the last logged evaluation error
}

func newRuleState(rule *rules.Rule) *ruleState {
	return &ruleState{rule: rule, alerts: map[alertKey]*alert{}}
}

// allow decides whether a condition that holds at second now for key produces a firing event,
// and records it. It returns fire = false while the key is firing or cooling down, and full =
// true when the alert table has no room for the key. Window rules stay firing until resolve;
// record rules only start a cooldown.
func (rs *ruleState) allow(key alertKey, now int64, maxAlerts int) (fire, full bool) {
	a := rs.alerts[key]
	if a == nil {
		if len(rs.alerts) >= maxAlerts {
			return false, true
		}
		a = &alert{}
		rs.alerts[key] = a
	} else {
		a.evaluated = now
		if a.firing {
			return false, false
		}
		if now-a.lastFired < int64(rs.rule.Cooldown/time.Second) {
			return false, false
		}
	}
	a.evaluated = now
	a.lastFired = now
	if rs.rule.Kind == rules.KindWindow {
		a.firing = true
		rs.firing++
	}
	return true, false
}

// resolve ends a firing alert for key and reports whether it was firing.
func (rs *ruleState) resolve(key alertKey, now int64) bool {
	a := rs.alerts[key]
	if a == nil {
		return false
	}
	a.evaluated = now
	if !a.firing {
		return false
	}
	a.firing = false
	rs.firing--
	return true
}

// prune drops the alerts that are neither firing nor cooling down at second now.
func (rs *ruleState) prune(now int64) {
	cooldown := int64(rs.rule.Cooldown / time.Second)
	for key, a := range rs.alerts {
		if !a.firing && now-a.lastFired >= cooldown {
			delete(rs.alerts, key)
		}
	}
}

// logError logs an evaluation error, at most once per minute per rule.
func (rs *ruleState) logError(now int64, key string, err error) {
	rs.errors++
	if rs.lastErrorLog != 0 && now-rs.lastErrorLog < 60 {
		return
	}
	rs.lastErrorLog = now
	slog.Warn("rule evaluation failed", "rule", rs.rule.Name, "file", rs.rule.File,
		"key", key, "errors", rs.errors, "error", err)
}
