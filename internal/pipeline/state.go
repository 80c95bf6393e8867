package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/natwatch/natwatch/detector"
	"github.com/natwatch/natwatch/internal/sink"
	"github.com/natwatch/natwatch/internal/state"
)

// defaultStateInterval is the State_Interval of a Config that sets none.
const defaultStateInterval = time.Minute

// statePath returns the snapshot file of this pipeline in the state directory: one file per
// plugin instance, so that several [OUTPUT] sections can share a directory.
func (p *Pipeline) statePath() string {
	name := "natwatch.state"
	if p.instance != "" {
		safe := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
				return r
			}
			return '_'
		}, p.instance)
		name = "natwatch-" + safe + ".state"
	}
	return filepath.Join(p.cfg.StateDir, name)
}

func (p *Pipeline) stateInterval() time.Duration {
	if p.cfg.StateInterval > 0 {
		return p.cfg.StateInterval
	}
	return defaultStateInterval
}

// restoreState loads the detector's snapshot from the state directory. Without a file the
// detector starts empty. A damaged file, or one of another format version, is logged, renamed
// aside and ignored, so a bad snapshot never stops natwatch from starting.
func (p *Pipeline) restoreState() {
	if p.cfg.StateDir == "" {
		return
	}
	path := p.statePath()
	if err := os.MkdirAll(p.cfg.StateDir, 0o750); err != nil {
		p.logger.Warn("state directory unusable; baselines will not be saved", "path", p.cfg.StateDir, "error", err)
		return
	}

	payload, err := state.ReadFile(path, detector.SnapshotVersion)
	if errors.Is(err, fs.ErrNotExist) {
		p.logger.Info("no saved state; baselines start empty", "path", path)
		return
	}
	if err == nil {
		p.mu.Lock()
		err = p.engine.Restore(payload)
		p.mu.Unlock()
	}
	if err != nil {
		aside, moveErr := state.Quarantine(path, time.Now())
		p.logger.Warn("saved state ignored; baselines start empty", "path", path, "moved_to", aside, "error", err, "move_error", moveErr)
		p.stateErrors.Add(1)
		return
	}
	p.logger.Info("state restored", "path", path, "bytes", len(payload))
}

// snapshotDue returns a snapshot when the record time passed the next save time of a replay,
// and nil otherwise. The caller holds p.mu.
func (p *Pipeline) snapshotDue() []byte {
	if p.live || p.cfg.StateDir == "" || p.lastEventTime.Before(p.nextStateSave) {
		return nil
	}
	p.nextStateSave = p.lastEventTime.Add(p.stateInterval())
	return p.engine.Snapshot()
}

// saveState snapshots the detector under p.mu and writes the file outside it.
func (p *Pipeline) saveState() {
	if p.cfg.StateDir == "" {
		return
	}
	p.mu.Lock()
	payload := p.engine.Snapshot()
	p.mu.Unlock()
	p.writeState(payload)
}

// writeState writes a snapshot to the state file. Writes are serialised, so a slow disk
// delays the next snapshot instead of interleaving two.
func (p *Pipeline) writeState(payload []byte) {
	if payload == nil {
		return
	}
	p.stateMu.Lock()
	defer p.stateMu.Unlock()

	path := p.statePath()
	if err := state.WriteFile(path, detector.SnapshotVersion, payload); err != nil {
		p.stateErrors.Add(1)
		if p.stateLog.allow(time.Now()) {
			p.logger.Warn("saving state failed", "path", path, "error", err, "failures", p.stateErrors.Load())
		}
		return
	}
	p.stateSaves.Add(1)
	p.logger.Debug("state saved", "path", path, "bytes", len(payload))
}

// hostPointsTop turns Host_Metrics_Top, where 0 writes no host points, into the detector's
// HostPointsTop, where 0 means its default.
func hostPointsTop(top int) int {
	if top == 0 {
		return -1
	}
	return top
}

// hostWriter returns the sink's WriteHost, or nil when the sink writes no host points.
func hostWriter(out sink.Sink) func(detector.HostPoint) {
	if w, ok := out.(sink.HostWriter); ok {
		return w.WriteHost
	}
	return nil
}
