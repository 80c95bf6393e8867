package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/natwatch/natwatch/internal/chunk"
)

// benchChunks builds n chunks of 1000 records, one second of event time each, from 2000 sources:
// half are raw iptables lines in `log`, half are records with parsed fields.
func benchChunks(n int) [][]byte {
	start := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	chunks := make([][]byte, n)
	for c := range chunks {
		var data []byte
		for i := range 1000 {
			at := start.Add(time.Duration(c)*time.Second + time.Duration(i)*time.Millisecond)
			src := fmt.Sprintf("10.20.%d.%d", i%8, (c*1000+i)%250)
			if i%2 == 0 {
				line := fmt.Sprintf("kernel: [884512.113207] NEW-OUT IN=eth1 OUT=eth0 SRC=%s DST=198.51.100.%d "+
					"LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=%d DF PROTO=TCP SPT=%d DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0",
					src, i%200, i, 30000+i)
				data = chunk.AppendEventV2(data, at, map[string]any{"log": line})
			} else {
				data = chunk.AppendEventV2(data, at, map[string]any{
					"src_ip": src, "dst_ip": fmt.Sprintf("198.51.100.%d", i%200), "proto": "udp",
					"src_port": 30000 + i, "dst_port": 53, "bytes": 120, "action": "accept",
				})
			}
		}
		chunks[c] = data
	}
	return chunks
}

// BenchmarkFlush measures the whole path of one Fluent Bit chunk: decode → normalise → meters and
// the built-in rules. One op is one chunk of 1000 records.
func BenchmarkFlush(b *testing.B) {
	cfg := testConfig(b, map[string]string{"Gateway": "bench", "Time_Zone": "UTC", "Anomaly_Stdout": "off"})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(cfg, Options{Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())

	chunks := benchChunks(64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.Flush(chunks[i%len(chunks)], "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}
