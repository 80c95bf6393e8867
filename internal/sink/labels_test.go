package sink

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/detector/rules"
)

// labelledAnomaly returns an anomaly carrying the labels of a compiled rule, as the engine does.
func labelledAnomaly(t *testing.T) detector.Anomaly {
	t.Helper()
	file := `rules:
  - name: smtp_out
    severity: medium
    kind: record
    when: dst_port == 25
    labels:
      team: netops
      category: policy
    summary: "{{ .key }} sent mail"
`
	f, errs := rules.ParseFile("labels.yaml", []byte(file))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set, err := rules.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	return detector.Anomaly{
		Time: time.Date(2026, 3, 14, 1, 8, 0, 0, time.UTC), Gateway: "edge-gw01", Rule: "smtp_out",
		Level: "basic", Severity: "medium", State: "firing", Key: "10.20.7.15", Summary: "10.20.7.15 sent mail",
		Src: "10.20.7.15", Dst: "198.51.100.200", Labels: set.Rule("smtp_out").Labels,
	}
}

func TestAnomalyLineLabelsAsTags(t *testing.T) {
	line, err := anomalyLine(labelledAnomaly(t))
	if err != nil {
		t.Fatal(err)
	}

	head := line[:strings.IndexByte(line, ' ')]
	for _, tag := range []string{",category=policy", ",team=netops", ",rule=smtp_out"} {
		if !strings.Contains(head, tag) {
			t.Errorf("tag set %q lacks %s", head, tag)
		}
	}
}

func TestJSONLinesLabels(t *testing.T) {
	var out bytes.Buffer
	s := NewJSONLines(&out)
	s.WriteAnomaly(labelledAnomaly(t))
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	want := `"labels":{"category":"policy","team":"netops"}}`
	if !strings.HasSuffix(strings.TrimSpace(out.String()), want) {
		t.Errorf("JSON line %s does not end with %s", out.String(), want)
	}
}
