//go:build cgo

// This benchmark runs the chunk of chunk_bench_test.go through fluent-bit-go's own decoder
// (output.NewDecoder + output.GetRecord, which decode with github.com/ugorji/go/codec into
// map[interface{}]interface{}), for comparison with BenchmarkReaderFields. It needs cgo and the
// go.sum entries of github.com/ugorji/go/codec, so it only builds with the fbgo tag:
//
//	go test -tags fbgo -run '^$' -bench . -benchmem ./internal/chunk/

package chunk

import (
	"testing"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

func BenchmarkFluentBitGoGetRecord(b *testing.B) {
	data := benchChunk(benchRecords)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		// NewDecoder copies the buffer with C.GoBytes, as it does in a real plugin's FLBPluginFlush.
		dec := output.NewDecoder(unsafe.Pointer(&data[0]), len(data))
		for {
			ret, ts, rec := output.GetRecord(dec)
			if ret != 0 {
				break
			}
			if _, ok := ts.(output.FLBTime); !ok {
				b.Fatalf("timestamp %T", ts)
			}
			for k, v := range rec {
				key, _ := k.(string)
				switch v := v.(type) {
				case []byte:
					sink += len(key) + len(v)
				case uint64:
					sink += len(key) + int(v)
				default:
					sink += len(key)
				}
			}
			n++
		}
	}
	if n != b.N*benchRecords {
		b.Fatalf("decoded %d records, want %d", n, b.N*benchRecords)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
