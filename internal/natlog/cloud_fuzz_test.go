package natlog

import (
	"bytes"
	"testing"
)

// fuzzParserLines runs p over each line of input in turn, so that a header line can change how
// the lines after it are read, and checks every outcome.
func fuzzParserLines(t *testing.T, p Parser, input []byte) {
	for _, line := range bytes.Split(input, []byte("\n")) {
		if !p.Detect(line) {
			continue
		}
		ctx := ParseContext{Now: testNow}
		var ev ConnEvent
		err := p.Parse(line, &ctx, &ev)
		checkParsed(t, p.Name(), err, &ev)
	}
}

func FuzzUlogd(f *testing.F) {
	addGoldenSeeds(f, "ulogd")
	f.Add([]byte(`{"ct.event":4,"orig.ip.saddr":"::1","orig.ip.daddr":"1.2.3.4","orig.ip.protocol":"6","flow.end.sec":1e9}`))
	f.Add([]byte("[DESTROY] ORIG: SRC=1.2.3.4 DST=::1 PROTO=ICMP TYPE=300 , REPLY: "))
	f.Fuzz(func(t *testing.T, line []byte) { fuzzParserLines(t, Ulogd{}, line) })
}

func FuzzAWSVPC(f *testing.F) {
	addGoldenSeeds(f, "awsvpc")
	f.Add([]byte("srcaddr dstaddr protocol tcp-flags\n1.2.3.4 ::1 6 255\n- - - -"))
	f.Add([]byte("version srcaddr dstaddr pkt-srcaddr pkt-dstaddr start end\n9 1.2.3.4 5.6.7.8 - 9.9.9.9 99999999999999999 1"))
	f.Fuzz(func(t *testing.T, input []byte) { fuzzParserLines(t, (&AWSVPC{}).NewInstance(), input) })
}

func FuzzGCP(f *testing.F) {
	addGoldenSeeds(f, "gcp")
	f.Add([]byte(`{"jsonPayload":{"connection":{"src_ip":"1.2.3.4","dest_ip":"::","protocol":"17","nat_port":"-"},"allocation_status":"OK"},"timestamp":"2025-01-01T00:00:00\u005a"}`))
	f.Fuzz(func(t *testing.T, line []byte) { fuzzParserLines(t, GCP{}, line) })
}

func FuzzAzure(f *testing.F) {
	addGoldenSeeds(f, "azure")
	f.Add([]byte(`{"flowTuples":["1,1.2.3.4,::1,,,1,I,D","",",,,,,,,,,,,,,,,,,,,"],"records":[{"flowTuples":[[[[]]]]}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		p := Azure{}
		if !p.Detect(line) {
			return
		}
		ctx := ParseContext{Now: testNow}
		var ev ConnEvent
		checkParsed(t, "azure", p.Parse(line, &ctx, &ev), &ev)

		var all ConnEvent
		emitted := 0
		err := p.ParseAll(line, &ctx, &all, func(e *ConnEvent, err error) *ConnEvent {
			checkParsed(t, "azure", err, e)
			if err == nil {
				emitted++
			}
			e.Reset()
			return e
		})
		if err != nil {
			if _, ok := err.(*SkipError); !ok {
				t.Fatalf("ParseAll error %v is %T, want *SkipError", err, err)
			}
		}
	})
}

func FuzzAliyun(f *testing.F) {
	addGoldenSeeds(f, "aliyun")
	f.Add([]byte(`{"pri_ip":"1.2.3.4","pub_ip":"::1","nat_ip":"","portocol":"1","pri_port":"99999","tcp-flags":"300"}`))
	f.Fuzz(func(t *testing.T, line []byte) { fuzzParserLines(t, Aliyun{}, line) })
}

func FuzzZeek(f *testing.F) {
	addGoldenSeeds(f, "zeek")
	f.Add([]byte("#separator \\x2c\n#fields,ts,uid,id.orig_h,id.resp_h,proto\n1.5,Cx,1.2.3.4,::1,icmp"))
	f.Add([]byte(`{"id.orig_h":"::1","id.resp_h":"1.2.3.4","proto":"icmp","id.orig_p":256,"ts":"x\u0041"}`))
	f.Fuzz(func(t *testing.T, input []byte) { fuzzParserLines(t, (&Zeek{}).NewInstance(), input) })
}

// FuzzJSONScan walks any input as a JSON object and checks that every string value the scanner
// returns lies inside the input.
func FuzzJSONScan(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\"d"}],"e":null,"f":true,"g":-1.5e3}`))
	f.Add([]byte(`{"a":"\u00e9\n","b":{"c":[[[]]]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, ok := jsonObjectIter(data)
		if !ok {
			return
		}
		var buf [32]byte
		for {
			key, val, ok := it.nextMember()
			if !ok {
				break
			}
			if len(key) > len(data) || len(val.raw) > len(data) {
				t.Fatalf("member longer than the input: %q %q", key, val.raw)
			}
			_ = val.text(buf[:])
			sub := val.iter()
			for {
				if val.kind == jsonObject {
					if _, _, ok := sub.nextMember(); !ok {
						break
					}
				} else if _, ok := sub.nextElement(); !ok {
					break
				}
			}
		}
	})
}
