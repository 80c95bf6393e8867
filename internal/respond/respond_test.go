package respond

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natwatch/natwatch/detector"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func anomaly(src string, actions ...string) detector.Anomaly {
	return detector.Anomaly{Time: time.Unix(1714557600, 0), Gateway: "gw1", Rule: "scan", State: "firing",
		Key: src, Src: src, Value: 60, Threshold: 50, Actions: actions}
}

type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   []map[string]any
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	s := &hookServer{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		status := http.StatusOK
		if len(s.statuses) > 0 {
			status, s.statuses = s.statuses[0], s.statuses[1:]
		}
		if status == http.StatusOK {
			var body map[string]any
			if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
				status = http.StatusBadRequest
			} else {
				s.bodies = append(s.bodies, body)
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

func closeHook(t *testing.T, w *Webhook) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.Close(ctx)
}

func TestWebhookPostsOptedInAnomalies(t *testing.T) {
	server := newHookServer(t, http.StatusServiceUnavailable)
	w := NewWebhook(WebhookConfig{URL: server.URL, RetryWait: time.Millisecond, Logger: quiet})

	w.WriteAnomaly(anomaly("198.51.100.77", "webhook"))
	w.WriteAnomaly(anomaly("198.51.100.78")) // the rule has no webhook action
	w.WriteAnomaly(anomaly("198.51.100.79", "blocklist"))
	closeHook(t, w)

	got := server.received()
	if len(got) != 1 || got[0]["src"] != "198.51.100.77" || got[0]["rule"] != "scan" || got[0]["state"] != "firing" {
		t.Fatalf("received %v, want one anomaly for 198.51.100.77", got)
	}
	if stats := w.Stats(); stats != (WebhookStats{Sent: 1}) {
		t.Errorf("stats = %+v, want 1 sent after one retried 503", stats)
	}
}

func TestWebhookGivesUpOnRejection(t *testing.T) {
	server := newHookServer(t, http.StatusBadRequest)
	w := NewWebhook(WebhookConfig{URL: server.URL, RetryWait: time.Millisecond, Logger: quiet})
	w.WriteAnomaly(anomaly("198.51.100.77", "webhook"))
	closeHook(t, w)

	if stats := w.Stats(); stats != (WebhookStats{Failed: 1}) {
		t.Errorf("stats = %+v, want 1 failed without retries after a 400", stats)
	}
}

func TestWebhookRateLimit(t *testing.T) {
	server := newHookServer(t)
	w := NewWebhook(WebhookConfig{URL: server.URL, Rate: 1e-6, Burst: 2, Logger: quiet})
	for range 5 {
		w.WriteAnomaly(anomaly("198.51.100.77", "webhook"))
	}
	closeHook(t, w)

	if stats := w.Stats(); stats.Sent != 2 || stats.Dropped != 3 {
		t.Errorf("stats = %+v, want 2 sent within the burst and 3 dropped", stats)
	}
}

func TestWebhookFullQueueNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)

	w := NewWebhook(WebhookConfig{URL: hanging.URL, QueueSize: 4, Burst: 100, Timeout: time.Minute, Logger: quiet})
	for range 100 {
		w.WriteAnomaly(anomaly("198.51.100.77", "webhook"))
	}
	// At most one request is in flight and 4 wait, so at least 95 were dropped without waiting.
	if dropped := w.Stats().Dropped; dropped < 95 {
		t.Errorf("dropped %d of 100 anomalies, want at least 95 with a queue of 4", dropped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	w.Close(ctx)
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func newTestBlocklist(t *testing.T, format string, clock *fakeClock, allow ...string) (*Blocklist, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "block."+format)
	var prefixes []netip.Prefix
	for _, a := range allow {
		prefixes = append(prefixes, netip.MustParsePrefix(a))
	}
	b, err := NewBlocklist(BlocklistConfig{
		Path: path, Format: format, TTL: time.Hour, Allow: prefixes, Logger: quiet, Now: clock.Now,
		Excepted: func(rule string, addr netip.Addr) bool { return addr == netip.MustParseAddr("192.0.2.1") },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b, path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestBlocklistNft(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)}
	b, path := newTestBlocklist(t, "nft", clock, "10.0.0.0/8")

	b.WriteAnomaly(anomaly("198.51.100.77", "blocklist"))
	b.WriteAnomaly(anomaly("2001:db8::7", "blocklist"))
	b.WriteAnomaly(anomaly("10.20.4.37", "blocklist")) // Allow
	b.WriteAnomaly(anomaly("192.0.2.1", "blocklist"))  // the rule's except list
	b.WriteAnomaly(anomaly("127.0.0.1", "blocklist"))  // loopback
	b.WriteAnomaly(anomaly("203.0.113.9", "webhook"))  // no blocklist action
	resolved := anomaly("203.0.113.10", "blocklist")
	resolved.State = "resolved"
	b.WriteAnomaly(resolved)
	if err := b.rewrite(); err != nil {
		t.Fatal(err)
	}

	got := readFile(t, path)
	for _, want := range []string{
		"flush set inet filter natwatch_block\n",
		"add element inet filter natwatch_block { 198.51.100.77 timeout 3600s }\n",
		"add element inet filter natwatch_block6 { 2001:db8::7 timeout 3600s }\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("file lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "add element"); n != 2 {
		t.Errorf("file has %d entries, want 2:\n%s", n, got)
	}
	if stats := b.Stats(); stats.Listed != 2 || stats.Allowed != 3 {
		t.Errorf("stats = %+v, want 2 listed and 3 allowlisted", stats)
	}

	clock.now = clock.now.Add(61 * time.Minute)
	if err := b.rewrite(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); strings.Contains(got, "add element") {
		t.Errorf("expired entries still in the file:\n%s", got)
	}
}

func TestBlocklistIpsetReload(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	b, path := newTestBlocklist(t, "ipset", clock)
	b.WriteAnomaly(anomaly("198.51.100.77", "blocklist"))
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	got := readFile(t, path)
	for _, want := range []string{
		"create natwatch_block hash:ip family inet timeout 3600\n",
		"flush natwatch_block\n",
		"add natwatch_block 198.51.100.77 timeout 3600\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("file lacks %q:\n%s", want, got)
		}
	}

	// A new blocklist on the same file keeps the entry that has not expired.
	again, err := NewBlocklist(BlocklistConfig{Path: path, Format: "ipset", TTL: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	if listed := again.Stats().Listed; listed != 1 {
		t.Errorf("reloaded blocklist lists %d addresses, want 1", listed)
	}
}

func TestBlocklistInvalidConfig(t *testing.T) {
	_, err := NewBlocklist(BlocklistConfig{Path: filepath.Join(t.TempDir(), "x"), Format: "iptables", TTL: time.Hour})
	if err == nil || !strings.Contains(err.Error(), `invalid format "iptables"`) {
		t.Errorf("error %v, want one naming the invalid format", err)
	}
}
