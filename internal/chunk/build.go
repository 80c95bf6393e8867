package chunk

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// This file builds chunks the way Fluent Bit writes them, for tests and benchmarks in this and
// other packages. It is not used on the decoding path.
//
//	var buf []byte
//	buf = chunk.AppendEventV2(buf, t, map[string]any{"log": line, "src_port": 443})
//	buf = chunk.AppendEventV1(buf, t, map[string]any{"log": line})
//	r := chunk.NewReader(buf)
//
// Map keys are written in sorted order, so the output is deterministic. Go integers that are not
// negative are written with the unsigned msgpack formats and negative ones with the signed
// formats, as Fluent Bit (msgpack-c) does; []byte becomes bin, string becomes str.

// AppendEventV2 appends one event in the Fluent Bit 2.1+ layout, [[t, {}], record], with an empty
// metadata map and t as EventTime (fixext8, type 0).
func AppendEventV2(dst []byte, t time.Time, record map[string]any) []byte {
	return AppendEventV2Meta(dst, t, nil, record)
}

// AppendEventV2Meta is AppendEventV2 with a metadata map (nil writes an empty map).
func AppendEventV2Meta(dst []byte, t time.Time, metadata, record map[string]any) []byte {
	dst = append(dst, 0x92, 0x92)
	dst = AppendTimestamp(dst, t)
	dst = AppendMap(dst, metadata)
	return AppendMap(dst, record)
}

// AppendEventV1 appends one event in the old layout, [t, record], with t as EventTime (fixext8,
// type 0). For integer or float timestamps, write the array header, the number and the map
// yourself: append(dst, 0x92), msgp.AppendUint64(dst, sec), AppendMap(dst, record).
func AppendEventV1(dst []byte, t time.Time, record map[string]any) []byte {
	dst = append(dst, 0x92)
	dst = AppendTimestamp(dst, t)
	return AppendMap(dst, record)
}

// AppendTimestamp appends t as Fluent Bit's EventTime: fixext8 of type 0 holding the seconds and
// nanoseconds as big-endian uint32 (seconds are truncated to 32 bits, as in Fluent Bit).
func AppendTimestamp(dst []byte, t time.Time) []byte {
	dst = append(dst, 0xd7, 0x00)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

// AppendMap appends m as a msgpack map with its keys sorted. A nil m writes an empty map.
func AppendMap(dst []byte, m map[string]any) []byte {
	dst = msgp.AppendMapHeader(dst, uint32(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		dst = msgp.AppendString(dst, k)
		dst = AppendValue(dst, m[k])
	}
	return dst
}

// AppendValue appends v as msgpack. It handles nil, bool, all integer and float types, string,
// []byte (bin), time.Time (EventTime ext), map[string]any, map[string]string, []any, []string and
// msgp.Raw (appended verbatim, to inject any encoding); other types go through msgp.AppendIntf. It
// panics on a type it cannot encode, since it only serves tests.
func AppendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return msgp.AppendNil(dst)
	case bool:
		return msgp.AppendBool(dst, v)
	case string:
		return msgp.AppendString(dst, v)
	case []byte:
		return msgp.AppendBytes(dst, v)
	case int:
		return appendInt(dst, int64(v))
	case int8:
		return appendInt(dst, int64(v))
	case int16:
		return appendInt(dst, int64(v))
	case int32:
		return appendInt(dst, int64(v))
	case int64:
		return appendInt(dst, v)
	case uint:
		return msgp.AppendUint64(dst, uint64(v))
	case uint8:
		return msgp.AppendUint64(dst, uint64(v))
	case uint16:
		return msgp.AppendUint64(dst, uint64(v))
	case uint32:
		return msgp.AppendUint64(dst, uint64(v))
	case uint64:
		return msgp.AppendUint64(dst, v)
	case float32:
		return msgp.AppendFloat32(dst, v)
	case float64:
		return msgp.AppendFloat64(dst, v)
	case time.Time:
		return AppendTimestamp(dst, v)
	case msgp.Raw:
		return append(dst, v...)
	case map[string]any:
		return AppendMap(dst, v)
	case map[string]string:
		dst = msgp.AppendMapHeader(dst, uint32(len(v)))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			dst = msgp.AppendString(dst, k)
			dst = msgp.AppendString(dst, v[k])
		}
		return dst
	case []any:
		dst = msgp.AppendArrayHeader(dst, uint32(len(v)))
		for _, e := range v {
			dst = AppendValue(dst, e)
		}
		return dst
	case []string:
		dst = msgp.AppendArrayHeader(dst, uint32(len(v)))
		for _, e := range v {
			dst = msgp.AppendString(dst, e)
		}
		return dst
	}
	out, err := msgp.AppendIntf(dst, v)
	if err != nil {
		panic(fmt.Sprintf("chunk: cannot encode %T: %v", v, err))
	}
	return out
}

func appendInt(dst []byte, i int64) []byte {
	if i >= 0 {
		return msgp.AppendUint64(dst, uint64(i))
	}
	return msgp.AppendInt64(dst, i)
}
