package chunk

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.hex and testdata/golden.txt")

// goldenChunk is a chunk with every layout and value type the decoder knows.
func goldenChunk() []byte {
	t1 := time.Date(2024, 12, 4, 19, 52, 1, 123456789, time.UTC)
	var b []byte
	// Group start (ext seconds 0xffffffff): skipped.
	b = append(b, 0x92, 0x92, 0xd7, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)
	b = AppendMap(b, map[string]any{"schema": "otlp"})
	b = AppendMap(b, map[string]any{"resource": map[string]any{"host.name": "gw1"}})
	b = AppendEventV2(b, t1, map[string]any{
		"log":  "Dec  4 19:52:01 gw1 kernel: NAT-OUT IN=eth1 OUT=eth0 SRC=10.1.2.3 DST=93.184.216.34 PROTO=TCP SPT=51234 DPT=443",
		"host": "gw1",
	})
	b = AppendEventV2Meta(b, t1.Add(time.Millisecond), map[string]any{"trace_id": []byte{0x01, 0xff}}, map[string]any{
		"src_ip": "10.1.2.3", "dst_ip": "93.184.216.34", "src_port": 51234, "dst_port": 443,
		"proto": "tcp", "bytes": 1500, "ratio": 0.25, "ok": true, "none": nil, "delta": -40,
		"big": uint64(1) << 63, "connection": map[string]any{"src": map[string]any{"ip": "10.1.2.3"}, "tags": []any{"a", 1, []any{}}},
		"ext": msgp.Raw{0xd6, 0x07, 1, 2, 3, 4}, "long": strings.Repeat("x", 260),
	})
	// Group end (int -2): skipped.
	b = append(b, 0x92, 0x92, 0xfe, 0x80, 0x80)
	b = AppendEventV1(b, t1.Add(time.Second), map[string]any{"log": "v1 ext"})
	b = append(b, 0x92)
	b = append(b, ext8Time(t1.Add(2*time.Second))...)
	b = AppendMap(b, map[string]any{"log": "v1 ext8", "bin": []byte("raw")})
	b = append(b, 0x92)
	b = msgp.AppendUint64(b, 1733341924)
	b = AppendMap(b, map[string]any{"log": "v1 int"})
	b = append(b, 0x92)
	b = msgp.AppendFloat64(b, 1733341925.5)
	b = AppendMap(b, map[string]any{"log": "v1 float"})
	return b
}

// dumpValue renders v as text: uints get a "u" suffix, bin is shown like str.
func dumpValue(sb *strings.Builder, v Value) {
	switch v.Type {
	case TypeNil:
		sb.WriteString("nil")
	case TypeBool:
		sb.WriteString(strconv.FormatBool(v.Bool))
	case TypeInt:
		sb.WriteString(strconv.FormatInt(v.Int, 10))
	case TypeUint:
		sb.WriteString(strconv.FormatUint(v.Uint, 10) + "u")
	case TypeFloat:
		sb.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case TypeString:
		sb.WriteString(strconv.Quote(string(v.Str)))
	case TypeExt:
		fmt.Fprintf(sb, "ext(% x)", v.Raw)
	case TypeMap:
		dumpMap(sb, v.Raw)
	case TypeArray:
		sb.WriteByte('[')
		it := NewArray(v.Raw)
		for i := 0; it.Next(); i++ {
			if i > 0 {
				sb.WriteString(", ")
			}
			dumpValue(sb, it.Value())
		}
		if it.Err() != nil {
			fmt.Fprintf(sb, "<error %v>", it.Err())
		}
		sb.WriteByte(']')
	default:
		sb.WriteString("<invalid>")
	}
}

func dumpMap(sb *strings.Builder, m []byte) {
	if m == nil {
		sb.WriteString("none")
		return
	}
	sb.WriteByte('{')
	f := NewFields(m)
	for i := 0; f.Next(); i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Quote(string(f.Key())) + ": ")
		dumpValue(sb, f.Value())
	}
	if f.Err() != nil {
		fmt.Fprintf(sb, "<error %v>", f.Err())
	}
	sb.WriteByte('}')
}

func dumpChunk(data []byte) string {
	var sb strings.Builder
	r := NewReader(data)
	var ev Event
	for r.Next(&ev) {
		fmt.Fprintf(&sb, "@%d %s\n  meta: ", ev.Offset, ev.Time.Format(time.RFC3339Nano))
		dumpMap(&sb, ev.Metadata)
		sb.WriteString("\n  record: ")
		dumpMap(&sb, ev.Record)
		sb.WriteByte('\n')
	}
	fmt.Fprintf(&sb, "end: offset %d, skipped %d, err %v\n", r.Offset(), r.Skipped(), r.Err())
	return sb.String()
}

// TestGolden decodes a fixed chunk (testdata/golden.hex) and compares the dump with
// testdata/golden.txt. It also checks that the builder still writes those exact bytes. Run with
// -update to rewrite both files after an intended change.
func TestGolden(t *testing.T) {
	hexPath := filepath.Join("testdata", "golden.hex")
	txtPath := filepath.Join("testdata", "golden.txt")
	built := goldenChunk()
	if *update {
		var hb strings.Builder
		for i := 0; i < len(built); i += 32 {
			hb.WriteString(hex.EncodeToString(built[i:min(i+32, len(built))]) + "\n")
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hexPath, []byte(hb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(txtPath, []byte(dumpChunk(built)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hx, err := os.ReadFile(hexPath)
	if err != nil {
		t.Fatal(err)
	}
	data, err := hex.DecodeString(strings.ReplaceAll(string(hx), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(txtPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := dumpChunk(data); got != string(want) {
		t.Errorf("decoding %s differs from %s:\n--- got\n%s--- want\n%s", hexPath, txtPath, got, want)
	}
	if !bytes.Equal(built, data) {
		t.Errorf("the builder no longer writes %s (run with -update if intended)", hexPath)
	}
}
