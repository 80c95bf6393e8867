package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/natwatch/natwatch/internal/influxtest"
)

func TestMain(m *testing.M) {
	os.Exit(influxtest.Main(m))
}

// dashboardsDir is the committed dashboards directory, relative to this package.
var dashboardsDir = filepath.Join("..")

func TestGeneratedFilesMatchCommitted(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2*len(dashboardFiles)+1 {
		t.Errorf("generated %d files, want %d", len(files), 2*len(dashboardFiles)+1)
	}

	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dashboardsDir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v (run make dashboards)", name, err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from the generator's output: run make dashboards and commit the result", name)
		}
	}
}

func TestTranslationTableHasNoUnusedText(t *testing.T) {
	used := map[string]bool{}
	recorder := &locale{name: "record", dir: "zh-CN", table: map[string]string{}, missing: used}
	for _, f := range dashboardFiles {
		if _, err := renderDashboard(f.build(recorder)); err != nil {
			t.Fatal(err)
		}
	}

	for en := range zhCN {
		if !used[en] {
			t.Errorf("zhCN has %q, which no dashboard uses", en)
		}
	}
	for en := range used {
		if zhCN[en] == "" {
			t.Errorf("zhCN has no translation for %q", en)
		}
	}
}

// grafanaDashboard is the part of a dashboard's JSON model that the tests read.
type grafanaDashboard struct {
	UID         string         `json:"uid"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Panels      []grafanaPanel `json:"panels"`
	Templating  struct {
		List []struct {
			Type       string         `json:"type"`
			Name       string         `json:"name"`
			Label      string         `json:"label"`
			Query      any            `json:"query"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string         `json:"name"`
			Datasource *datasourceRef `json:"datasource"`
			Target     grafanaTarget  `json:"target"`
		} `json:"list"`
	} `json:"annotations"`
}

type grafanaPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *datasourceRef  `json:"datasource"`
	Targets     []grafanaTarget `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

type grafanaTarget struct {
	RefID        string         `json:"refId"`
	Datasource   *datasourceRef `json:"datasource"`
	Query        string         `json:"query"`
	RawQuery     bool           `json:"rawQuery"`
	ResultFormat string         `json:"resultFormat"`
	Alias        string         `json:"alias"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadDashboard reads a committed dashboard, such as "zh-CN/natwatch-host.json".
func loadDashboard(t *testing.T, name string) (grafanaDashboard, []byte) {
	t.Helper()

	data, err := os.ReadFile(filepath.Join(dashboardsDir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d, data
}

// provisionedDatasourceUID reads the uid of the InfluxDB data source from the provisioning file.
func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()

	var file struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				Version string `yaml:"version"`
				DBName  string `yaml:"dbName"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dashboardsDir, "provisioning", "datasources", "natwatch-influxdb.yaml"), &file)
	if file.APIVersion != 1 || len(file.Datasources) != 1 {
		t.Fatalf("datasource provisioning: apiVersion %d with %d data sources, want 1 and 1", file.APIVersion, len(file.Datasources))
	}
	ds := file.Datasources[0]
	if ds.Type != "influxdb" || ds.JSONData.Version != "InfluxQL" || ds.JSONData.DBName != "natwatch" {
		t.Errorf("data source = %+v, want type influxdb, InfluxQL, database natwatch", ds)
	}
	return ds.UID
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// wantPanels lists each English dashboard's panels as "type: title", in layout order.
var wantPanels = map[string][]string{
	"natwatch-overview.json": {
		"stat: Firing anomalies",
		"stat: Peak connections per second",
		"stat: Peak bytes per second",
		"stat: Peak drops per second",
		"timeseries: Connections per second",
		"timeseries: Bytes per second",
		"timeseries: Packets per second",
		"timeseries: Outbound to inbound byte ratio",
		"timeseries: Drops per second",
		"timeseries: Anomalies by tier",
		"timeseries: Anomalies by severity",
		"table: Top internal hosts by bytes",
		"table: Top anomaly sources",
	},
	"natwatch-anomalies.json": {
		"stat: Firing anomalies by severity",
		"table: Anomaly events",
		"timeseries: Firing anomalies per rule",
		"timeseries: Resolved anomalies per rule",
	},
	"natwatch-host.json": {
		"timeseries: Connections per second of $host",
		"timeseries: Bytes per second of $host",
		"timeseries: Profile score of $host",
		"table: Top destinations of $host",
		"table: Anomalies of $host",
	},
	"natwatch-topology.json": {
		"nodeGraph: Who talks to whom",
		"table: Edges",
	},
	"natwatch-health.json": {
		"timeseries: Records per second",
		"timeseries: Skipped records by reason",
		"timeseries: Points written and dropped per second",
		"timeseries: Write errors",
		"timeseries: Spool size",
		"timeseries: Points queued and spooled",
		"timeseries: Flush latency",
		"timeseries: Panics, rule reloads and evictions",
		"stat: Anomalies since start",
	},
}

// wantVariables lists each dashboard's template variables in order.
var wantVariables = map[string][]string{
	"natwatch-overview.json":  {"datasource", "gateway"},
	"natwatch-anomalies.json": {"datasource", "gateway"},
	"natwatch-host.json":      {"datasource", "gateway", "host"},
	"natwatch-topology.json":  {"datasource", "gateway"},
	"natwatch-health.json":    {"datasource"},
}

func TestDashboardPanels(t *testing.T) {
	for _, f := range dashboardFiles {
		t.Run(f.name, func(t *testing.T) {
			d, _ := loadDashboard(t, f.name)

			var got []string
			for _, p := range d.Panels {
				got = append(got, p.Type+": "+p.Title)
			}
			if !slices.Equal(got, wantPanels[f.name]) {
				t.Errorf("panels:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantPanels[f.name], "\n"))
			}

			var variables []string
			for _, v := range d.Templating.List {
				variables = append(variables, v.Name)
			}
			if !slices.Equal(variables, wantVariables[f.name]) {
				t.Errorf("variables = %v, want %v", variables, wantVariables[f.name])
			}
		})
	}
}

func TestDashboardStructure(t *testing.T) {
	provisioned := provisionedDatasourceUID(t)

	for _, l := range []*locale{english(), chinese()} {
		for _, f := range dashboardFiles {
			name := filepath.ToSlash(filepath.Join(l.dir, f.name))
			t.Run(name, func(t *testing.T) {
				d, _ := loadDashboard(t, name)
				checkDatasources(t, d, provisioned)
				checkPanels(t, d)
				checkVariablesDefined(t, d)
			})
		}
	}
}

// checkDatasources requires every data source reference to be the dashboard's variable or the
// provisioned data source, of type influxdb.
func checkDatasources(t *testing.T, d grafanaDashboard, provisioned string) {
	t.Helper()

	check := func(where string, ref *datasourceRef) {
		if ref == nil {
			t.Errorf("%s: no data source", where)
			return
		}
		if ref.Type != "influxdb" || (ref.UID != "${datasource}" && ref.UID != provisioned) {
			t.Errorf("%s: data source %+v, want influxdb with uid ${datasource} or %s", where, *ref, provisioned)
		}
	}

	for _, p := range d.Panels {
		check("panel "+p.Title, p.Datasource)
		for _, target := range p.Targets {
			check("panel "+p.Title+" query "+target.RefID, target.Datasource)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			check("variable "+v.Name, v.Datasource)
		}
		if v.Type == "datasource" && v.Query != "influxdb" {
			t.Errorf("variable %s: query %v, want influxdb", v.Name, v.Query)
		}
	}
	for _, a := range d.Annotations.List {
		check("annotation "+a.Name, a.Datasource)
		check("annotation "+a.Name+" target", a.Target.Datasource)
	}
}

// checkPanels requires unique ids, at least one raw InfluxQL query per panel and a unit on every
// time-series and stat panel.
func checkPanels(t *testing.T, d grafanaDashboard) {
	t.Helper()

	ids := map[int]bool{}
	for _, p := range d.Panels {
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d is missing or not unique", p.Title, p.ID)
		}
		ids[p.ID] = true

		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if strings.TrimSpace(target.Query) == "" || !target.RawQuery {
				t.Errorf("panel %q query %s: empty or not a raw InfluxQL query", p.Title, target.RefID)
			}
			if target.ResultFormat != formatTimeSeries && target.ResultFormat != formatTable {
				t.Errorf("panel %q query %s: result format %q", p.Title, target.RefID, target.ResultFormat)
			}
		}
		if (p.Type == "timeseries" || p.Type == "stat") && p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q (%s) has no unit", p.Title, p.Type)
		}
	}
}

// variablePattern finds $name and ${name} references, also ${name:format}.
var variablePattern = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_.]*)`)

// builtinVariable reports whether name is provided by Grafana or by the InfluxDB data source
// rather than by the dashboard: $timeFilter, $__interval, ${__data.fields.x}, $tag_x and $col.
func builtinVariable(name string) bool {
	return name == "timeFilter" || name == "col" || strings.HasPrefix(name, "__") || strings.HasPrefix(name, "tag_")
}

// checkVariablesDefined requires every variable that a query, title, description, alias or link
// uses to be one of the dashboard's template variables.
func checkVariablesDefined(t *testing.T, d grafanaDashboard) {
	t.Helper()

	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
	}

	check := func(where, text string) {
		for _, match := range variablePattern.FindAllStringSubmatch(text, -1) {
			name := match[1]
			if !builtinVariable(name) && !defined[name] {
				t.Errorf("%s uses $%s, which is not a template variable: %q", where, name, text)
			}
		}
	}

	check("title", d.Title)
	for _, v := range d.Templating.List {
		if query, ok := v.Query.(string); ok {
			check("variable "+v.Name, query)
		}
	}
	for _, a := range d.Annotations.List {
		check("annotation "+a.Name, a.Target.Query)
	}
	for _, p := range d.Panels {
		check("panel title", p.Title)
		check("panel "+p.Title+" description", p.Description)
		for _, target := range p.Targets {
			check("panel "+p.Title+" query", target.Query)
			check("panel "+p.Title+" alias", target.Alias)
		}
		for _, o := range p.FieldConfig.Overrides {
			for _, property := range o.Properties {
				if property.ID != "links" {
					continue
				}
				links, err := json.Marshal(property.Value)
				if err != nil {
					t.Fatal(err)
				}
				check("panel "+p.Title+" link", string(links))
			}
		}
	}
}

func TestHostLinksOpenHostDashboard(t *testing.T) {
	for _, l := range []*locale{english(), chinese()} {
		for _, name := range []string{"natwatch-anomalies.json", "natwatch-overview.json"} {
			d, raw := loadDashboard(t, filepath.ToSlash(filepath.Join(l.dir, name)))
			want := "/d/" + l.uid(uidHost) + "?var-datasource=${datasource}&var-gateway=${__data.fields.gateway}&var-host=${__data.fields."
			if !strings.Contains(string(raw), want) {
				t.Errorf("%s (%s) has no data link %q…", name, l.name, want)
			}
			if d.UID != l.uid(strings.TrimSuffix(name, ".json")) {
				t.Errorf("%s (%s): uid %q", name, l.name, d.UID)
			}
		}
	}

	anomalies, raw := loadDashboard(t, "natwatch-anomalies.json")
	if !strings.Contains(string(raw), "var-host=${__data.fields.key}") {
		t.Errorf("%s: the events table does not link the key field to the host view", anomalies.Title)
	}
}

func TestChineseDashboardsMatchEnglish(t *testing.T) {
	for _, f := range dashboardFiles {
		t.Run(f.name, func(t *testing.T) {
			en, _ := loadDashboard(t, f.name)
			zh, _ := loadDashboard(t, "zh-CN/"+f.name)

			if zh.UID != en.UID+uidSuffixZH {
				t.Errorf("zh-CN uid %q, want %q", zh.UID, en.UID+uidSuffixZH)
			}
			if zh.Title == en.Title {
				t.Errorf("zh-CN title %q is not translated", zh.Title)
			}
			if len(zh.Panels) != len(en.Panels) {
				t.Fatalf("zh-CN has %d panels, English %d", len(zh.Panels), len(en.Panels))
			}
			for i := range en.Panels {
				enPanel, zhPanel := en.Panels[i], zh.Panels[i]
				if zhPanel.Type != enPanel.Type {
					t.Errorf("panel %d: type %s, English %s", i+1, zhPanel.Type, enPanel.Type)
				}
				if zhPanel.Title == enPanel.Title {
					t.Errorf("panel %d: title %q is not translated", i+1, zhPanel.Title)
				}
				if !slices.Equal(queries(zhPanel.Targets), queries(enPanel.Targets)) {
					t.Errorf("panel %d (%s): queries differ from English", i+1, enPanel.Title)
				}
			}
			if len(zh.Templating.List) != len(en.Templating.List) {
				t.Errorf("zh-CN has %d variables, English %d", len(zh.Templating.List), len(en.Templating.List))
			}
			for i := range en.Annotations.List {
				if zh.Annotations.List[i].Target.Query != en.Annotations.List[i].Target.Query {
					t.Errorf("annotation %d: query differs from English", i)
				}
			}
		})
	}
}

func queries(targets []grafanaTarget) []string {
	var out []string
	for _, target := range targets {
		out = append(out, target.RefID+": "+target.Query)
	}
	return out
}

func TestUnescapeHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"a\u0026b"`, `"a&b"`},
		{`"\u003cx\u003e"`, `"<x>"`},
		{`"a\\u0026b"`, `"a\\u0026b"`},
		{`"q\"\u0026"`, `"q\"&"`},
		{`"\u00e9"`, `"\u00e9"`},
		{`"end\`, `"end\`},
	}
	for _, tt := range tests {
		if got := string(unescapeHTML([]byte(tt.in))); got != tt.want {
			t.Errorf("unescapeHTML(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
