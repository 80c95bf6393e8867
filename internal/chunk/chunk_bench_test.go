package chunk

import (
	"fmt"
	"testing"
	"time"
)

// Benchmarks decode a chunk of realistic NAT-gateway records, half raw iptables lines in `log`
// and half records whose fields Fluent Bit already parsed, as a Fluent Bit 2.1+ output plugin
// receives it. Run:
//
//	go test -run '^$' -bench . -benchmem ./internal/chunk/
//
// The comparison with fluent-bit-go's decoder is in fbgo_bench_test.go (build tag fbgo).

const benchRecords = 1000

// benchChunk returns a v2 chunk of n records alternating between a raw iptables line and a
// parsed-fields record.
func benchChunk(n int) []byte {
	base := time.Date(2024, 12, 4, 19, 52, 1, 0, time.UTC)
	var b []byte
	for i := range n {
		t := base.Add(time.Duration(i) * 1500 * time.Microsecond)
		src := fmt.Sprintf("10.%d.%d.%d", i%7, (i/7)%250, i%250+1)
		dst := fmt.Sprintf("93.184.%d.%d", i%200, (i*13)%250+1)
		sport := 32768 + (i*7919)%28000
		dport := []int{443, 80, 53, 22, 8443}[i%5]
		if i%2 == 0 {
			line := fmt.Sprintf("Dec  4 19:52:%02d gw1 kernel: [%d.%06d] NAT-OUT IN=eth1 OUT=eth0 "+
				"MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%s DST=%s LEN=60 TOS=0x00 PREC=0x00 "+
				"TTL=63 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0",
				i%60, 86400+i, (i*977)%1000000, src, dst, 10000+i, sport, dport)
			b = AppendEventV2(b, t, map[string]any{
				"log":    line,
				"host":   "gw1",
				"ident":  "kernel",
				"source": "/var/log/kern.log",
			})
		} else {
			b = AppendEventV2(b, t, map[string]any{
				"src_ip":   src,
				"dst_ip":   dst,
				"src_port": sport,
				"dst_port": dport,
				"proto":    "tcp",
				"bytes":    60 + (i*131)%1400,
				"host":     "gw1",
			})
		}
	}
	return b
}

// sink keeps the compiler from discarding benchmark work.
var sink int

// BenchmarkReaderFields reads every event and iterates every field, touching each key and
// value, which is the work the plugin does per chunk.
func BenchmarkReaderFields(b *testing.B) {
	data := benchChunk(benchRecords)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r Reader
	var ev Event
	n := 0
	for b.Loop() {
		r.Reset(data)
		for r.Next(&ev) {
			f := NewFields(ev.Record)
			for f.Next() {
				v := f.Value()
				sink += len(f.Key()) + len(v.Str) + int(v.Uint)
			}
			n++
		}
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReaderLookup reads every event and looks up the fields a connection needs.
func BenchmarkReaderLookup(b *testing.B) {
	data := benchChunk(benchRecords)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r Reader
	var ev Event
	n := 0
	for b.Loop() {
		r.Reset(data)
		for r.Next(&ev) {
			if v, ok := Lookup(ev.Record, "log"); ok {
				sink += len(v.Str)
			} else {
				for _, k := range [...]string{"src_ip", "dst_ip", "src_port", "dst_port", "proto", "bytes"} {
					v, _ := Lookup(ev.Record, k)
					sink += len(v.Str) + int(v.Uint)
				}
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReaderOnly measures event framing alone (time, metadata, record bounds).
func BenchmarkReaderOnly(b *testing.B) {
	data := benchChunk(benchRecords)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r Reader
	var ev Event
	n := 0
	for b.Loop() {
		r.Reset(data)
		for r.Next(&ev) {
			sink += len(ev.Record)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
