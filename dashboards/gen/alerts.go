package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/alerting"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/expr"
	"gopkg.in/yaml.v3"
)

// datasourceUID is the uid of the InfluxDB data source in dashboards/provisioning/datasources.
// The alert rules refer to it directly, because alert rules cannot use dashboard variables.
const datasourceUID = "natwatch-influxdb"

// Alert rule group settings.
const (
	alertFolder   = "natwatch"
	alertGroup    = "natwatch anomalies"
	alertInterval = "1m"
	// alertWindowSeconds is how far back each evaluation counts firing anomalies. An alert resolves
	// once no anomaly of its rule, tier and gateway fired for this long.
	alertWindowSeconds = 300
)

// alertSeverities are the natwatch severities that get an alert rule, each with its own rule so
// that notification policies can route on the severity label. Anomalies of severity low and info
// are shown on the dashboards only.
var alertSeverities = []struct {
	severity string
	title    string
}{
	{"critical", "natwatch critical anomaly"},
	{"high", "natwatch high-severity anomaly"},
	{"medium", "natwatch medium-severity anomaly"},
}

// alertQuery counts the anomalies of one severity that started firing within the evaluation's
// time range, one series per gateway, rule and level (the rule's tier), so each becomes an alert
// instance with those labels.
func alertQuery(severity string) string {
	return `SELECT count("value") AS "firing" FROM "natwatch_anomaly" WHERE "state" = 'firing' AND "severity" = '` + severity +
		`' AND $timeFilter GROUP BY "gateway", "rule", "level"`
}

func alertRule(severity, title string) *alerting.RuleBuilder {
	influx := NewInfluxQuery("A", alertQuery(severity)).
		Datasource(&common.DataSourceRef{Type: cog.ToPtr("influxdb"), Uid: cog.ToPtr(datasourceUID)})
	exprRef := common.DataSourceRef{Type: cog.ToPtr("__expr__"), Uid: cog.ToPtr("__expr__")}

	reduce := expr.NewTypeReduceBuilder().
		RefId("B").
		Datasource(exprRef).
		Expression("A").
		Reducer(expr.TypeReduceReducerLast).
		Settings(expr.NewExprTypeReduceSettingsBuilder().Mode(expr.ExprTypeReduceSettingsModeDropNN))
	threshold := expr.NewTypeThresholdBuilder().
		RefId("C").
		Datasource(exprRef).
		Expression("B").
		Conditions([]cog.Builder[expr.ExprTypeThresholdConditions]{
			expr.NewExprTypeThresholdConditionsBuilder().
				Evaluator(expr.NewExprTypeThresholdConditionsEvaluatorBuilder().
					Type(expr.ExprTypeThresholdConditionsEvaluatorTypeGt).
					Params([]float64{0})),
		})

	return alerting.NewRuleBuilder(title).
		Uid("natwatch-" + severity).
		RuleGroup(alertGroup).
		FolderUID(alertFolder).
		Condition("C").
		WithQuery(alerting.NewQueryBuilder("A").
			DatasourceUid(datasourceUID).
			RelativeTimeRange(alertWindowSeconds, 0).
			Model(influx)).
		WithQuery(alerting.NewQueryBuilder("B").
			DatasourceUid("__expr__").
			RelativeTimeRange(0, 0).
			Model(expr.NewExprBuilder().TypeReduce(reduce))).
		WithQuery(alerting.NewQueryBuilder("C").
			DatasourceUid("__expr__").
			RelativeTimeRange(0, 0).
			Model(expr.NewExprBuilder().TypeThreshold(threshold))).
		For("0s").
		NoDataState(alerting.RuleNoDataStateOK).
		ExecErrState(alerting.RuleExecErrStateError).
		Labels(map[string]string{"severity": severity, "source": "natwatch"}).
		Annotations(map[string]string{
			"summary": `{{ $labels.rule }} fired {{ $values.B }} time(s) on gateway {{ $labels.gateway }} in the last 5 minutes (` +
				severity + `, tier {{ $labels.level }})`,
			"description": `natwatch rule {{ $labels.rule }} reported ` + severity + `-severity anomalies. ` +
				`The anomalies dashboard lists each event with its key, source, destination and summary.`,
			"dashboard": "/d/" + uidAnomalies + "?var-gateway={{ $labels.gateway }}",
		})
}

// The structs below are Grafana's file-provisioning format for alert rules (apiVersion 1), which
// names some keys differently from the HTTP API that the SDK's types follow.

type rulesFile struct {
	APIVersion int          `yaml:"apiVersion"`
	Groups     []rulesGroup `yaml:"groups"`
}

type rulesGroup struct {
	OrgID    int64       `yaml:"orgId"`
	Name     string      `yaml:"name"`
	Folder   string      `yaml:"folder"`
	Interval string      `yaml:"interval"`
	Rules    []ruleEntry `yaml:"rules"`
}

type ruleEntry struct {
	UID          string            `yaml:"uid"`
	Title        string            `yaml:"title"`
	Condition    string            `yaml:"condition"`
	Data         []ruleQuery       `yaml:"data"`
	NoDataState  string            `yaml:"noDataState"`
	ExecErrState string            `yaml:"execErrState"`
	For          string            `yaml:"for"`
	Annotations  map[string]string `yaml:"annotations"`
	Labels       map[string]string `yaml:"labels"`
	IsPaused     bool              `yaml:"isPaused"`
}

type ruleQuery struct {
	RefID             string            `yaml:"refId"`
	RelativeTimeRange relativeTimeRange `yaml:"relativeTimeRange"`
	DatasourceUID     string            `yaml:"datasourceUid"`
	Model             map[string]any    `yaml:"model"`
}

type relativeTimeRange struct {
	From int64 `yaml:"from"`
	To   int64 `yaml:"to"`
}

// renderAlertRules builds the alert rules and encodes them as a Grafana provisioning file.
func renderAlertRules() ([]byte, error) {
	group := rulesGroup{OrgID: 1, Name: alertGroup, Folder: alertFolder, Interval: alertInterval}

	for _, s := range alertSeverities {
		rule, err := alertRule(s.severity, s.title).Build()
		if err != nil {
			return nil, err
		}
		entry, err := provisionedRule(rule)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", s.title, err)
		}
		group.Rules = append(group.Rules, entry)
	}

	var buf bytes.Buffer
	buf.WriteString("# Generated by `make dashboards` from dashboards/gen; do not edit.\n")
	encoder := yaml.NewEncoder(&buf)
	encoder.SetIndent(2)
	if err := encoder.Encode(rulesFile{APIVersion: 1, Groups: []rulesGroup{group}}); err != nil {
		return nil, err
	}
	if err := encoder.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// provisionedRule converts an SDK rule into the file-provisioning form. Each query's model goes
// through JSON, so it keeps the keys Grafana stores.
func provisionedRule(rule alerting.Rule) (ruleEntry, error) {
	entry := ruleEntry{
		UID:          *rule.Uid,
		Title:        rule.Title,
		Condition:    rule.Condition,
		NoDataState:  string(rule.NoDataState),
		ExecErrState: string(rule.ExecErrState),
		For:          rule.For,
		Annotations:  rule.Annotations,
		Labels:       rule.Labels,
	}

	for _, q := range rule.Data {
		raw, err := json.Marshal(q.Model)
		if err != nil {
			return ruleEntry{}, err
		}
		var model map[string]any
		if err := json.Unmarshal(raw, &model); err != nil {
			return ruleEntry{}, err
		}
		entry.Data = append(entry.Data, ruleQuery{
			RefID:             *q.RefId,
			RelativeTimeRange: relativeTimeRange{From: int64(*q.RelativeTimeRange.From), To: int64(*q.RelativeTimeRange.To)},
			DatasourceUID:     *q.DatasourceUid,
			Model:             model,
		})
	}
	return entry, nil
}
