package sink

import (
	"github.com/natwatch/natwatch/detector"
)

// MeasurementHost is the measurement of internal hosts' traffic rates.
const MeasurementHost = "natwatch_host"

// HostWriter is a Sink that also writes the traffic rates of internal hosts. Sinks that do not
// implement it discard host points.
type HostWriter interface {
	// WriteHost records one tick's rates of an internal host without waiting for a network request.
	WriteHost(p detector.HostPoint)
}

// WriteHost passes p to each sink that is a HostWriter.
func (m multi) WriteHost(p detector.HostPoint) {
	for _, s := range m {
		if w, ok := s.(HostWriter); ok {
			w.WriteHost(p)
		}
	}
}

// WriteHost queues p as a natwatch_host point.
func (i *Influx) WriteHost(p detector.HostPoint) {
	line, err := hostLine(p)
	if err != nil {
		i.dropInvalid(MeasurementHost, p.Gateway, false, err)
		return
	}
	i.pushMetric(line)
}

// hostLine encodes p as a natwatch_host point. The host is a tag, because the detector bounds
// the hosts written per tick and internal hosts are a bounded set.
func hostLine(p detector.HostPoint) (string, error) {
	lb := newLineBuilder(MeasurementHost)
	lb.tag("gateway", p.Gateway)
	lb.tag("host", p.Host)

	lb.floatField("conns_per_s", p.ConnsPerS)
	lb.floatField("bytes_per_s", p.BytesPerS)
	lb.floatField("packets_per_s", p.PacketsPerS)
	lb.floatField("drops_per_s", p.DropsPerS)
	lb.floatField("out_in_ratio", p.OutInRatio)
	lb.floatField("profile_score", p.ProfileScore)
	lb.bandFields(p.Baseline)
	return lb.line(p.Time)
}

// bandFields adds expected_<rate> and upper_<rate> for the four rates of a warm baseline.
func (lb *lineBuilder) bandFields(b detector.Bands) {
	if !b.Warm {
		return
	}
	for _, f := range []struct {
		name string
		band detector.Band
	}{
		{"conns_per_s", b.ConnsPerS},
		{"bytes_per_s", b.BytesPerS},
		{"packets_per_s", b.PacketsPerS},
		{"drops_per_s", b.DropsPerS},
	} {
		lb.floatField("expected_"+f.name, f.band.Expected)
		lb.floatField("upper_"+f.name, f.band.Upper)
	}
}
