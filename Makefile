# natwatch build and test targets. Every target runs from a fresh clone with Go and gcc installed.

GO        ?= go
BUILD     := build
FUZZTIME  ?= 10s
# The bundled sample is local time on a gateway in UTC+08:00; -now pins the year of its year-less
# syslog timestamps so that the demo prints the same times on any day. 203.0.113.10 is the
# gateway's public address: counting it as internal makes traffic to it read as inbound.
DEMO_FLAGS := --time-zone Asia/Shanghai --now 2026-12-01T00:00:00+08:00 --gateway edge-gw01 \
              --internal-networks 10.20.0.0/16,203.0.113.10/32

.PHONY: demo test vet plugin cli influxdb bench fuzz clean sample dashboards

## demo: replay the bundled sample logs and print the anomalies found
demo:
	$(GO) run ./cmd/natwatch replay $(DEMO_FLAGS) testdata/sample/iptables.log testdata/sample/conntrack.log

## test: go vet and every test with the race detector, against a real InfluxDB 1.8
test: influxdb
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## plugin: build the Fluent Bit output plugin into build/natwatch.so
plugin:
	$(GO) build -buildmode=c-shared -o $(BUILD)/natwatch.so ./plugin

## cli: build the natwatch command into build/natwatch
cli:
	$(GO) build -o $(BUILD)/natwatch ./cmd/natwatch

## influxdb: install InfluxDB 1.8.10 for the integration tests unless an influxd is already there
influxdb:
	@bash scripts/influxdb.sh install >/dev/null

## bench: run the benchmarks recorded in docs/benchmarks.md
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/... ./detector/...

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

## dashboards: regenerate the Grafana dashboards (English and zh-CN) and alert rules in dashboards/
dashboards:
	$(GO) run ./dashboards/gen -out dashboards

## sample: regenerate the bundled sample logs
sample:
	$(GO) run ./testdata/gen -out testdata/sample

clean:
	rm -rf $(BUILD)
