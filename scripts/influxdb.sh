#!/usr/bin/env bash
# Installs, starts and stops a local InfluxDB 1.8 server for natwatch's tests.
#
#   scripts/influxdb.sh install          prints the path of influxd, installing it with `go install` if needed
#   scripts/influxdb.sh start DIR PORT   starts influxd on 127.0.0.1:PORT with its data in DIR, prints the URL
#   scripts/influxdb.sh stop DIR         stops the influxd whose PID is in DIR/influxd.pid
#
# The server listens on 127.0.0.1 only: HTTP on PORT and the backup RPC service on PORT+1.
# NATWATCH_INFLUXD may name an influxd binary to use instead of searching PATH and $(go env GOPATH)/bin.
set -euo pipefail

influxdb_version=1.8.10
start_timeout_s=30

usage() {
	echo "usage: $0 install | start DIR PORT | stop DIR" >&2
	exit 2
}

find_influxd() {
	if [[ -n "${NATWATCH_INFLUXD:-}" ]]; then
		if [[ -x "$NATWATCH_INFLUXD" ]]; then
			echo "$NATWATCH_INFLUXD"
			return 0
		fi
		echo "NATWATCH_INFLUXD=$NATWATCH_INFLUXD is not an executable file" >&2
		return 1
	fi

	if command -v influxd >/dev/null 2>&1; then
		command -v influxd
		return 0
	fi

	local gobin
	gobin="$(go env GOPATH)/bin/influxd"
	if [[ -x "$gobin" ]]; then
		echo "$gobin"
		return 0
	fi
	return 1
}

cmd_install() {
	if find_influxd; then
		return 0
	fi
	if [[ -n "${NATWATCH_INFLUXD:-}" ]]; then
		return 1
	fi

	echo "installing influxd $influxdb_version with go install (about 70 s without a module cache)" >&2
	CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X main.version=$influxdb_version" \
		"github.com/influxdata/influxdb/cmd/influxd@v$influxdb_version" >&2
	find_influxd
}

write_config() {
	local dir=$1 port=$2 rpc_port=$3
	cat >"$dir/influxd.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"

[meta]
  dir = "$dir/meta"
  logging-enabled = false

[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false
  pprof-enabled = false

[logging]
  suppress-logo = true

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false
CONF
}

# port_in_use succeeds when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
	[[ $# -eq 2 ]] || usage
	local dir=$1 port=$2
	if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65534)); then
		echo "invalid port $port: expected 1 to 65534 (PORT+1 is the backup RPC port)" >&2
		return 2
	fi

	local influxd
	if ! influxd=$(find_influxd); then
		echo "influxd not found: run '$0 install' or set NATWATCH_INFLUXD" >&2
		return 1
	fi

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -f "$dir/influxd.pid" ]] && kill -0 "$(cat "$dir/influxd.pid")" 2>/dev/null; then
		echo "influxd is already running with PID $(cat "$dir/influxd.pid") for $dir" >&2
		return 1
	fi

	local p
	for p in "$port" $((port + 1)); do
		if port_in_use "$p"; then
			echo "port $p on 127.0.0.1 is already in use: choose another PORT (influxd uses PORT and PORT+1)" >&2
			return 1
		fi
	done

	write_config "$dir" "$port" $((port + 1))
	"$influxd" run -config "$dir/influxd.conf" >"$dir/influxd.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/influxd.pid"

	local url="http://127.0.0.1:$port"
	local deadline=$((SECONDS + start_timeout_s))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "influxd (PID $pid) exited during start-up; last lines of $dir/influxd.log:" >&2
			tail -n 20 "$dir/influxd.log" >&2
			rm -f "$dir/influxd.pid"
			return 1
		fi
		local status
		status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/ping" || true)
		if [[ "$status" == 204 ]]; then
			echo "$url"
			return 0
		fi
		sleep 0.2
	done

	echo "influxd (PID $pid) timed out: $url/ping did not return 204 within ${start_timeout_s}s; stopping it" >&2
	tail -n 20 "$dir/influxd.log" >&2
	cmd_stop "$dir" || true
	return 1
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	local dir=$1
	local pidfile="$dir/influxd.pid"
	if [[ ! -f "$pidfile" ]]; then
		echo "no $pidfile: influxd is not running for $dir" >&2
		return 0
	fi

	local pid
	pid=$(cat "$pidfile")
	if kill "$pid" 2>/dev/null; then
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "influxd (PID $pid) still running 10 s after SIGTERM; sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case "$command" in
install) cmd_install "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
*) usage ;;
esac
