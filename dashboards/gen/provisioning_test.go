package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// alertRulesFileModel is Grafana's file-provisioning format for alert rules, as far as the
// tests read it.
type alertRulesFileModel struct {
	APIVersion int `yaml:"apiVersion"`
	Groups     []struct {
		OrgID    int    `yaml:"orgId"`
		Name     string `yaml:"name"`
		Folder   string `yaml:"folder"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			UID       string `yaml:"uid"`
			Title     string `yaml:"title"`
			Condition string `yaml:"condition"`
			Data      []struct {
				RefID             string `yaml:"refId"`
				DatasourceUID     string `yaml:"datasourceUid"`
				RelativeTimeRange struct {
					From int `yaml:"from"`
					To   int `yaml:"to"`
				} `yaml:"relativeTimeRange"`
				Model map[string]any `yaml:"model"`
			} `yaml:"data"`
			NoDataState  string            `yaml:"noDataState"`
			ExecErrState string            `yaml:"execErrState"`
			For          string            `yaml:"for"`
			Labels       map[string]string `yaml:"labels"`
			Annotations  map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlertRules(t *testing.T) alertRulesFileModel {
	t.Helper()

	var file alertRulesFileModel
	readYAML(t, filepath.Join(dashboardsDir, filepath.FromSlash(alertRulesFile)), &file)
	return file
}

func TestAlertRulesFile(t *testing.T) {
	provisioned := provisionedDatasourceUID(t)
	file := loadAlertRules(t)

	if file.APIVersion != 1 || len(file.Groups) != 1 {
		t.Fatalf("apiVersion %d with %d groups, want 1 and 1", file.APIVersion, len(file.Groups))
	}
	group := file.Groups[0]
	if group.OrgID != 1 || group.Folder != "natwatch" || group.Interval != "1m" || group.Name == "" {
		t.Errorf("group orgId %d, folder %q, interval %q, name %q", group.OrgID, group.Folder, group.Interval, group.Name)
	}

	var severities []string
	for _, rule := range group.Rules {
		severities = append(severities, rule.Labels["severity"])

		if rule.UID != "natwatch-"+rule.Labels["severity"] || rule.Title == "" {
			t.Errorf("rule %q: uid %q", rule.Title, rule.UID)
		}
		if rule.Condition != "C" || rule.NoDataState != "OK" || rule.ExecErrState != "Error" || rule.For != "0s" {
			t.Errorf("rule %s: condition %s, noDataState %s, execErrState %s, for %s", rule.UID, rule.Condition, rule.NoDataState, rule.ExecErrState, rule.For)
		}
		if rule.Labels["source"] != "natwatch" {
			t.Errorf("rule %s: labels %v lack source=natwatch", rule.UID, rule.Labels)
		}
		for _, key := range []string{"summary", "description"} {
			if !strings.Contains(rule.Annotations[key], "{{ $labels.rule }}") {
				t.Errorf("rule %s: annotation %s = %q does not name the rule", rule.UID, key, rule.Annotations[key])
			}
		}

		var refIDs []string
		for _, q := range rule.Data {
			refIDs = append(refIDs, q.RefID)
			if q.Model["refId"] != q.RefID {
				t.Errorf("rule %s query %s: model refId %v", rule.UID, q.RefID, q.Model["refId"])
			}
		}
		if !slices.Equal(refIDs, []string{"A", "B", "C"}) {
			t.Fatalf("rule %s: queries %v, want A, B, C", rule.UID, refIDs)
		}

		a, b, c := rule.Data[0], rule.Data[1], rule.Data[2]
		if a.DatasourceUID != provisioned || a.RelativeTimeRange.From != alertWindowSeconds || a.RelativeTimeRange.To != 0 {
			t.Errorf("rule %s query A: datasource %q, range %+v", rule.UID, a.DatasourceUID, a.RelativeTimeRange)
		}
		query, _ := a.Model["query"].(string)
		if a.Model["rawQuery"] != true || !strings.Contains(query, `"severity" = '`+rule.Labels["severity"]+`'`) ||
			!strings.Contains(query, `"state" = 'firing'`) || !strings.Contains(query, "$timeFilter") {
			t.Errorf("rule %s query A: %v", rule.UID, a.Model)
		}
		if b.DatasourceUID != "__expr__" || b.Model["type"] != "reduce" || b.Model["expression"] != "A" {
			t.Errorf("rule %s query B: %v", rule.UID, b.Model)
		}
		if c.DatasourceUID != "__expr__" || c.Model["type"] != "threshold" || c.Model["expression"] != "B" {
			t.Errorf("rule %s query C: %v", rule.UID, c.Model)
		}
	}
	if !slices.Equal(severities, []string{"critical", "high", "medium"}) {
		t.Errorf("rule severities %v, want critical, high, medium", severities)
	}
}

func TestDashboardProvider(t *testing.T) {
	var file struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Folder  string `yaml:"folder"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(dashboardsDir, "provisioning", "dashboards", "natwatch.yaml"), &file)

	if file.APIVersion != 1 || len(file.Providers) != 1 {
		t.Fatalf("apiVersion %d with %d providers, want 1 and 1", file.APIVersion, len(file.Providers))
	}
	p := file.Providers[0]
	if p.Type != "file" || p.Folder != "natwatch" || p.Options.Path != "/var/lib/grafana/dashboards/natwatch" {
		t.Errorf("provider = %+v", p)
	}
}

func TestInfluxDB2DatasourceExample(t *testing.T) {
	var file struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			UID      string            `yaml:"uid"`
			Type     string            `yaml:"type"`
			JSONData map[string]any    `yaml:"jsonData"`
			Secure   map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dashboardsDir, "provisioning", "examples", "datasource-influxdb2.yaml"), &file)

	if file.APIVersion != 1 || len(file.Datasources) != 1 {
		t.Fatalf("apiVersion %d with %d data sources, want 1 and 1", file.APIVersion, len(file.Datasources))
	}
	ds := file.Datasources[0]
	if ds.UID != provisionedDatasourceUID(t) || ds.Type != "influxdb" {
		t.Errorf("uid %q type %q, want the provisioned uid and influxdb", ds.UID, ds.Type)
	}
	if ds.JSONData["version"] != "InfluxQL" || ds.JSONData["dbName"] != "natwatch" || ds.JSONData["httpHeaderName1"] != "Authorization" {
		t.Errorf("jsonData = %v, want InfluxQL on database natwatch with an Authorization header", ds.JSONData)
	}
	if ds.Secure["httpHeaderValue1"] != "Token $INFLUXDB_TOKEN" {
		t.Errorf("secureJsonData = %v, want the token header from $INFLUXDB_TOKEN", ds.Secure)
	}
}

func TestNotificationExamples(t *testing.T) {
	var contacts struct {
		APIVersion    int `yaml:"apiVersion"`
		ContactPoints []struct {
			Name      string `yaml:"name"`
			Receivers []struct {
				UID      string         `yaml:"uid"`
				Type     string         `yaml:"type"`
				Settings map[string]any `yaml:"settings"`
			} `yaml:"receivers"`
		} `yaml:"contactPoints"`
	}
	readYAML(t, filepath.Join(dashboardsDir, "provisioning", "examples", "contact-points.yaml"), &contacts)

	names := map[string]string{}
	for _, cp := range contacts.ContactPoints {
		for _, r := range cp.Receivers {
			names[cp.Name] = r.Type
		}
	}
	if names["natwatch-webhook"] != "webhook" || names["natwatch-email"] != "email" {
		t.Errorf("contact points = %v, want natwatch-webhook (webhook) and natwatch-email (email)", names)
	}

	var policies struct {
		APIVersion int `yaml:"apiVersion"`
		Policies   []struct {
			Receiver string `yaml:"receiver"`
			Routes   []struct {
				Receiver       string     `yaml:"receiver"`
				ObjectMatchers [][]string `yaml:"object_matchers"`
			} `yaml:"routes"`
		} `yaml:"policies"`
	}
	readYAML(t, filepath.Join(dashboardsDir, "provisioning", "examples", "notification-policies.yaml"), &policies)

	if policies.APIVersion != 1 || len(policies.Policies) != 1 {
		t.Fatalf("apiVersion %d with %d policy trees, want 1 and 1", policies.APIVersion, len(policies.Policies))
	}
	tree := policies.Policies[0]
	receivers := []string{tree.Receiver}
	for _, route := range tree.Routes {
		receivers = append(receivers, route.Receiver)
		for _, matcher := range route.ObjectMatchers {
			if len(matcher) != 3 {
				t.Errorf("route to %s: matcher %v is not [label, operator, value]", route.Receiver, matcher)
			}
		}
	}
	for _, r := range receivers {
		if _, ok := names[r]; !ok {
			t.Errorf("notification policy routes to %q, which no contact point defines", r)
		}
	}
	if len(tree.Routes) != 2 {
		t.Errorf("%d routes, want 2 (critical|high to the webhook, medium to email)", len(tree.Routes))
	}
}
