// Package influxtest starts a real InfluxDB 1.8 server for tests and queries it with InfluxQL.
//
// Start returns the server named by NATWATCH_INFLUX_URL when that is set (.ci/run starts one with
// scripts/influxdb.sh), and otherwise starts influxd itself on a free 127.0.0.1 port. Each test
// should write to its own database (see DatabaseName), so tests can share one server.
package influxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Environment variables that Start reads.
const (
	// EnvURL names a running server to use instead of starting one, e.g. http://127.0.0.1:8086.
	EnvURL = "NATWATCH_INFLUX_URL"
	// EnvBinary names the influxd binary to start.
	EnvBinary = "NATWATCH_INFLUXD"
)

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	httpTimeout  = 30 * time.Second
)

// Server is a running InfluxDB for one test package.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234, without a trailing slash.
	URL string

	cmd     *exec.Cmd     // nil for a server named by NATWATCH_INFLUX_URL
	exited  chan struct{} // closed when cmd has exited
	dir     string        // removed by stop when this package created it
	logPath string
	binary  string // set by StartDedicated, for Restart
}

var shared struct {
	enabled bool // set by Main before the tests run
	once    sync.Once
	server  *Server
	err     error
}

// Main runs a test package's tests with one influxd shared by every Start call, started on first
// use and stopped after the tests end. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(influxtest.Main(m)) }
//
// Without Main, each Start starts its own server and stops it in t.Cleanup.
func Main(m *testing.M) int {
	shared.enabled = true
	code := m.Run()

	if shared.server != nil {
		if err := shared.server.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "influxtest: %v\n", err)
		}
	}
	return code
}

// Start returns a server for the test: the one at NATWATCH_INFLUX_URL if that is set, otherwise an
// influxd started on a free 127.0.0.1 port with its data in a temporary directory. The binary is
// NATWATCH_INFLUXD, else influxd on PATH, else $(go env GOPATH)/bin/influxd. When no binary is
// found Start skips the test, but with CI=true in the environment it fails the test instead.
func Start(t testing.TB) *Server {
	t.Helper()

	if u := os.Getenv(EnvURL); u != "" {
		s := &Server{URL: strings.TrimRight(u, "/")}
		if err := s.ping(); err != nil {
			t.Fatalf("influxtest: %s=%s is not reachable: %v", EnvURL, u, err)
		}
		return s
	}

	binary, err := findBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("influxtest: %v (CI=true, so the test fails instead of skipping)", err)
		}
		t.Skipf("influxtest: %v; install it with scripts/influxdb.sh install", err)
	}

	if shared.enabled {
		shared.once.Do(func() {
			shared.server, shared.err = startServer(binary)
		})
		if shared.err != nil {
			t.Fatalf("influxtest: %v", shared.err)
		}
		return shared.server
	}

	s, err := startServer(binary)
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("influxtest: %v", err)
		}
	})
	return s
}

// StartDedicated starts an influxd for the calling test alone, on free 127.0.0.1 ports with its
// data in a temporary directory, even when NATWATCH_INFLUX_URL is set, so the test may Kill and
// Restart it. The server is stopped in t.Cleanup. Without a binary it skips the test, or fails it
// with CI=true.
func StartDedicated(t testing.TB) *Server {
	t.Helper()

	binary, err := findBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("influxtest: %v (CI=true, so the test fails instead of skipping)", err)
		}
		t.Skipf("influxtest: %v; install it with scripts/influxdb.sh install", err)
	}

	s, err := startServer(binary)
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	s.binary = binary
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("influxtest: %v", err)
		}
	})
	return s
}

// PID returns the process ID of the influxd this package started, or 0 for a server named by
// NATWATCH_INFLUX_URL.
func (s *Server) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill ends the server with SIGKILL, by its PID, and waits until it has exited. Its data stays
// for Restart. It works only on a server from StartDedicated.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if s.cmd == nil || s.binary == "" {
		t.Fatalf("influxtest: Kill needs a server from StartDedicated")
	}

	select {
	case <-s.exited:
		return
	default:
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("influxtest: kill influxd (PID %d): %v", s.cmd.Process.Pid, err)
	}
	<-s.exited
}

// Restart starts the server again on the same ports with the same data directory, after Kill,
// and waits until /ping returns 204.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.cmd == nil || s.binary == "" {
		t.Fatalf("influxtest: Restart needs a server from StartDedicated")
	}
	select {
	case <-s.exited:
	default:
		t.Fatalf("influxtest: Restart of influxd (PID %d), which is still running", s.cmd.Process.Pid)
	}

	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("influxtest: open influxd log: %v", err)
	}
	defer logFile.Close()

	cmd := exec.Command(s.binary, "run", "-config", filepath.Join(s.dir, "influxd.conf"))
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("influxtest: restart %s: %v", s.binary, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	exited := s.exited
	go func() {
		cmd.Wait()
		close(exited)
	}()

	if err := s.waitReady(); err != nil {
		t.Fatalf("influxtest: %v; last lines of %s:\n%s", err, s.logPath, tail(s.logPath, 20))
	}
}

// findBinary returns the path of influxd from NATWATCH_INFLUXD, PATH or $(go env GOPATH)/bin.
func findBinary() (string, error) {
	if path := os.Getenv(EnvBinary); path != "" {
		info, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, path, err)
		}
		if info.IsDir() || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s is not an executable file", EnvBinary, path)
		}
		return path, nil
	}

	if path, err := exec.LookPath("influxd"); err == nil {
		return path, nil
	}

	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			path := filepath.Join(dir, "bin", "influxd")
			if info, err := os.Stat(path); err == nil && info.Mode()&0o111 != 0 {
				return path, nil
			}
		}
	}
	return "", errors.New("influxd not found in " + EnvBinary + ", PATH or $(go env GOPATH)/bin")
}

// startServer starts binary on free 127.0.0.1 ports and waits until /ping returns 204.
func startServer(binary string) (*Server, error) {
	dir, err := os.MkdirTemp("", "natwatch-influxd-")
	if err != nil {
		return nil, fmt.Errorf("create influxd directory: %w", err)
	}

	// Another process can take a port between freePort and influxd's bind, so a failed start is
	// tried again with new ports.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		s, err := startOnce(binary, dir)
		if err == nil {
			return s, nil
		}
		if attempt == attempts {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func startOnce(binary, dir string) (*Server, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}

	configPath := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(configPath, []byte(config(dir, httpPort, rpcPort)), 0o644); err != nil {
		return nil, fmt.Errorf("write influxd config: %w", err)
	}

	logPath := filepath.Join(dir, "influxd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create influxd log: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(binary, "run", "-config", configPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}

	s := &Server{
		URL:     fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		cmd:     cmd,
		exited:  make(chan struct{}),
		dir:     dir,
		logPath: logPath,
	}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w; last lines of %s:\n%s", err, logPath, tail(logPath, 20))
	}
	return s, nil
}

// config returns an influxd configuration that listens on 127.0.0.1 only, keeps its data under
// dir and turns off every service the tests do not use.
func config(dir string, httpPort, rpcPort int) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q
  logging-enabled = false

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
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
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /ping until it returns 204, influxd exits, or startTimeout passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("influxd (PID %d) exited during start-up: %v", s.cmd.Process.Pid, s.cmd.ProcessState)
		default:
		}

		if s.ping() == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("influxd (PID %d) timed out: %s/ping did not return 204 within %v", s.cmd.Process.Pid, s.URL, startTimeout)
}

func (s *Server) ping() error {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(s.URL + "/ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)

	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("GET %s/ping: status %d, expected 204", s.URL, resp.StatusCode)
	}
	return nil
}

// stop ends influxd with SIGTERM (SIGKILL after stopTimeout) and removes its directory. It does
// nothing for a server that this package did not start.
func (s *Server) stop() error {
	if s.cmd == nil {
		return nil
	}
	defer os.RemoveAll(s.dir)

	select {
	case <-s.exited:
		return nil
	default:
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop influxd (PID %d): %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}

	s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("influxd (PID %d) ignored SIGTERM for %v and was killed", s.cmd.Process.Pid, stopTimeout)
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

var databaseCounter atomic.Int64

// DatabaseName returns a database name made from t.Name(), the process ID and a counter, so tests
// in different packages that share one server never write to the same database.
func DatabaseName(t testing.TB) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(t.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	fmt.Fprintf(&b, "_%d_%d", os.Getpid(), databaseCounter.Add(1))
	return b.String()
}

// CreateDatabase creates the database name with InfluxQL CREATE DATABASE. The database is dropped
// after a test that passed and kept for inspection after one that failed.
func (s *Server) CreateDatabase(t testing.TB, name string) {
	t.Helper()

	if _, err := s.query("", "CREATE DATABASE "+quoteIdent(name)); err != nil {
		t.Fatalf("influxtest: create database %q: %v", name, err)
	}

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("influxtest: database %q kept on %s", name, s.URL)
			return
		}
		if _, err := s.query("", "DROP DATABASE "+quoteIdent(name)); err != nil {
			t.Errorf("influxtest: drop database %q: %v", name, err)
		}
	})
}

// Series is one series of a query result. Numbers are float64, and times are RFC 3339 strings in
// UTC with nanoseconds, e.g. "2024-05-01T10:00:00.123456789Z".
type Series struct {
	Name    string
	Tags    map[string]string // the GROUP BY tags, nil without GROUP BY
	Columns []string
	Values  [][]any
}

// Rows returns the series' values as one map per row, keyed by column name. A column whose value
// is null in a row is missing from that row's map.
func (s Series) Rows() []map[string]any {
	rows := make([]map[string]any, 0, len(s.Values))
	for _, values := range s.Values {
		row := make(map[string]any, len(values))
		for i, value := range values {
			if value != nil && i < len(s.Columns) {
				row[s.Columns[i]] = value
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// Query runs one InfluxQL statement against the database db and returns its series, or nil when
// the statement returned no rows. An error from the server fails the test.
func (s *Server) Query(t testing.TB, db, influxql string) []Series {
	t.Helper()

	series, err := s.query(db, influxql)
	if err != nil {
		t.Fatalf("influxtest: query %q on database %q: %v", influxql, db, err)
	}
	return series
}

type queryResponse struct {
	Results []struct {
		Series []Series `json:"series"`
		Error  string   `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

func (s *Server) query(db, influxql string) ([]Series, error) {
	form := url.Values{"q": {influxql}}
	if db != "" {
		form.Set("db", db)
	}

	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}

	var decoded queryResponse
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&decoded); err != nil {
		return nil, fmt.Errorf("status %d, invalid JSON %q: %w", resp.StatusCode, body, err)
	}
	if decoded.Error != "" {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, decoded.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	if len(decoded.Results) == 0 {
		return nil, nil
	}
	if decoded.Results[0].Error != "" {
		return nil, errors.New(decoded.Results[0].Error)
	}
	return decoded.Results[0].Series, nil
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(name string) string {
	escaped := strings.ReplaceAll(name, `\`, `\\`)
	escaped = strings.ReplaceAll(escaped, `"`, `\"`)
	return `"` + escaped + `"`
}
