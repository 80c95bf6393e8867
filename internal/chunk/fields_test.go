package chunk

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

func TestFieldsValues(t *testing.T) {
	long := strings.Repeat("s", 40)
	longer := strings.Repeat("L", 300)
	huge := strings.Repeat("H", 70000)
	rec := map[string]any{
		"a_nil":     nil,
		"b_true":    true,
		"c_false":   false,
		"d_fixneg":  -5,
		"e_fixpos":  7,
		"f_uint16":  443,
		"g_uint64":  uint64(math.MaxUint64),
		"h_int64":   int64(math.MinInt64),
		"i_int8":    msgp.Raw{0xd0, 0x05}, // a signed encoding of a positive number
		"j_f32":     float32(1.5),
		"k_f64":     2.25,
		"l_fixstr":  "short",
		"m_str8":    long,
		"n_str16":   longer,
		"o_str32":   huge,
		"p_bin":     []byte{0, 1, 2},
		"q_map":     map[string]any{"x": "y"},
		"r_array":   []any{1, "two"},
		"s_ext":     msgp.Raw{0xd4, 0x05, 0x01},
		"t_empty":   "",
		"u_emptymp": map[string]any{},
	}
	m := AppendMap(nil, rec)
	type want struct {
		typ ValueType
		chk func(Value) bool
	}
	wants := map[string]want{
		"a_nil":     {TypeNil, func(v Value) bool { return true }},
		"b_true":    {TypeBool, func(v Value) bool { return v.Bool }},
		"c_false":   {TypeBool, func(v Value) bool { return !v.Bool }},
		"d_fixneg":  {TypeInt, func(v Value) bool { return v.Int == -5 }},
		"e_fixpos":  {TypeUint, func(v Value) bool { return v.Uint == 7 }},
		"f_uint16":  {TypeUint, func(v Value) bool { return v.Uint == 443 }},
		"g_uint64":  {TypeUint, func(v Value) bool { return v.Uint == math.MaxUint64 }},
		"h_int64":   {TypeInt, func(v Value) bool { return v.Int == math.MinInt64 }},
		"i_int8":    {TypeInt, func(v Value) bool { return v.Int == 5 }},
		"j_f32":     {TypeFloat, func(v Value) bool { return v.Float == 1.5 }},
		"k_f64":     {TypeFloat, func(v Value) bool { return v.Float == 2.25 }},
		"l_fixstr":  {TypeString, func(v Value) bool { return string(v.Str) == "short" }},
		"m_str8":    {TypeString, func(v Value) bool { return string(v.Str) == long && v.Raw[0] == 0xd9 }},
		"n_str16":   {TypeString, func(v Value) bool { return string(v.Str) == longer && v.Raw[0] == 0xda }},
		"o_str32":   {TypeString, func(v Value) bool { return string(v.Str) == huge && v.Raw[0] == 0xdb }},
		"p_bin":     {TypeString, func(v Value) bool { return bytes.Equal(v.Str, []byte{0, 1, 2}) && v.Raw[0] == 0xc4 }},
		"q_map":     {TypeMap, func(v Value) bool { x, ok := Lookup(v.Raw, "x"); return ok && string(x.Str) == "y" }},
		"r_array":   {TypeArray, func(v Value) bool { return bytes.Equal(v.Raw, []byte{0x92, 0x01, 0xa3, 't', 'w', 'o'}) }},
		"s_ext":     {TypeExt, func(v Value) bool { return bytes.Equal(v.Raw, []byte{0xd4, 0x05, 0x01}) }},
		"t_empty":   {TypeString, func(v Value) bool { return v.Str != nil && len(v.Str) == 0 }},
		"u_emptymp": {TypeMap, func(v Value) bool { return bytes.Equal(v.Raw, []byte{0x80}) }},
	}
	f := NewFields(m)
	if f.Len() != len(rec) {
		t.Errorf("Len() = %d, want %d", f.Len(), len(rec))
	}
	seen := 0
	for f.Next() {
		k := string(f.Key())
		v := f.Value()
		w, ok := wants[k]
		if !ok {
			t.Errorf("unexpected key %q", k)
			continue
		}
		seen++
		if v.Type != w.typ {
			t.Errorf("%s: type %v, want %v", k, v.Type, w.typ)
			continue
		}
		if !w.chk(v) {
			t.Errorf("%s: wrong value %+v", k, v)
		}
		if !bytes.Equal(v.Raw, AppendValue(nil, rec[k])) {
			t.Errorf("%s: Raw = % x", k, v.Raw)
		}
	}
	if f.Err() != nil || seen != len(rec) {
		t.Fatalf("seen %d of %d, err %v", seen, len(rec), f.Err())
	}
	if f.Next() {
		t.Error("Next after the end returned true")
	}
}

func TestArrayIterator(t *testing.T) {
	a := AppendValue(nil, []any{1, -2, "x", []any{}, map[string]any{"k": 1}})
	it := NewArray(a)
	var types []ValueType
	for it.Next() {
		types = append(types, it.Value().Type)
	}
	want := []ValueType{TypeUint, TypeInt, TypeString, TypeArray, TypeMap}
	if it.Err() != nil || it.Len() != 5 || len(types) != len(want) {
		t.Fatalf("types %v, len %d, err %v", types, it.Len(), it.Err())
	}
	for i := range want {
		if types[i] != want[i] {
			t.Errorf("element %d: %v, want %v", i, types[i], want[i])
		}
	}
	bad := NewArray([]byte{0x80})
	if bad.Next() || bad.Err() == nil {
		t.Error("NewArray on a map must fail")
	}
	short := NewArray([]byte{0x92, 0x01, 0xa3, 'x'})
	if !short.Next() || short.Next() || short.Err() == nil {
		t.Error("truncated array must fail on the second element")
	}
	absurd := NewArray([]byte{0x92, 0x01})
	if absurd.Next() || absurd.Err() == nil {
		t.Error("an array declaring more elements than bytes must fail at its header")
	}
	empty := NewArray(nil)
	if empty.Next() || empty.Err() != nil {
		t.Error("empty input is an empty array")
	}
}

func TestFieldsErrors(t *testing.T) {
	tests := []struct {
		name   string
		m      []byte
		pairs  int // pairs returned before the error
		offset int
		msg    string
	}{
		{"not a map", []byte{0x92, 0x01, 0x02}, 0, 0, "expected map, got fixarray"},
		{"string", []byte{0xa1, 'x'}, 0, 0, "expected map, got fixstr"},
		{"map16 short header", []byte{0xde, 0x00}, 0, 0, "truncated map header"},
		{"absurd map32", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, 0, 0, "map declares 8589934590 elements but only 0 bytes remain"},
		{"value truncated", []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0xa3, 'x'}, 1, 6, "truncated fixstr"},
		{"key truncated", []byte{0x82, 0xa1, 'a', 0x01, 0xa3, 'b', 0x01}, 1, 4, "truncated fixstr"},
		{"nested truncated", []byte{0x81, 0xa1, 'a', 0x81, 0xa1, 'b', 0xcd, 0x01}, 0, 6, "truncated uint"},
		{"invalid byte", []byte{0x81, 0xa1, 'a', 0xc1}, 0, 3, "invalid msgpack byte 0xc1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFields(tt.m)
			n := 0
			for f.Next() {
				n++
			}
			if n != tt.pairs {
				t.Errorf("%d pairs, want %d", n, tt.pairs)
			}
			de := mustDecodeError(t, f.Err())
			if de.Offset != tt.offset || !strings.Contains(de.Msg, tt.msg) {
				t.Errorf("error %v, want offset %d and %q", de, tt.offset, tt.msg)
			}
			if _, ok := Lookup(tt.m, "zzz"); ok {
				t.Error("Lookup found a key in a malformed map")
			}
		})
	}
	f := NewFields(nil)
	if f.Next() || f.Err() != nil {
		t.Error("nil map must be empty without error")
	}
}

func TestNonStringKeys(t *testing.T) {
	// {1: "one", "k": "v", nil: 2}
	m := []byte{0x83, 0x01, 0xa3, 'o', 'n', 'e', 0xa1, 'k', 0xa1, 'v', 0xc0, 0x02}
	f := NewFields(m)
	var keys []string
	for f.Next() {
		if f.Key() == nil {
			keys = append(keys, "<nil>")
		} else {
			keys = append(keys, string(f.Key()))
		}
	}
	if f.Err() != nil || strings.Join(keys, ",") != "<nil>,k,<nil>" {
		t.Fatalf("keys %v err %v", keys, f.Err())
	}
	if v, ok := Lookup(m, "k"); !ok || string(v.Str) != "v" {
		t.Error("Lookup k failed")
	}
	if _, ok := Lookup(m, ""); ok {
		t.Error("the empty path must not match a non-string key")
	}
	// A bin key is a string key.
	m = []byte{0x81, 0xc4, 0x01, 'b', 0x05}
	if v, ok := Lookup(m, "b"); !ok || v.Uint != 5 {
		t.Error("bin key not found")
	}
}

func TestLookup(t *testing.T) {
	m := AppendMap(nil, map[string]any{
		"log":            "line",
		"connection":     map[string]any{"src_ip": "10.0.0.1", "dst": map[string]any{"port": 443}},
		"flat.name":      "flat",
		"flat":           map[string]any{"name": "nested"},
		"a":              map[string]any{"b.c": "dotted-inner"},
		"a.b":            map[string]any{"c": "dotted-outer", "d": "only-outer"},
		"scalar":         5,
		"empty":          "",
		"k8s":            map[string]any{"labels": map[string]any{"app.kubernetes.io/name": "web"}},
		"trailing.":      "t",
		"connection.dst": "shadow",
	})
	tests := []struct {
		path string
		want string // "" means not found
	}{
		{"log", "line"},
		{"connection.src_ip", "10.0.0.1"},
		{"connection.dst.port", "443"},
		{"connection.dst", "shadow"}, // the flat key wins over the nested map
		{"flat.name", "flat"},
		{"a.b.c", "dotted-inner"}, // "a" → "b.c" is tried before "a.b" → "c"
		{"a.b.d", "only-outer"},
		{"k8s.labels.app.kubernetes.io/name", "web"},
		{"trailing.", "t"},
		{"scalar", "5"},
		{"empty", "<empty>"},
		{"scalar.x", ""},
		{"missing", ""},
		{"connection.missing", ""},
		{"connection.", ""},
		{".log", ""},
		{"", ""},
		{"log.x", ""},
	}
	for _, tt := range tests {
		v, ok := Lookup(m, tt.path)
		var got string
		switch {
		case !ok:
		case v.Type == TypeString && len(v.Str) == 0:
			got = "<empty>"
		case v.Type == TypeString:
			got = string(v.Str)
		case v.Type == TypeUint:
			got = strconv.FormatUint(v.Uint, 10)
		default:
			got = "type " + v.Type.String()
		}
		if got != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.path, got, tt.want)
		}
		if !ok && v.Type != TypeInvalid {
			t.Errorf("Lookup(%q) miss returned type %v", tt.path, v.Type)
		}
	}
}

func TestValueNumbers(t *testing.T) {
	tests := []struct {
		v      Value
		i      int64
		iok    bool
		u      uint64
		uok    bool
		prefix string
	}{
		{Value{Type: TypeUint, Uint: 443}, 443, true, 443, true, ""},
		{Value{Type: TypeUint, Uint: math.MaxUint64}, 0, false, math.MaxUint64, true, ""},
		{Value{Type: TypeInt, Int: -3}, -3, true, 0, false, ""},
		{Value{Type: TypeInt, Int: 3}, 3, true, 3, true, ""},
		{Value{Type: TypeFloat, Float: 80}, 80, true, 80, true, ""},
		{Value{Type: TypeFloat, Float: 80.5}, 0, false, 0, false, ""},
		{Value{Type: TypeFloat, Float: -1}, -1, true, 0, false, ""},
		{Value{Type: TypeFloat, Float: math.NaN()}, 0, false, 0, false, ""},
		{Value{Type: TypeFloat, Float: math.Inf(1)}, 0, false, 0, false, ""},
		{Value{Type: TypeFloat, Float: 1e300}, 0, false, 0, false, ""},
		{Value{Type: TypeString, Str: []byte("443")}, 0, false, 0, false, ""},
		{Value{}, 0, false, 0, false, ""},
	}
	for i, tt := range tests {
		gi, iok := tt.v.Int64()
		gu, uok := tt.v.Uint64()
		if gi != tt.i || iok != tt.iok || gu != tt.u || uok != tt.uok {
			t.Errorf("%d: Int64=%d,%v Uint64=%d,%v; want %d,%v %d,%v", i, gi, iok, gu, uok, tt.i, tt.iok, tt.u, tt.uok)
		}
	}
	if TypeString.String() != "string" || ValueType(200).String() != "invalid" || (Value{}).Type.String() != "invalid" {
		t.Error("ValueType.String")
	}
}

// TestNoAllocs checks the happy path: reading a chunk, iterating every field and looking keys
// up allocate nothing.
func TestNoAllocs(t *testing.T) {
	data := benchChunk(200)
	for i := range 50 {
		data = AppendEventV2Meta(data, t0, map[string]any{"i": i}, map[string]any{
			"conn": map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "ports": []any{1, 2}},
			"log":  "x",
		})
	}
	r := NewReader(nil)
	var ev Event
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(data)
		for r.Next(&ev) {
			f := NewFields(ev.Record)
			for f.Next() {
				_ = f.Key()
				if v := f.Value(); v.Type == TypeMap {
					g := NewFields(v.Raw)
					for g.Next() {
					}
				}
			}
			Lookup(ev.Record, "src_ip")
			Lookup(ev.Record, "conn.dst")
			Lookup(ev.Record, "nope.nope")
		}
		if r.Err() != nil {
			panic(r.Err())
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per chunk, want 0", allocs)
	}
}

// TestSlicesAreCapped checks that appending to a key, value or record never writes into the
// chunk.
func TestSlicesAreCapped(t *testing.T) {
	data := AppendEventV2(nil, t0, map[string]any{"a": "x", "b": 1, "c": map[string]any{}, "d": "long string value"})
	orig := append([]byte(nil), data...)
	evs, err := readAll(data)
	if err != nil || len(evs) != 1 {
		t.Fatal(err)
	}
	_ = append(evs[0].Record, 0xff)
	_ = append(evs[0].Metadata, 0xff)
	f := NewFields(evs[0].Record)
	for f.Next() {
		_ = append(f.Key(), 0xff)
		v := f.Value()
		_ = append(v.Str, 0xff)
		_ = append(v.Raw, 0xff)
	}
	if !bytes.Equal(data, orig) {
		t.Fatal("an append wrote into the chunk")
	}
}
