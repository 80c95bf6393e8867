package sink

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// lineBuilder builds one point in InfluxDB line protocol:
//
//	measurement,tag=value,tag=value field=1.5,field="text",field=3i 1714557600000000000
//
// Callers add tags in key order, which is the order InfluxDB stores them in.
type lineBuilder struct {
	b      []byte
	fields int
}

var errNoFields = errors.New("point has no field with a finite value")

// tagEscaper escapes the characters that end a tag key, tag value or field key. Line breaks
// would end the whole line, so they become spaces.
var tagEscaper = strings.NewReplacer(
	",", `\,`,
	"=", `\=`,
	" ", `\ `,
	"\n", `\ `,
	"\r", `\ `,
)

var stringFieldEscaper = strings.NewReplacer(
	`\`, `\\`,
	`"`, `\"`,
)

func newLineBuilder(measurement string) *lineBuilder {
	lb := &lineBuilder{b: make([]byte, 0, 256)}
	lb.b = append(lb.b, measurement...)
	return lb
}

// tag adds key=value. An empty value is left out, because line protocol cannot carry it. Trailing
// backslashes are removed from value, because they would escape the separator after the value.
func (lb *lineBuilder) tag(key, value string) {
	value = strings.TrimRight(value, `\`)
	if value == "" {
		return
	}

	lb.b = append(lb.b, ',')
	lb.b = append(lb.b, tagEscaper.Replace(key)...)
	lb.b = append(lb.b, '=')
	lb.b = append(lb.b, tagEscaper.Replace(value)...)
}

func (lb *lineBuilder) fieldKey(key string) {
	if lb.fields == 0 {
		lb.b = append(lb.b, ' ')
	} else {
		lb.b = append(lb.b, ',')
	}
	lb.fields++

	lb.b = append(lb.b, tagEscaper.Replace(key)...)
	lb.b = append(lb.b, '=')
}

// floatField adds a float field. NaN and ±Inf are left out, because InfluxDB rejects them.
func (lb *lineBuilder) floatField(key string, value float64) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return
	}

	lb.fieldKey(key)
	lb.b = strconv.AppendFloat(lb.b, value, 'g', -1, 64)
}

// intField adds an integer field. Values above math.MaxInt64 are written as math.MaxInt64,
// because InfluxDB 1.x stores signed integers only.
func (lb *lineBuilder) intField(key string, value uint64) {
	lb.fieldKey(key)
	lb.b = strconv.AppendInt(lb.b, int64(min(value, math.MaxInt64)), 10)
	lb.b = append(lb.b, 'i')
}

func (lb *lineBuilder) stringField(key, value string) {
	lb.fieldKey(key)
	lb.b = append(lb.b, '"')
	lb.b = append(lb.b, stringFieldEscaper.Replace(value)...)
	lb.b = append(lb.b, '"')
}

// line returns the finished point with its time in nanoseconds. A zero t is left out, so the
// server uses its own clock.
func (lb *lineBuilder) line(t time.Time) (string, error) {
	if lb.fields == 0 {
		return "", errNoFields
	}

	if !t.IsZero() {
		lb.b = append(lb.b, ' ')
		lb.b = strconv.AppendInt(lb.b, t.UnixNano(), 10)
	}
	return string(lb.b), nil
}
