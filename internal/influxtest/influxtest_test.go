package influxtest

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestQueryReturnsWrittenPoint(t *testing.T) {
	server := Start(t)
	db := DatabaseName(t)
	server.CreateDatabase(t, db)

	line := "cpu,host=gw1 load=1.5,count=3i,note=\"a b\" 1714557600123456789\n"
	resp, err := http.Post(server.URL+"/write?db="+db, "text/plain", strings.NewReader(line))
	if err != nil {
		t.Fatalf("POST /write: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /write: status %d, expected 204", resp.StatusCode)
	}

	series := server.Query(t, db, "SELECT * FROM cpu")
	if len(series) != 1 {
		t.Fatalf("got %d series, expected 1: %+v", len(series), series)
	}
	if series[0].Name != "cpu" {
		t.Errorf("series name = %q, expected cpu", series[0].Name)
	}

	rows := series[0].Rows()
	if len(rows) != 1 {
		t.Fatalf("got %d rows, expected 1: %v", len(rows), rows)
	}
	want := map[string]any{
		"time":  "2024-05-01T10:00:00.123456789Z",
		"host":  "gw1",
		"load":  1.5,
		"count": float64(3),
		"note":  "a b",
	}
	for column, value := range want {
		if rows[0][column] != value {
			t.Errorf("column %s = %#v, expected %#v", column, rows[0][column], value)
		}
	}
	if len(rows[0]) != len(want) {
		t.Errorf("row has columns %v, expected exactly %v", rows[0], want)
	}
}

func TestQueryGroupByTags(t *testing.T) {
	server := Start(t)
	db := DatabaseName(t)
	server.CreateDatabase(t, db)

	lines := "m,gw=a v=1 1000000000\nm,gw=b v=2 1000000000\n"
	resp, err := http.Post(server.URL+"/write?db="+db, "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatalf("POST /write: %v", err)
	}
	resp.Body.Close()

	series := server.Query(t, db, "SELECT v FROM m GROUP BY gw")
	if len(series) != 2 {
		t.Fatalf("got %d series, expected 2: %+v", len(series), series)
	}
	for i, gateway := range []string{"a", "b"} {
		if series[i].Tags["gw"] != gateway {
			t.Errorf("series %d tag gw = %q, expected %q", i, series[i].Tags["gw"], gateway)
		}
		if got := series[i].Rows()[0]["v"]; got != float64(i+1) {
			t.Errorf("series %d v = %v, expected %d", i, got, i+1)
		}
	}
}

func TestQueryEmptyResult(t *testing.T) {
	server := Start(t)
	db := DatabaseName(t)
	server.CreateDatabase(t, db)

	if series := server.Query(t, db, "SELECT * FROM missing"); series != nil {
		t.Errorf("query of a missing measurement returned %+v, expected nil", series)
	}
}

func TestQueryMissingDatabase(t *testing.T) {
	server := Start(t)

	_, err := server.query("no_such_db_influxtest", "SELECT * FROM m")
	if err == nil {
		t.Fatal("query on a missing database returned no error")
	}
	if !strings.Contains(err.Error(), "database not found") {
		t.Errorf("error = %q, expected it to contain %q", err, "database not found")
	}
}

func TestCreateDatabaseDropsItAfterTest(t *testing.T) {
	server := Start(t)
	var db string

	t.Run("inner", func(t *testing.T) {
		db = DatabaseName(t)
		server.CreateDatabase(t, db)
		if !hasDatabase(t, server, db) {
			t.Fatalf("database %s missing after CreateDatabase", db)
		}
	})

	if hasDatabase(t, server, db) {
		t.Errorf("database %s still exists after its test passed", db)
	}
}

func hasDatabase(t *testing.T, server *Server, name string) bool {
	for _, row := range server.Query(t, "", "SHOW DATABASES")[0].Rows() {
		if row["name"] == name {
			return true
		}
	}
	return false
}

func TestStartWithoutMainStopsServer(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skipf("%s is set, so Start starts no server", EnvURL)
	}
	shared.enabled = false
	defer func() { shared.enabled = true }()
	var server *Server

	t.Run("inner", func(t *testing.T) {
		server = Start(t)
		if server == shared.server {
			t.Fatal("Start returned the shared server although Main's sharing was off")
		}
		if err := server.ping(); err != nil {
			t.Fatalf("ping: %v", err)
		}
	})

	select {
	case <-server.exited:
	default:
		t.Fatal("influxd still running after the test that started it ended")
	}
	if _, err := os.Stat(server.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still exists after the server stopped (stat error %v)", server.dir, err)
	}
}

func TestDatabaseNameIsValidAndUnique(t *testing.T) {
	first := DatabaseName(t)
	second := DatabaseName(t)

	if first == second {
		t.Errorf("two calls returned the same name %q", first)
	}
	if !strings.HasPrefix(first, "t_testdatabasenameisvalidandunique_") {
		t.Errorf("name %q does not start with the sanitized test name", first)
	}
	for _, r := range first {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			t.Errorf("name %q contains %q, expected only a-z, 0-9 and _", first, r)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"db", `"db"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
	}
	for _, tt := range tests {
		if got := quoteIdent(tt.in); got != tt.want {
			t.Errorf("quoteIdent(%q) = %s, expected %s", tt.in, got, tt.want)
		}
	}
}
