package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/config"
	"github.com/natwatch/natwatch/internal/influxtest"
	"github.com/natwatch/natwatch/internal/natlog"
	"github.com/natwatch/natwatch/internal/pipeline"
)

// announcedFields lists measurements and fields that the dashboards chart but that the replayed
// sample does not produce. A query that names one of them may return no rows; every other query
// must return rows with the expected columns. Remove an entry once the sample produces it.
var announcedFields = []string{
	"expected_", // baseline expected values, written once a baseline has a day of history
	"upper_",    // baseline upper bounds, written once a baseline has a day of history
}

// The sample's anomalies and traffic lie between 01:00 and 01:15 UTC on 2026-03-14.
var (
	sampleFrom = time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	sampleTo   = time.Date(2026, 3, 14, 1, 15, 0, 0, time.UTC)
)

// replayReference is the reference time for the sample's year-less syslog timestamps, as in
// `make demo`.
var replayReference = time.Date(2026, 12, 1, 0, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))

// replay runs files through a natwatch pipeline that writes to InfluxDB, merged by record time as
// `natwatch replay` does, with the settings of `make demo`.
func replay(t *testing.T, server *influxtest.Server, db, instance string, files ...string) {
	t.Helper()

	settings := map[string]string{
		"InfluxDB_URL":      server.URL,
		"InfluxDB_Bucket":   db,
		"Gateway":           "edge-gw01",
		"Internal_Networks": "10.20.0.0/16,203.0.113.10/32",
		"Time_Zone":         "Asia/Shanghai",
		"Anomaly_Stdout":    "off",
	}
	cfg, err := config.FromProperties(func(key string) string { return settings[key] })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := pipeline.New(cfg, pipeline.Options{Logger: logger, Instance: instance})
	if err != nil {
		t.Fatal(err)
	}

	var events []natlog.ConnEvent
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		scanner := bufio.NewScanner(f)
		for scanner.Scan() {
			// Each event refers into its line, so every line gets its own copy.
			line := slices.Clone(scanner.Bytes())
			var ev natlog.ConnEvent
			if err := p.NormalizeLine(line, replayReference, &ev); err == nil {
				events = append(events, ev)
			}
		}
		f.Close()
		if err := scanner.Err(); err != nil {
			t.Fatal(err)
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	p.Observe(events...)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// queryVariables are the values that the test substitutes for Grafana's variables.
type queryVariables struct {
	from, to time.Time
	interval string
}

// interpolate replaces the variables in an InfluxQL query the way Grafana's InfluxDB data source
// does: $timeFilter becomes a millisecond time range, $gateway inside a regex is escaped.
func (v queryVariables) interpolate(query string) string {
	timeFilter := fmt.Sprintf("time >= %dms and time <= %dms", v.from.UnixMilli(), v.to.UnixMilli())
	return strings.NewReplacer(
		"$timeFilter", timeFilter,
		"$__interval", v.interval,
		"$gateway", `edge\-gw01`,
		"$host", "10.20.7.15",
	).Replace(query)
}

// panelQuery is one query found in a dashboard or alert rule file.
type panelQuery struct {
	where string // dashboard and panel
	query string
}

// dashboardQueries returns every variable, annotation and panel query of a dashboard file.
func dashboardQueries(t *testing.T, name string) []panelQuery {
	t.Helper()

	d, _ := loadDashboard(t, name)
	var out []panelQuery
	for _, v := range d.Templating.List {
		if query, ok := v.Query.(string); ok && v.Type == "query" {
			out = append(out, panelQuery{name + " variable " + v.Name, query})
		}
	}
	for _, a := range d.Annotations.List {
		out = append(out, panelQuery{name + " annotation " + a.Name, a.Target.Query})
	}
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			out = append(out, panelQuery{name + " panel " + p.Title + " query " + target.RefID, target.Query})
		}
	}
	return out
}

func mayBeEmpty(query string) bool {
	for _, name := range announcedFields {
		if strings.Contains(query, name) {
			return true
		}
	}
	return false
}

var (
	selectList = regexp.MustCompile(`(?s)^SELECT (.*?) FROM `)
	aliasItem  = regexp.MustCompile(`AS "([^"]+)"$`)
	fieldItem  = regexp.MustCompile(`^"([^"]+)"$`)
	callItem   = regexp.MustCompile(`^([a-z_]+)\(`)
	regexItem  = regexp.MustCompile(`^([a-z_]+)\(/\^([a-z_]+)/\)$`)
)

// expectedColumns returns the columns a query's result must have besides time, derived from its
// SELECT list: the alias, the field name or the function name. A field regex such as
// max(/^skipped_/) gives a prefix such as "max_skipped_", which at least one column must have.
func expectedColumns(query string) (columns, prefixes []string) {
	if strings.HasPrefix(query, "SHOW TAG VALUES") {
		return []string{"key", "value"}, nil
	}

	match := selectList.FindStringSubmatch(query)
	if match == nil {
		return nil, nil
	}
	for item := range strings.SplitSeq(splitTopLevel(match[1]), "\x00") {
		item = strings.TrimSpace(item)
		switch {
		case aliasItem.MatchString(item):
			columns = append(columns, aliasItem.FindStringSubmatch(item)[1])
		case fieldItem.MatchString(item):
			columns = append(columns, fieldItem.FindStringSubmatch(item)[1])
		case regexItem.MatchString(item):
			m := regexItem.FindStringSubmatch(item)
			prefixes = append(prefixes, m[1]+"_"+m[2])
		case callItem.MatchString(item):
			columns = append(columns, callItem.FindStringSubmatch(item)[1])
		}
	}
	return columns, prefixes
}

// splitTopLevel replaces the commas that separate SELECT items, outside parentheses, with NUL.
func splitTopLevel(list string) string {
	var b strings.Builder
	depth := 0
	for _, r := range list {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			b.WriteByte(0)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkResult requires rows, and for each expected column a non-null value in some row. A table
// query of top() adds the tag column, so extra columns are allowed only where the query has
// top() or a field regex.
func checkResult(t *testing.T, q panelQuery, query string, series []influxtest.Series) {
	t.Helper()

	rows := 0
	for _, s := range series {
		rows += len(s.Values)
	}
	if rows == 0 {
		if !mayBeEmpty(query) {
			t.Errorf("%s: no rows\n%s", q.where, query)
		}
		return
	}

	columns, prefixes := expectedColumns(query)
	if len(columns) == 0 && len(prefixes) == 0 {
		t.Fatalf("%s: cannot tell the expected columns of %s", q.where, query)
	}

	filled := map[string]bool{}
	present := map[string]bool{}
	for _, s := range series {
		for _, column := range s.Columns {
			present[column] = true
		}
		for _, row := range s.Rows() {
			for column := range row {
				filled[column] = true
			}
		}
	}

	for _, column := range columns {
		if !filled[column] && !mayBeEmpty(column) {
			t.Errorf("%s: column %q has no value; columns %v\n%s", q.where, column, keys(present), query)
		}
	}
	for _, prefix := range prefixes {
		found := false
		for column := range filled {
			found = found || strings.HasPrefix(column, prefix)
		}
		if !found && !mayBeEmpty(prefix) {
			t.Errorf("%s: no column starting with %q has a value; columns %v\n%s", q.where, prefix, keys(present), query)
		}
	}

	if len(prefixes) == 0 && !strings.Contains(query, "top(") {
		want := map[string]bool{"time": !strings.HasPrefix(query, "SHOW")}
		for _, column := range columns {
			want[column] = true
		}
		for column := range present {
			if !want[column] {
				t.Errorf("%s: unexpected column %q\n%s", q.where, column, query)
			}
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sampleFiles() []string {
	dir := filepath.Join("..", "..", "testdata", "sample")
	return []string{filepath.Join(dir, "iptables.log"), filepath.Join(dir, "conntrack.log")}
}

func TestDashboardQueriesOnReplayedSample(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)
	replay(t, server, db, "sample", sampleFiles()...)

	vars := queryVariables{from: sampleFrom, to: sampleTo, interval: "10s"}
	for _, l := range []*locale{english(), chinese()} {
		for _, f := range dashboardFiles {
			if f.name == "natwatch-health.json" {
				continue
			}
			name := filepath.ToSlash(filepath.Join(l.dir, f.name))
			for _, q := range dashboardQueries(t, name) {
				query := vars.interpolate(q.query)
				checkResult(t, q, query, server.Query(t, db, query))
			}
		}
	}
}

func TestAlertQueriesOnReplayedSample(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)
	replay(t, server, db, "sample", sampleFiles()...)

	// Each rule's window ends five minutes after its severity's first anomaly in the sample.
	windowEnds := map[string]time.Time{
		"critical": time.Date(2026, 3, 14, 1, 6, 30, 0, time.UTC),
		"high":     time.Date(2026, 3, 14, 1, 5, 0, 0, time.UTC),
		"medium":   time.Date(2026, 3, 14, 1, 10, 0, 0, time.UTC),
	}
	wantRules := map[string]string{"critical": "syn_flood_source", "high": "port_scan_vertical", "medium": "smtp_from_office"}

	file := loadAlertRules(t)
	for _, rule := range file.Groups[0].Rules {
		severity := rule.Labels["severity"]
		a := rule.Data[0]
		end := windowEnds[severity]
		vars := queryVariables{from: end.Add(-time.Duration(a.RelativeTimeRange.From) * time.Second), to: end, interval: "10s"}
		query := vars.interpolate(a.Model["query"].(string))

		series := server.Query(t, db, query)
		checkResult(t, panelQuery{where: "alert rule " + rule.UID, query: query}, query, series)
		if len(series) != 1 {
			t.Errorf("alert rule %s: %d series, want 1: %v", rule.UID, len(series), series)
			continue
		}
		tags := series[0].Tags
		if tags["rule"] != wantRules[severity] || tags["gateway"] != "edge-gw01" || tags["level"] != "basic" {
			t.Errorf("alert rule %s: series tags %v, want rule %s, gateway edge-gw01, level basic", rule.UID, tags, wantRules[severity])
		}
		if count := series[0].Values[0][1]; count.(float64) < 1 {
			t.Errorf("alert rule %s: count %v, want at least 1", rule.UID, count)
		}

		// An hour later nothing fires, so the query returns no rows and the alert resolves.
		later := queryVariables{from: end.Add(time.Hour - 5*time.Minute), to: end.Add(time.Hour), interval: "10s"}
		if quiet := server.Query(t, db, later.interpolate(a.Model["query"].(string))); len(quiet) != 0 {
			t.Errorf("alert rule %s: an hour later the query still returns %v", rule.UID, quiet)
		}
	}
}

func TestHealthQueriesOnReplays(t *testing.T) {
	server := influxtest.Start(t)
	db := influxtest.DatabaseName(t)
	server.CreateDatabase(t, db)

	// Lines of no known format make the skipped_* fields appear.
	junk := filepath.Join(t.TempDir(), "junk.log")
	if err := os.WriteFile(junk, []byte("this line is of no known format\nneither is this one\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Two runs of one instance write two natwatch_plugin points, as a running plugin does every
	// 10 seconds; the rate panels need two points in different intervals. The second run reads
	// more records, so the rate is positive.
	start := time.Now()
	replay(t, server, db, "health", junk)
	time.Sleep(1100 * time.Millisecond)
	replay(t, server, db, "health", append(sampleFiles(), junk)...)

	vars := queryVariables{from: start.Add(-time.Minute), to: time.Now().Add(time.Minute), interval: "1s"}
	for _, l := range []*locale{english(), chinese()} {
		name := filepath.ToSlash(filepath.Join(l.dir, "natwatch-health.json"))
		for _, q := range dashboardQueries(t, name) {
			query := vars.interpolate(q.query)
			checkResult(t, q, query, server.Query(t, db, query))
		}
	}

	rate := server.Query(t, db, vars.interpolate(healthRate("records_in")))
	if len(rate) != 1 || len(rate[0].Values) != 1 {
		t.Fatalf("records_in rate: %v, want one value", rate)
	}
	if got := rate[0].Values[0][1].(float64); got <= 0 {
		t.Errorf("records_in rate = %v, want > 0 after the second run read more records", got)
	}
}

func TestExpectedColumns(t *testing.T) {
	tests := []struct {
		query    string
		columns  []string
		prefixes []string
	}{
		{`SELECT count("value") AS "firing" FROM "x"`, []string{"firing"}, nil},
		{`SELECT mean("conns_per_s") FROM "x"`, []string{"mean"}, nil},
		{`SELECT "src", "rule" FROM "x"`, []string{"src", "rule"}, nil},
		{`SELECT non_negative_derivative(max("a"), 1s) AS "a", max("b") AS "b" FROM "x"`, []string{"a", "b"}, nil},
		{`SELECT max(/^skipped_/) FROM "x"`, nil, []string{"max_skipped_"}},
		{`SHOW TAG VALUES FROM "x" WITH KEY = "gateway"`, []string{"key", "value"}, nil},
	}
	for _, tt := range tests {
		columns, prefixes := expectedColumns(tt.query)
		if !slices.Equal(columns, tt.columns) || !slices.Equal(prefixes, tt.prefixes) {
			t.Errorf("expectedColumns(%s) = %v, %v; want %v, %v", tt.query, columns, prefixes, tt.columns, tt.prefixes)
		}
	}
}
