// Command gen writes the bundled sample logs in testdata/sample: ten minutes of a NAT gateway's
// kernel LOG lines and conntrack events with ordinary office traffic, a vertical port scan, a SYN
// flood and SMTP leaving the office network. Its output is deterministic.
//
//	go run ./testdata/gen -out testdata/sample
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// The story's actors. Addresses are from the documentation ranges (RFC 5737, RFC 3849) and the
// office network 10.20.0.0/16.
const (
	gatewayName = "edge-gw01"
	publicAddr  = "203.0.113.10"
	scanner     = "198.51.100.77"
	flooder     = "192.0.2.66"
	smtpHost    = "10.20.7.15"
	mailServer  = "198.51.100.200"
	ctScanner   = "198.51.100.99"
)

// line is one log line with the time it sorts by.
type line struct {
	at   time.Time
	text string
}

func main() {
	outDir := flag.String("out", "testdata/sample", "directory to write iptables.log and conntrack.log into")
	flag.Parse()

	zone := time.FixedZone("CST", 8*3600)
	start := time.Date(2026, time.March, 14, 9, 0, 0, 0, zone)
	rng := rand.New(rand.NewPCG(2026, 314))

	kern := &kernelLog{start: start, bootOffset: 884000 * time.Second}
	writeLines(filepath.Join(*outDir, "iptables.log"), kern.lines(rng))
	writeLines(filepath.Join(*outDir, "conntrack.log"), conntrackLines(start, rng))
}

func writeLines(path string, lines []line) {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })

	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l.text)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// kernelLog writes iptables LOG lines as rsyslog stores them in kern.log: a year-less local-time
// header, the kernel's uptime stamp, the rule's prefix and the packet fields.
type kernelLog struct {
	start      time.Time
	bootOffset time.Duration
}

func (k *kernelLog) format(at time.Time, prefix, in, out, mac, body string) line {
	uptime := k.bootOffset + at.Sub(k.start)
	text := fmt.Sprintf("%s %s kernel: [%d.%06d] %sIN=%s OUT=%s %sSRC=%s",
		at.Format(time.Stamp), gatewayName, int64(uptime/time.Second), int64(uptime%time.Second/time.Microsecond),
		prefix, in, out, mac, body)
	return line{at: at, text: text}
}

func (k *kernelLog) lines(rng *rand.Rand) []line {
	var lines []line
	end := k.start.Add(10 * time.Minute)
	lanMAC := "MAC=52:54:00:12:34:56:52:54:00:ab:cd:ef:08:00 "
	wanMAC := "MAC=52:54:00:3a:1f:c2:00:1c:73:aa:10:02:08:00 "

	// Ordinary office traffic: new outbound connections logged by a NEW-OUT rule, about 5 a second.
	destinations := []string{"198.51.100.23", "198.51.100.41", "203.0.113.80", "192.0.2.10", "192.0.2.53"}
	for at := k.start; at.Before(end); at = at.Add(time.Duration(100+rng.IntN(200)) * time.Millisecond) {
		src := fmt.Sprintf("10.20.%d.%d", 1+rng.IntN(8), 10+rng.IntN(200))
		dst := destinations[rng.IntN(len(destinations))]
		sport := 32768 + rng.IntN(28000)
		id := rng.IntN(65536)
		var body string
		if dst == "192.0.2.53" {
			body = fmt.Sprintf("%s DST=%s LEN=71 TOS=0x00 PREC=0x00 TTL=63 ID=%d DF PROTO=UDP SPT=%d DPT=53 LEN=51 ", src, dst, id, sport)
		} else {
			dport := []int{443, 443, 443, 80}[rng.IntN(4)]
			body = fmt.Sprintf("%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 ", src, dst, id, sport, dport)
		}
		lines = append(lines, k.format(at, "NEW-OUT ", "eth1", "eth0", lanMAC, body))
	}

	// A vertical port scan: one source probes 300 ports of the gateway's public address in 90 s.
	scanStart := k.start.Add(3 * time.Minute)
	for i := range 300 {
		at := scanStart.Add(time.Duration(i) * 300 * time.Millisecond)
		port := 1 + i*7%1024
		body := fmt.Sprintf("%s DST=%s LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=61022 DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0 ", scanner, publicAddr, port)
		lines = append(lines, k.format(at, "DROP ", "eth0", "", wanMAC, body))
	}

	// A SYN flood: 2500 SYN a second against the published web port for 3 seconds.
	floodStart := k.start.Add(6 * time.Minute)
	for i := range 7500 {
		at := floodStart.Add(time.Duration(i) * 400 * time.Microsecond)
		body := fmt.Sprintf("%s DST=%s LEN=40 TOS=0x00 PREC=0x00 TTL=241 ID=%d PROTO=TCP SPT=%d DPT=443 WINDOW=512 RES=0x00 SYN URGP=0 ", flooder, publicAddr, rng.IntN(65536), 1024+rng.IntN(64000))
		lines = append(lines, k.format(at, "SYNFLOOD ", "eth0", "", wanMAC, body))
	}

	// SMTP from an office workstation straight to an external mail server.
	for i := range 3 {
		at := k.start.Add(8*time.Minute + time.Duration(i)*20*time.Second)
		body := fmt.Sprintf("%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=%d DF PROTO=TCP SPT=%d DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0 ", smtpHost, mailServer, 4000+i, 50000+i)
		lines = append(lines, k.format(at, "NEW-OUT ", "eth1", "eth0", lanMAC, body))
	}
	return lines
}

// conntrackLines writes `conntrack -E -o timestamp,extended` events with accounting on: office
// sessions through source NAT, and a scan whose probes stay unreplied.
func conntrackLines(start time.Time, rng *rand.Rand) []line {
	var lines []line
	end := start.Add(10 * time.Minute)
	destinations := []string{"198.51.100.23", "198.51.100.41", "203.0.113.80"}

	for at := start; at.Before(end); at = at.Add(time.Duration(500+rng.IntN(1000)) * time.Millisecond) {
		src := fmt.Sprintf("10.20.%d.%d", 1+rng.IntN(8), 10+rng.IntN(200))
		dst := destinations[rng.IntN(len(destinations))]
		sport := 32768 + rng.IntN(28000)
		natPort := 1024 + rng.IntN(60000)
		orig := fmt.Sprintf("src=%s dst=%s sport=%d dport=443", src, dst, sport)
		reply := fmt.Sprintf("src=%s dst=%s sport=443 dport=%d", dst, publicAddr, natPort)

		lines = append(lines, ctLine(at, "NEW", fmt.Sprintf("ipv4     2 tcp      6 120 SYN_SENT %s [UNREPLIED] %s", orig, reply)))
		established := at.Add(time.Duration(20+rng.IntN(80)) * time.Millisecond)
		lines = append(lines, ctLine(established, "UPDATE", fmt.Sprintf("ipv4     2 tcp      6 432000 ESTABLISHED %s %s [ASSURED]", orig, reply)))

		closed := established.Add(time.Duration(1+rng.IntN(30)) * time.Second)
		pktsOut, pktsIn := 10+rng.IntN(200), 10+rng.IntN(400)
		bytesOut, bytesIn := pktsOut*(60+rng.IntN(900)), pktsIn*(60+rng.IntN(1400))
		lines = append(lines, ctLine(closed, "DESTROY", fmt.Sprintf("ipv4     2 tcp      6 %s packets=%d bytes=%d src=%s dst=%s sport=443 dport=%d packets=%d bytes=%d [ASSURED]",
			orig, pktsOut, bytesOut, dst, publicAddr, natPort, pktsIn, bytesIn)))
	}

	// A scan of a port-forwarded server: each probe is a new, unreplied connection.
	scanStart := start.Add(4 * time.Minute)
	for i := range 120 {
		at := scanStart.Add(time.Duration(i) * 500 * time.Millisecond)
		port := 20 + i*3
		orig := fmt.Sprintf("src=%s dst=%s sport=40001 dport=%d", ctScanner, publicAddr, port)
		reply := fmt.Sprintf("src=10.20.9.20 dst=%s sport=%d dport=40001", ctScanner, port)
		lines = append(lines, ctLine(at, "NEW", fmt.Sprintf("ipv4     2 tcp      6 120 SYN_SENT %s [UNREPLIED] %s", orig, reply)))
	}
	return lines
}

func ctLine(at time.Time, event, body string) line {
	text := fmt.Sprintf("[%d.%06d]\t%*s %s", at.Unix(), at.Nanosecond()/1000, 8, "["+event+"]", body)
	return line{at: at, text: text}
}
