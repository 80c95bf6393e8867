package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// trafficPanel charts one natwatch_traffic rate per direction, with the baseline's expected value
// and upper bound for the same direction as dashed lines.
func trafficPanel(l *locale, title, description, field, unit string) cog.Builder[dashboard.Panel] {
	return baselineStyle(l, trafficRate(l, title, description, field, unit).
		WithTarget(NewInfluxQuery("B", trafficQuery("expected_"+field)).Alias("$tag_direction "+l.text("expected"))).
		WithTarget(NewInfluxQuery("C", trafficQuery("upper_"+field)).Alias("$tag_direction "+l.text("upper"))))
}

// trafficRate charts one natwatch_traffic field per direction, without a baseline.
func trafficRate(l *locale, title, description, field, unit string) *timeseries.PanelBuilder {
	return timeSeries(l, title, description, unit).
		WithTarget(NewInfluxQuery("A", trafficQuery(field)).Alias("$tag_direction"))
}

func trafficQuery(field string) string {
	return `SELECT mean("` + field + `") FROM "natwatch_traffic" WHERE ` + gatewayFilter +
		` AND $timeFilter GROUP BY time($__interval), "direction" fill(none)`
}

func overviewDashboard(l *locale) *dashboard.DashboardBuilder {
	annotation := `SELECT "summary", "rule", "severity", "level" FROM "natwatch_anomaly" WHERE "state" = 'firing' AND ` +
		gatewayFilter + ` AND $timeFilter`

	d := newDashboard(l, uidOverview, "natwatch overview",
		"Traffic through the gateways against their baselines, and the anomalies natwatch found.").
		WithVariable(gatewayVariable(l)).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name(l.text("Anomalies")).
			Datasource(*datasourceVariableRef()).
			Enable(true).
			IconColor("red").
			Target(NewInfluxQuery("Anno", annotation).Table().AnnotationColumns("summary", "rule", "rule,severity,level")))

	addPanels(d,
		statPanel(l, "Firing anomalies", "Anomalies that started firing in the time range.", unitCount).
			WithTarget(NewInfluxQuery("A", `SELECT count("value") AS "firing" FROM "natwatch_anomaly" WHERE "state" = 'firing' AND `+
				gatewayFilter+` AND $timeFilter`)),
		statPanel(l, "Peak connections per second", "The highest connection rate in the time range, per direction.", unitConnsPerSecond).
			WithTarget(NewInfluxQuery("A", `SELECT max("conns_per_s") FROM "natwatch_traffic" WHERE `+gatewayFilter+
				` AND $timeFilter GROUP BY "direction"`).Alias("$tag_direction")),
		statPanel(l, "Peak bytes per second", "The highest byte rate in the time range, per direction.", unitBytesPerSecond).
			WithTarget(NewInfluxQuery("A", `SELECT max("bytes_per_s") FROM "natwatch_traffic" WHERE `+gatewayFilter+
				` AND $timeFilter GROUP BY "direction"`).Alias("$tag_direction")),
		statPanel(l, "Peak drops per second", "The highest rate of dropped or rejected connections in the time range.", unitConnsPerSecond).
			WithTarget(NewInfluxQuery("A", `SELECT max("drops_per_s") AS "drops" FROM "natwatch_traffic" WHERE `+gatewayFilter+
				` AND $timeFilter`)),

		trafficPanel(l, "Connections per second", "New connections per second by direction. Dashed lines: the baseline's expected value and upper bound.",
			"conns_per_s", unitConnsPerSecond),
		trafficPanel(l, "Bytes per second", "Bytes per second by direction, both directions of each connection together. Dashed lines: the baseline.",
			"bytes_per_s", unitBytesPerSecond),
		trafficPanel(l, "Packets per second", "Packets per second by direction. Dashed lines: the baseline.",
			"packets_per_s", unitPacketsPerSecond),
		trafficRate(l, "Outbound to inbound byte ratio", "Bytes sent by the initiating side divided by bytes received, per direction. A rising outbound ratio can mean data leaving.",
			"out_in_ratio", unitCount),
		trafficPanel(l, "Drops per second", "Connections dropped or rejected per second, by direction.",
			"drops_per_s", unitConnsPerSecond),

		bars(timeSeries(l, "Anomalies by tier", "Firing anomalies per interval by rule tier (level): basic, behavior, intelligent.", unitCount)).
			WithTarget(NewInfluxQuery("A", `SELECT count("value") FROM "natwatch_anomaly" WHERE "state" = 'firing' AND `+gatewayFilter+
				` AND $timeFilter GROUP BY time($__interval), "level" fill(none)`).Alias("$tag_level")),
		bars(timeSeries(l, "Anomalies by severity", "Firing anomalies per interval by severity.", unitCount)).
			WithTarget(NewInfluxQuery("A", `SELECT count("value") FROM "natwatch_anomaly" WHERE "state" = 'firing' AND `+gatewayFilter+
				` AND $timeFilter GROUP BY time($__interval), "severity" fill(none)`).Alias("$tag_severity")),

		tablePanel(l, "Top internal hosts by bytes", "The ten internal hosts with the highest byte rate in the time range, from the per-host series.").
			Span(12).
			WithTarget(NewInfluxQuery("A", `SELECT top("bytes_per_s", "host", 10) AS "bytes_per_s" FROM "natwatch_host" WHERE `+
				gatewayFilter+` AND $timeFilter`).Table()).
			OverrideByName("bytes_per_s", []dashboard.DynamicConfigValue{{Id: "unit", Value: unitBytesPerSecond}}).
			OverrideByName("host", hostLink(l, "host")),
		tablePanel(l, "Top anomaly sources", "Source addresses with the most firing anomalies in the time range.").
			Span(12).
			WithTarget(NewInfluxQuery("A", `SELECT "src", "rule", "gateway" FROM "natwatch_anomaly" WHERE "state" = 'firing' AND "src" != '' AND `+
				gatewayFilter+` AND $timeFilter`).Table()).
			Transformations(countBy("src", "rule", 10)),
	)
	return d
}

func anomaliesDashboard(l *locale) *dashboard.DashboardBuilder {
	d := newDashboard(l, uidAnomalies, "natwatch anomalies",
		"Every anomaly event natwatch wrote, with links to the host view.").
		WithVariable(gatewayVariable(l))

	addPanels(d,
		statPanel(l, "Firing anomalies by severity", "Anomalies that started firing in the time range, per severity.", unitCount).
			Span(24).
			WithTarget(NewInfluxQuery("A", `SELECT count("value") FROM "natwatch_anomaly" WHERE "state" = 'firing' AND `+gatewayFilter+
				` AND $timeFilter GROUP BY "severity"`).Alias("$tag_severity")),
		tablePanel(l, "Anomaly events", "One row per state change: firing when a rule starts to match a key, resolved when it stops. Click a key to open its host view.").
			Height(12).
			WithTarget(NewInfluxQuery("A", `SELECT "rule", "level", "severity", "key", "summary", "state", "gateway" FROM "natwatch_anomaly" WHERE `+
				gatewayFilter+` AND $timeFilter ORDER BY time DESC LIMIT 1000`).Table()).
			OverrideByName("key", hostLink(l, "key")),
		bars(timeSeries(l, "Firing anomalies per rule", "Anomalies that started firing per interval, by rule.", unitCount)).
			WithTarget(NewInfluxQuery("A", `SELECT count("value") FROM "natwatch_anomaly" WHERE "state" = 'firing' AND `+gatewayFilter+
				` AND $timeFilter GROUP BY time($__interval), "rule" fill(none)`).Alias("$tag_rule")),
		bars(timeSeries(l, "Resolved anomalies per rule", "Anomalies that stopped matching per interval, by rule.", unitCount)).
			WithTarget(NewInfluxQuery("A", `SELECT count("value") FROM "natwatch_anomaly" WHERE "state" = 'resolved' AND `+gatewayFilter+
				` AND $timeFilter GROUP BY time($__interval), "rule" fill(none)`).Alias("$tag_rule")),
	)
	return d
}

// hostVariable lists the internal hosts that natwatch keeps per-host series for. Links from the
// other dashboards may set any address, also one without such series.
func hostVariable(l *locale) *dashboard.QueryVariableBuilder {
	query := `SHOW TAG VALUES FROM "natwatch_host" WITH KEY = "host" WHERE ` + gatewayFilter
	return dashboard.NewQueryVariableBuilder("host").
		Label(l.text("Host")).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(*datasourceVariableRef()).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		AllowCustomValue(true)
}

// hostPanel charts one natwatch_host rate of $host with the host's own baseline.
func hostPanel(l *locale, title, description, field, unit string) cog.Builder[dashboard.Panel] {
	rate := func(f string) string {
		return `SELECT mean("` + f + `") FROM "natwatch_host" WHERE "host" = '$host' AND ` + gatewayFilter +
			` AND $timeFilter GROUP BY time($__interval) fill(none)`
	}

	p := timeSeries(l, title, description, unit).
		WithTarget(NewInfluxQuery("A", rate(field)).Alias("$host")).
		WithTarget(NewInfluxQuery("B", rate("expected_"+field)).Alias("$host " + l.text("expected"))).
		WithTarget(NewInfluxQuery("C", rate("upper_"+field)).Alias("$host " + l.text("upper")))
	return baselineStyle(l, p)
}

func hostDashboard(l *locale) *dashboard.DashboardBuilder {
	involved := `("key" = '$host' OR "src" = '$host' OR "dst" = '$host')`

	d := newDashboard(l, uidHost, "natwatch host",
		"One internal host against its own baseline, its anomalies and the destinations they involved.").
		WithVariable(gatewayVariable(l)).
		WithVariable(hostVariable(l))

	addPanels(d,
		hostPanel(l, "Connections per second of $host", "The host's connection rate; dashed lines: its baseline's expected value and upper bound.",
			"conns_per_s", unitConnsPerSecond),
		hostPanel(l, "Bytes per second of $host", "The host's byte rate against its baseline.", "bytes_per_s", unitBytesPerSecond),
		timeSeries(l, "Profile score of $host", "How far the host's behaviour is from its usual profile; higher is more unusual.", unitCount).
			WithTarget(NewInfluxQuery("A", `SELECT max("profile_score") AS "profile_score" FROM "natwatch_host" WHERE "host" = '$host' AND `+
				gatewayFilter+` AND $timeFilter GROUP BY time($__interval) fill(none)`)),
		tablePanel(l, "Top destinations of $host", "Destination addresses in the host's anomalies, by number of anomalies.").
			Span(12).
			WithTarget(NewInfluxQuery("A", `SELECT "dst", "rule", "gateway" FROM "natwatch_anomaly" WHERE "src" = '$host' AND "dst" != '' AND `+
				gatewayFilter+` AND $timeFilter`).Table()).
			Transformations(countBy("dst", "rule", 10)),
		tablePanel(l, "Anomalies of $host", "Anomaly events whose key, source or destination is the host.").
			WithTarget(NewInfluxQuery("A", `SELECT "rule", "severity", "state", "key", "src", "dst", "summary" FROM "natwatch_anomaly" WHERE `+
				involved+` AND `+gatewayFilter+` AND $timeFilter ORDER BY time DESC LIMIT 500`).Table()),
	)
	return d
}

// topologyEdgeLimit bounds each edge query of the node graph, so a scan from thousands of sources
// cannot make the graph unreadable or slow.
const topologyEdgeLimit = "200"

func topologyDashboard(l *locale) *dashboard.DashboardBuilder {
	// Anomalies with a destination give an edge from source to destination. Window rules keyed by
	// source have no destination; their edge goes from the source to the gateway that saw it.
	pairs := `SELECT "src" AS "source", "dst" AS "target", "value" AS "mainstat", "rule" AS "detail__rule", "summary" AS "detail__summary" ` +
		`FROM "natwatch_anomaly" WHERE "state" = 'firing' AND "src" != '' AND "dst" != '' AND ` + gatewayFilter +
		` AND $timeFilter LIMIT ` + topologyEdgeLimit
	toGateway := `SELECT "src" AS "source", "gateway" AS "target", "value" AS "mainstat", "rule" AS "detail__rule", "summary" AS "detail__summary" ` +
		`FROM "natwatch_anomaly" WHERE "state" = 'firing' AND "src" != '' AND "dst" = '' AND ` + gatewayFilter +
		` AND $timeFilter LIMIT ` + topologyEdgeLimit

	// The node graph takes a frame with source and target fields as its edges and builds the nodes
	// from them. Grafana merges the two results into one frame and renames the time column to
	// id, which is unique per anomaly event.
	graph := nodegraph.NewPanelBuilder().
		Title(l.text("Who talks to whom")).
		Description(l.text("Sources and destinations of firing anomalies in the time range, at most 200 of each kind. An edge to the gateway stands for a source that scanned or flooded it.")).
		Datasource(*datasourceVariableRef()).
		Unit(unitCount).
		Height(20).
		Span(24).
		WithTarget(NewInfluxQuery("edges", pairs).Table()).
		WithTarget(NewInfluxQuery("edges_gateway", toGateway).Table()).
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			{Id: "organize", Options: map[string]any{"renameByName": map[string]any{"Time": "id"}}},
		})

	d := newDashboard(l, uidTopology, "natwatch topology",
		"A node graph of the addresses involved in anomalies.").
		WithVariable(gatewayVariable(l))
	addPanels(d,
		graph,
		tablePanel(l, "Edges", "The pairs drawn in the graph.").
			WithTarget(NewInfluxQuery("edges", pairs).Table()).
			WithTarget(NewInfluxQuery("edges_gateway", toGateway).Table()).
			Transformations([]dashboard.DataTransformerConfig{{Id: "merge", Options: map[string]any{}}}),
	)
	return d
}

// healthRate is the per-second increase of plugin counters, which restart from zero when Fluent
// Bit restarts; non_negative_derivative drops the negative step of a restart.
func healthRate(fields ...string) string {
	q := "SELECT "
	for i, field := range fields {
		if i > 0 {
			q += ", "
		}
		q += `non_negative_derivative(max("` + field + `"), 1s) AS "` + field + `"`
	}
	return q + ` FROM "natwatch_plugin" WHERE $timeFilter GROUP BY time($__interval), "gateway", "instance" fill(none)`
}

func healthDashboard(l *locale) *dashboard.DashboardBuilder {
	d := newDashboard(l, uidHealth, "natwatch health",
		"natwatch's own counters per instance: records read and skipped, points written and dropped, write errors, spool, flush latency, panics and rule reloads. Counters restart from zero when Fluent Bit restarts.")

	addPanels(d,
		timeSeries(l, "Records per second", "Records read, parsed and skipped per second.", unitConnsPerSecond).
			WithTarget(NewInfluxQuery("A", healthRate("records_in", "parsed", "skipped")).Alias("$tag_instance $col")),
		timeSeries(l, "Skipped records by reason", "Records skipped since start, per reason: an unknown format, a missing field or an invalid value.", unitCount).
			WithTarget(NewInfluxQuery("A", `SELECT max(/^skipped_/) FROM "natwatch_plugin" WHERE $timeFilter GROUP BY time($__interval), "gateway", "instance" fill(none)`).
				Alias("$tag_instance $col")),
		timeSeries(l, "Points written and dropped per second", "InfluxDB points written, and points dropped because the queue was full or the server rejected them.", unitCount).
			WithTarget(NewInfluxQuery("A", healthRate("points_written", "points_dropped")).Alias("$tag_instance $col")),
		timeSeries(l, "Write errors", "Failed InfluxDB writes since start, in total and by kind.", unitCount).
			WithTarget(NewInfluxQuery("A", `SELECT max(/^write_errors/) FROM "natwatch_plugin" WHERE $timeFilter GROUP BY time($__interval), "gateway", "instance" fill(none)`).
				Alias("$tag_instance $col")),
		timeSeries(l, "Spool size", "Bytes waiting in the disk spool while InfluxDB cannot be reached.", unitBytes).
			WithTarget(NewInfluxQuery("A", `SELECT max("spool_bytes") AS "spool_bytes" FROM "natwatch_plugin" WHERE $timeFilter GROUP BY time($__interval), "gateway", "instance" fill(none)`).
				Alias("$tag_instance $col")),
		timeSeries(l, "Points queued and spooled", "Points waiting in memory for InfluxDB, and points kept in the disk spool.", unitCount).
			WithTarget(NewInfluxQuery("A", `SELECT max("points_queued") AS "points_queued", max("points_spooled") AS "points_spooled" FROM "natwatch_plugin" WHERE $timeFilter GROUP BY time($__interval), "gateway", "instance" fill(none)`).
				Alias("$tag_instance $col")),
		timeSeries(l, "Flush latency", "Time spent in Fluent Bit's flush callback: median, 99th percentile and maximum of each self-metrics interval.", unitMicroseconds).
			WithTarget(NewInfluxQuery("A", `SELECT max("flush_p50_us") AS "p50", max("flush_p99_us") AS "p99", max("flush_max_us") AS "max" `+
				`FROM "natwatch_plugin" WHERE $timeFilter GROUP BY time($__interval), "gateway", "instance" fill(none)`).
				Alias("$tag_instance $col")),
		timeSeries(l, "Panics, rule reloads and evictions", "Counts since start: recovered panics, rule reloads and failed reloads, and sources evicted because Max_Sources was reached.", unitCount).
			WithTarget(NewInfluxQuery("A", `SELECT max("flush_panics") AS "flush_panics", max("rule_reloads") AS "rule_reloads", `+
				`max("rule_reload_failures") AS "rule_reload_failures", max("evictions") AS "evictions" FROM "natwatch_plugin" WHERE $timeFilter `+
				`GROUP BY time($__interval), "gateway", "instance" fill(none)`).Alias("$tag_instance $col")),
		statPanel(l, "Anomalies since start", "Anomaly events (firing and resolved) each instance has written since it started.", unitCount).
			Span(12).
			WithTarget(NewInfluxQuery("A", `SELECT last("anomalies") AS "anomalies" FROM "natwatch_plugin" WHERE $timeFilter GROUP BY "gateway", "instance"`).
				Alias("$tag_instance")),
	)
	return d
}

func addPanels(d *dashboard.DashboardBuilder, panels ...cog.Builder[dashboard.Panel]) {
	for _, p := range panels {
		d.WithPanel(p)
	}
}
