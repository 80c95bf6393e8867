package detector

import (
	"net/netip"
	"time"

	"github.com/natwatch/natwatch/detector/rules"
	"github.com/natwatch/natwatch/internal/natlog"
)

// Extension adds variables to the rule environments that the engine's meters do not keep: the
// local clock and work calendar, and the behavior detectors of package detector/behavior. The
// engine calls it under the same lock as itself, so an Extension need not be safe for
// concurrent use.
type Extension interface {
	// SetRules is called with every rule set the engine starts using, before any evaluation.
	SetRules(set *rules.Set)
	// Observe sees every event with a valid time, after the engine counted it.
	Observe(ev *natlog.ConnEvent)
	// FillRecord sets the extension's fields of a record environment that Fill has filled.
	FillRecord(env *rules.RecordEnv, ev *natlog.ConnEvent)
	// FillWindow sets the extension's fields of a window environment for one group key at the
	// tick now. key is the zero Addr for group_by gateway; env.Gateway names the gateway.
	FillWindow(env *rules.WindowEnv, by rules.GroupBy, key netip.Addr, now time.Time)
}
