package reload

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitCount polls until the change counter reaches want, within a bounded wait for file events.
func waitCount(t *testing.T, count *atomic.Int32, want int32, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for count.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d changes within 1s, want %d", what, count.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchEvents(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a"), 0o644)
	var count atomic.Int32
	w, err := Watch(dir, Options{Poll: -1, Match: func(name string) bool { return strings.HasSuffix(name, ".yaml") }}, func() { count.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("b"), 0o644)
	waitCount(t, &count, 1, "edit")

	// A burst of writes within the debounce time is one change.
	for i := range 5 {
		os.WriteFile(filepath.Join(dir, "b.yaml"), []byte{byte('0' + i)}, 0o644)
	}
	waitCount(t, &count, 2, "burst")
	time.Sleep(2 * DefaultDebounce)
	if got := count.Load(); got != 2 {
		t.Errorf("burst of writes made %d changes, want 1", got-1)
	}

	// Files the match rejects do not count.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	time.Sleep(2 * DefaultDebounce)
	if got := count.Load(); got != 2 {
		t.Errorf("an unmatched file made a change")
	}
}

func TestWatchPollWithoutEvents(t *testing.T) {
	dir := t.TempDir()
	var count atomic.Int32
	w, err := Watch(dir, Options{Poll: 50 * time.Millisecond}, func() { count.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Stop the file events, as on a file system without them; the poll must still notice.
	w.fs.Remove(dir)

	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a"), 0o644)
	waitCount(t, &count, 1, "poll")
}

func TestWatchMissingDirectory(t *testing.T) {
	if _, err := Watch(filepath.Join(t.TempDir(), "missing"), Options{}, func() {}); err == nil {
		t.Error("Watch of a missing directory succeeded")
	}
}
