package main

import (
	"reflect"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// The foundation SDK v0.0.22 has no package for Grafana's InfluxDB data source, so InfluxQuery
// implements the SDK's Dataquery interface with the JSON model that the InfluxDB data source
// stores for a raw InfluxQL query.

// Result formats of an InfluxQL query in Grafana.
const (
	formatTimeSeries = "time_series"
	formatTable      = "table"
)

// InfluxQuery is one raw InfluxQL query of Grafana's InfluxDB data source.
type InfluxQuery struct {
	RefId        string                `json:"refId"`
	Datasource   *common.DataSourceRef `json:"datasource,omitempty"`
	Query        string                `json:"query"`
	RawQuery     bool                  `json:"rawQuery"`
	ResultFormat string                `json:"resultFormat"`
	Alias        string                `json:"alias,omitempty"`

	// Annotation queries carry the form that Grafana's InfluxDB data source gives a migrated
	// legacy annotation: fromAnnotations, queryType "tags", and the columns that become the
	// annotation's text, title and tags (a comma-separated list).
	FromAnnotations bool   `json:"fromAnnotations,omitempty"`
	QueryType       string `json:"queryType,omitempty"`
	TextColumn      string `json:"textColumn,omitempty"`
	TitleColumn     string `json:"titleColumn,omitempty"`
	TagsColumn      string `json:"tagsColumn,omitempty"`
}

// ImplementsDataqueryVariant marks InfluxQuery as a data query for the SDK.
func (q InfluxQuery) ImplementsDataqueryVariant() {}

// DataqueryType returns the data source plugin id.
func (q InfluxQuery) DataqueryType() string { return "influxdb" }

// Validate accepts every query; the tests run each one against InfluxDB instead.
func (q InfluxQuery) Validate() error { return nil }

// Equals reports whether other is an identical InfluxQuery.
func (q InfluxQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(InfluxQuery)
	return ok && reflect.DeepEqual(q, o)
}

// InfluxQueryBuilder builds an InfluxQuery for the SDK's panel and annotation builders.
type InfluxQueryBuilder struct {
	query InfluxQuery
}

var _ cog.Builder[variants.Dataquery] = (*InfluxQueryBuilder)(nil)

// NewInfluxQuery starts a raw InfluxQL query in time-series format on the dashboard's data
// source variable.
func NewInfluxQuery(refID, influxql string) *InfluxQueryBuilder {
	return &InfluxQueryBuilder{query: InfluxQuery{
		RefId:        refID,
		Datasource:   datasourceVariableRef(),
		Query:        influxql,
		RawQuery:     true,
		ResultFormat: formatTimeSeries,
	}}
}

// Build returns the query.
func (b *InfluxQueryBuilder) Build() (variants.Dataquery, error) {
	return b.query, nil
}

// Table switches the result format to table, one row per point.
func (b *InfluxQueryBuilder) Table() *InfluxQueryBuilder {
	b.query.ResultFormat = formatTable
	return b
}

// Alias sets the series name pattern, such as $tag_direction.
func (b *InfluxQueryBuilder) Alias(alias string) *InfluxQueryBuilder {
	b.query.Alias = alias
	return b
}

// AnnotationColumns names the columns that become an annotation's text, title and tags.
func (b *InfluxQueryBuilder) AnnotationColumns(text, title, tags string) *InfluxQueryBuilder {
	b.query.FromAnnotations = true
	b.query.QueryType = "tags"
	b.query.TextColumn = text
	b.query.TitleColumn = title
	b.query.TagsColumn = tags
	return b
}

// Datasource replaces the data source, such as with a fixed uid for alert rules.
func (b *InfluxQueryBuilder) Datasource(ref *common.DataSourceRef) *InfluxQueryBuilder {
	b.query.Datasource = ref
	return b
}

// datasourceVariableRef refers to the dashboard's data source variable, so that a dashboard
// imported by hand works with whichever InfluxDB data source the user picks.
func datasourceVariableRef() *common.DataSourceRef {
	return &common.DataSourceRef{Type: cog.ToPtr("influxdb"), Uid: cog.ToPtr("${datasource}")}
}
