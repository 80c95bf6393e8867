package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard uids of the English dashboards. The zh-CN variants add uidSuffixZH.
const (
	uidOverview  = "natwatch-overview"
	uidAnomalies = "natwatch-anomalies"
	uidHost      = "natwatch-host"
	uidTopology  = "natwatch-topology"
	uidHealth    = "natwatch-health"
)

// gatewayFilter keeps the gateways picked in the gateway variable, which may be several or All.
const gatewayFilter = `"gateway" =~ /^$gateway$/`

// Grafana unit ids used by the panels.
const (
	unitConnsPerSecond   = "cps"
	unitBytesPerSecond   = "Bps"
	unitPacketsPerSecond = "pps"
	unitCount            = "short"
	unitBytes            = "bytes"
	unitMicroseconds     = "µs"
)

// newDashboard starts a dashboard with the data source variable and the settings every natwatch
// dashboard shares.
func newDashboard(l *locale, uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(l.text(title)).
		Uid(l.uid(uid)).
		Description(l.text(description)).
		Tags([]string{"natwatch"}).
		Timezone("browser").
		Time("now-1h", "now").
		Refresh("30s").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(datasourceVariable(l))
}

// datasourceVariable lets the user pick any InfluxDB data source, so a dashboard imported by hand
// works without editing.
func datasourceVariable(l *locale) *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label(l.text("Data source")).
		Type("influxdb")
}

// gatewayVariable lists the gateways that wrote traffic points.
func gatewayVariable(l *locale) *dashboard.QueryVariableBuilder {
	query := `SHOW TAG VALUES FROM "natwatch_traffic" WITH KEY = "gateway"`
	return dashboard.NewQueryVariableBuilder("gateway").
		Label(l.text("Gateway")).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(*datasourceVariableRef()).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true)
}

// timeSeries starts a time-series panel with a unit and lines that do not connect across gaps.
func timeSeries(l *locale, title, description, unit string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(l.text(title)).
		Description(l.text(description)).
		Datasource(*datasourceVariableRef()).
		Unit(unit).
		Min(0).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"mean", "max"})).
		Height(8).
		Span(12)
}

// bars turns a time-series panel into stacked bars, for counts of events per interval.
func bars(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// baselineStyle draws the series whose names end in "expected" and "upper" as dashed lines without fill,
// so that they read as the band the measured series should stay in.
func baselineStyle(l *locale, p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	dashed := []dashboard.DynamicConfigValue{
		{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
		{Id: "custom.fillOpacity", Value: 0},
	}
	return p.OverrideByRegexp(".* "+l.text("expected")+"$", dashed).
		OverrideByRegexp(".* "+l.text("upper")+"$", dashed)
}

// statPanel starts a stat panel that shows one number per series.
func statPanel(l *locale, title, description, unit string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(l.text(title)).
		Description(l.text(description)).
		Datasource(*datasourceVariableRef()).
		Unit(unit).
		GraphMode(common.BigValueGraphModeNone).
		ColorMode(common.BigValueColorModeValue).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Height(4).
		Span(6)
}

// tablePanel starts a table panel.
func tablePanel(l *locale, title, description string) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(l.text(title)).
		Description(l.text(description)).
		Datasource(*datasourceVariableRef()).
		Unit(unitCount).
		Filterable(true).
		Height(10).
		Span(24)
}

// hostLink opens the host dashboard for the address in the row's field, keeping the data source,
// the gateway and the time range.
func hostLink(l *locale, field string) []dashboard.DynamicConfigValue {
	url := "/d/" + l.uid(uidHost) + "?var-datasource=${datasource}&var-gateway=${__data.fields.gateway}" +
		"&var-host=${__data.fields." + field + "}&${__url_time_range}"
	return []dashboard.DynamicConfigValue{{
		Id:    "links",
		Value: []map[string]any{{"title": l.text("Open the host view"), "url": url}},
	}}
}

// countBy groups a table by one column and counts the rows of each group, largest first, and
// keeps the first limit groups. InfluxQL cannot group by a field, so Grafana does it.
func countBy(groupField, countField string, limit int) []dashboard.DataTransformerConfig {
	return []dashboard.DataTransformerConfig{
		{Id: "groupBy", Options: map[string]any{"fields": map[string]any{
			groupField: map[string]any{"operation": "groupby", "aggregations": []string{}},
			countField: map[string]any{"operation": "aggregate", "aggregations": []string{"count"}},
		}}},
		{Id: "sortBy", Options: map[string]any{"sort": []map[string]any{{"field": countField + " (count)", "desc": true}}}},
		{Id: "limit", Options: map[string]any{"limitField": limit}},
	}
}
