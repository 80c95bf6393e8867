package config

import (
	"log/slog"
	"strings"

	"github.com/natwatch/natwatch/detector/sampling"
)

// Sampling holds the settings of record sampling.
type Sampling struct {
	SampleRates       []sampling.Class  // first match wins; empty samples nothing
	SampleFullCapture []sampling.Window // local times (Time_Zone) without sampling

	sampleFullCaptureText string // Sample_Full_Capture as given, for the settings log line
	// SampleWarnings lists the classes of SampleRates that match TCP records of every port, for
	// the pipeline to log at start.
	SampleWarnings []string
}

var samplingKeys = []Key{
	{Name: "Sample_Rates", Help: "comma-separated class=1/N entries that keep one connection in N of a record class and count it N times, such as udp/53=1/10,proto:udp=1/20; the first matching class applies and other records are kept whole",
		apply: applySampleRates},
	{Name: "Sample_Full_Capture", Help: "comma-separated local times (Time_Zone) without sampling: time ranges, days or both, such as 00:00-06:00,sat-sun,fri 12:00-13:00",
		apply: applySampleFullCapture},
}

func applySampleRates(c *Config, v string) error {
	classes, warnings, err := sampling.ParseRates(v)
	if err != nil {
		return err
	}
	c.SampleRates, c.SampleWarnings = classes, warnings
	return nil
}

func applySampleFullCapture(c *Config, v string) error {
	windows, err := sampling.ParseFullCapture(v)
	if err != nil {
		return err
	}
	c.SampleFullCapture = windows
	c.sampleFullCaptureText = v
	return nil
}

// samplingAttrs returns the sampling settings as log attributes.
func (s Sampling) samplingAttrs() []slog.Attr {
	rates := make([]string, len(s.SampleRates))
	for i, class := range s.SampleRates {
		rates[i] = class.String()
	}
	return []slog.Attr{
		slog.String("sample_rates", strings.Join(rates, ",")),
		slog.String("sample_full_capture", s.sampleFullCaptureText),
	}
}
