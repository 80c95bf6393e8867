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

	// pending is true while the condition holds but the rule's `for` has not passed yet.
	pending      bool
	pendingSince int64 // the first tick of the current pending run
	pendingEvals int   // evaluations in the current pending run
}

// ruleState is a rule with its alert state, which survives a reload that leaves the rule's
// name and fingerprint unchanged.
type ruleState struct {
	rule    *rules.Rule
	alerts  map[alertKey]*alert
	firing  int  // alerts in the firing state
	pending int  // alerts in the pending state
	taints  bool // the rule reads baselines, so its matches taint the baseline slot of the key

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
	if a.pending {
		a.pending = false
		rs.pending--
	}
	if rs.rule.Kind == rules.KindWindow {
		a.firing = true
		rs.firing++
	}
	return true, false
}

// hold records that the condition holds for key at second now and reports whether it has held
// long enough for the rule's `for`: the duration For since the first tick of the run, and at
// least ForEvals consecutive evaluations. A firing key and a rule without `for` hold at once.
// full is true when the alert table has no room for the key.
func (rs *ruleState) hold(key alertKey, now int64, maxAlerts int) (held, full bool) {
	if rs.rule.For == 0 && rs.rule.ForEvals == 0 {
		return true, false
	}
	a := rs.alerts[key]
	if a == nil {
		if len(rs.alerts) >= maxAlerts {
			return false, true
		}
		a = &alert{}
		rs.alerts[key] = a
	}
	if a.firing {
		return true, false
	}
	a.evaluated = now
	if !a.pending {
		a.pending = true
		a.pendingSince = now
		a.pendingEvals = 0
		rs.pending++
	}
	a.pendingEvals++
	return now-a.pendingSince >= int64(rs.rule.For/time.Second) && a.pendingEvals >= rs.rule.ForEvals, false
}

// clearPending ends the pending run of key, because the condition stopped holding.
func (rs *ruleState) clearPending(key alertKey) {
	if rs.pending == 0 {
		return
	}
	if a := rs.alerts[key]; a != nil && a.pending {
		a.pending = false
		rs.pending--
	}
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
		if !a.firing && !a.pending && now-a.lastFired >= cooldown {
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
