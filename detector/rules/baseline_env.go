package rules

// BaselineEnv holds the window variables of traffic direction, seasonal baselines (package
// detector/baseline) and host profiles. Baseline and Growth are never nil: without a baseline for
// the key every stat is zero and not warm.
type BaselineEnv struct {
	OutBytesPerS float64 `expr:"out_bytes_per_s"` // bytes per second that left the internal side
	InBytesPerS  float64 `expr:"in_bytes_per_s"`  // bytes per second that entered it
	OutInRatio   float64 `expr:"out_in_ratio"`    // out / in bytes, 0 when nothing came in

	// ProfileScore is the internal host's largest z-score across its metrics against its own
	// baselines, 0 when none is warm or the key is not an internal host.
	ProfileScore float64 `expr:"profile_score"`

	Baseline *Baselines `expr:"baseline"`
	Growth   *Growth    `expr:"growth"`
}

// BaselineStat is the seasonal baseline of one metric for the key, at the current 15-minute slot
// of the local day, learned from the same slot of the previous 7 days.
type BaselineStat struct {
	Expected float64 `expr:"expected"` // median (or mean) of the slot's earlier values
	Spread   float64 `expr:"spread"`   // 1.4826 × MAD (or the standard deviation), at least the minimum spread
	Upper    float64 `expr:"upper"`    // expected + k × spread
	ZScore   float64 `expr:"zscore"`   // (the window's value − expected) / spread; 0 unless warm
	Days     int     `expr:"days"`     // earlier days with a value for the slot
	Warm     bool    `expr:"warm"`     // at least one earlier day had a value for the slot
}

// Baselines holds the baseline of each metric, named as the window variable it describes.
type Baselines struct {
	ConnsPerS   BaselineStat `expr:"conns_per_s"`
	BytesPerS   BaselineStat `expr:"bytes_per_s"`
	PacketsPerS BaselineStat `expr:"packets_per_s"`
	DropsPerS   BaselineStat `expr:"drops_per_s"`
	SYNRatio    BaselineStat `expr:"syn_ratio"`
	OutInRatio  BaselineStat `expr:"out_in_ratio"`
}

// Stat returns the baseline of metric i in the order of package detector/baseline's metrics:
// conns_per_s, bytes_per_s, packets_per_s, drops_per_s, syn_ratio, out_in_ratio. It returns
// nil for any other i.
func (b *Baselines) Stat(i int) *BaselineStat {
	switch i {
	case 0:
		return &b.ConnsPerS
	case 1:
		return &b.BytesPerS
	case 2:
		return &b.PacketsPerS
	case 3:
		return &b.DropsPerS
	case 4:
		return &b.SYNRatio
	case 5:
		return &b.OutInRatio
	}
	return nil
}

// Growth is the relative change of each rate from the previous window of the same length to the
// rule's window: (current − previous) / previous, so 3 means the rate grew by 300 %. It is 0 when
// the engine has not seen both windows, and +Inf when the previous window was empty.
type Growth struct {
	ConnsPerS   float64 `expr:"conns_per_s"`
	BytesPerS   float64 `expr:"bytes_per_s"`
	PacketsPerS float64 `expr:"packets_per_s"`
	DropsPerS   float64 `expr:"drops_per_s"`
}

// noBaselines and noGrowth are what a key without a baseline reads. Nothing writes them.
var (
	noBaselines Baselines
	noGrowth    Growth
)

// fillTraffic sets the direction rates from the counts and resets the baseline fields to the
// empty baseline. The engine points Baseline and Growth at its own values when a rule reads them.
func (env *WindowEnv) fillTraffic(c WindowCounts, divisor float64) {
	in := c.Bytes - min(c.OutBytes, c.Bytes)
	env.OutBytesPerS = float64(c.OutBytes) / divisor
	env.InBytesPerS = float64(in) / divisor
	env.OutInRatio = 0
	if in > 0 {
		env.OutInRatio = float64(c.OutBytes) / float64(in)
	}
	env.ProfileScore = 0
	env.Baseline = &noBaselines
	env.Growth = &noGrowth
}

// addBaselineData adds the direction rates, the host profile score and the baseline and growth
// of conns_per_s and bytes_per_s to summary data.
func addBaselineData(data map[string]any, env *WindowEnv) {
	data["out_bytes_per_s"] = FormatNumber(env.OutBytesPerS)
	data["in_bytes_per_s"] = FormatNumber(env.InBytesPerS)
	data["out_in_ratio"] = FormatNumber(env.OutInRatio)
	data["profile_score"] = FormatNumber(env.ProfileScore)

	b, g := env.Baseline, env.Growth
	if b == nil {
		b = &noBaselines
	}
	if g == nil {
		g = &noGrowth
	}
	data["expected_conns_per_s"] = FormatNumber(b.ConnsPerS.Expected)
	data["upper_conns_per_s"] = FormatNumber(b.ConnsPerS.Upper)
	data["expected_bytes_per_s"] = FormatNumber(b.BytesPerS.Expected)
	data["upper_bytes_per_s"] = FormatNumber(b.BytesPerS.Upper)
	data["growth_conns_per_s"] = FormatNumber(g.ConnsPerS)
	data["growth_bytes_per_s"] = FormatNumber(g.BytesPerS)
}
