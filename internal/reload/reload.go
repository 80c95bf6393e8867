// Package reload watches directories of configuration files (rule files, threat-intel feeds) and
// calls a function once the files have settled after a change. It uses inotify-style events
// through fsnotify on the directory, not on each file, because editors save by writing a new
// file and renaming it over the old one, and files moved into the directory must count too. A
// poll of file names, sizes, modification times and content hashes backs the events up on file
// systems that deliver none (NFS, some container volumes).
package reload

import (
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults of Options.
const (
	DefaultDebounce = 200 * time.Millisecond
	DefaultPoll     = 5 * time.Second
)

// Options set up a Watcher.
type Options struct {
	Debounce time.Duration // quiet time after the last event before OnChange runs
	Poll     time.Duration // interval of the fallback poll; negative turns the poll off
	Logger   *slog.Logger
	// Match selects the file names that count; nil counts every regular file.
	Match func(name string) bool
}

// Watcher calls OnChange after the files of a directory changed.
type Watcher struct {
	dir      string
	opts     Options
	onChange func()
	fs       *fsnotify.Watcher

	mu   sync.Mutex
	last snapshot

	stop chan struct{}
	done sync.WaitGroup
}

// Watch starts watching dir. onChange runs on the watcher's goroutine, never concurrently with
// itself, once per settled change. The current contents are the baseline: Watch does not call
// onChange for them. When fsnotify cannot watch dir, Watch logs why and relies on the poll.
func Watch(dir string, opts Options, onChange func()) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, errors.New(dir + " is not a directory")
	}

	w := &Watcher{dir: dir, opts: opts, onChange: onChange, stop: make(chan struct{})}
	w.last = w.scan()

	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		err = fsw.Add(dir)
		if err != nil {
			fsw.Close()
		}
	}
	if err != nil {
		opts.Logger.Warn("file events unavailable, polling for changes", "dir", dir, "interval", opts.Poll, "error", err)
		fsw = nil
		if opts.Poll < 0 {
			return nil, err
		}
	}
	w.fs = fsw

	w.done.Add(1)
	go w.run()
	return w, nil
}

// Close stops the watcher and waits for a running onChange to return.
func (w *Watcher) Close() error {
	select {
	case <-w.stop:
		return nil
	default:
	}
	close(w.stop)
	var err error
	if w.fs != nil {
		err = w.fs.Close()
	}
	w.done.Wait()
	return err
}

func (w *Watcher) run() {
	defer w.done.Done()

	var events <-chan fsnotify.Event
	var fsErrors <-chan error
	if w.fs != nil {
		events, fsErrors = w.fs.Events, w.fs.Errors
	}
	var poll <-chan time.Time
	if w.opts.Poll > 0 {
		ticker := time.NewTicker(w.opts.Poll)
		defer ticker.Stop()
		poll = ticker.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()

	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if w.opts.Match != nil && !w.opts.Match(filepath.Base(ev.Name)) {
				continue
			}
			debounce.Reset(w.opts.Debounce)
		case err, ok := <-fsErrors:
			if !ok {
				fsErrors = nil
				continue
			}
			// An overflow loses events: look at the files instead.
			w.opts.Logger.Warn("file watch error, rescanning", "dir", w.dir, "error", err)
			debounce.Reset(w.opts.Debounce)
		case <-debounce.C:
			w.check()
		case <-poll:
			w.check()
		}
	}
}

// check compares the directory with the last snapshot and calls onChange when it differs.
func (w *Watcher) check() {
	current := w.scan()
	w.mu.Lock()
	changed := !slices.Equal(current, w.last)
	w.last = current
	w.mu.Unlock()
	if changed {
		w.onChange()
	}
}

type fileState struct {
	name  string
	size  int64
	mtime time.Time
	hash  [sha256.Size]byte
}

type snapshot []fileState

// scan lists the matching regular files of the directory with their sizes, times and hashes.
// Files that vanish or cannot be read between listing and hashing get a zero hash, so that
// the next scan sees them change again.
func (w *Watcher) scan() snapshot {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil
	}
	var out snapshot
	for _, entry := range entries {
		name := entry.Name()
		if w.opts.Match != nil && !w.opts.Match(name) {
			continue
		}
		path := filepath.Join(w.dir, name)
		info, err := os.Stat(path) // follows symbolic links, as loading does
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		state := fileState{name: name, size: info.Size(), mtime: info.ModTime()}
		if f, err := os.Open(path); err == nil {
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			copy(state.hash[:], h.Sum(nil))
		}
		out = append(out, state)
	}
	return out
}
