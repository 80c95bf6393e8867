// Package spool keeps records in append-only files on disk until the consumer acknowledges them,
// so that what InfluxDB has not accepted yet survives an outage and a restart.
//
// A spool directory holds two streams of segment files: Events, which are kept longest, and
// Metrics, whose oldest segments are deleted first when the spool reaches its maximum size. Each
// record carries its length, an item count, its append time and a CRC-32C. A consumer reads the
// oldest unacknowledged record with Next, Events before Metrics, and Ack advances that stream's
// read position durably (in the file <stream>.ack, replaced atomically). A record is therefore
// read again after a crash until its Ack has reached the disk.
package spool

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stream names one of the two record streams of a spool.
type Stream int

// The streams, in the order Next reads them.
const (
	Events  Stream = iota // anomaly events: never deleted to make room
	Metrics               // traffic and self-metrics: oldest segments deleted first when the spool is full
)

var streamNames = [...]string{"events", "metrics"}

func (s Stream) String() string {
	if s == Events || s == Metrics {
		return streamNames[s]
	}
	return "stream(" + strconv.Itoa(int(s)) + ")"
}

// Defaults for the zero values of Options.
const (
	DefaultMaxBytes     = 256 << 20
	maxSegmentBytes     = 8 << 20
	minSegmentBytes     = 4 << 10
	segmentsPerSpoolCap = 8
)

// ErrFull is matched by the error Append returns when a record does not fit.
var ErrFull = errors.New("spool full")

// FullError reports a record that does not fit in the spool even after every metrics segment was
// deleted. It matches ErrFull.
type FullError struct {
	Dir      string
	Stream   Stream
	Bytes    int // encoded size of the rejected record
	Used     int64
	MaxBytes int64
}

func (e *FullError) Error() string {
	return fmt.Sprintf("spool %s is full: a %d-byte %s record does not fit, %d of the maximum %d bytes are used by unsent anomaly events; raise the spool's maximum size or restore the connection to InfluxDB",
		e.Dir, e.Bytes, e.Stream, e.Used, e.MaxBytes)
}

func (e *FullError) Is(target error) bool { return target == ErrFull }

// Options configure Open. Zero values select the defaults.
type Options struct {
	Dir      string // created with mode 0700 when missing
	MaxBytes int64  // maximum size of all segment files together; DefaultMaxBytes when 0

	// SegmentBytes is the size at which a new segment file starts. 0 selects an eighth of
	// MaxBytes, from 4 KiB to 8 MiB.
	SegmentBytes int64

	// NoSync skips fsync after appends and acknowledgements. Records then survive a killed
	// process, which leaves the page cache intact, but not a power loss.
	NoSync bool

	Logger *slog.Logger // nil means slog.Default()
}

// Stats are a spool's sizes and counters.
type Stats struct {
	Bytes    int64     // size of all segment files
	MaxBytes int64     // the configured maximum
	Records  [2]int    // unacknowledged records, indexed by Stream
	Items    [2]int    // items of the unacknowledged records, indexed by Stream
	Oldest   time.Time // append time of the oldest unacknowledged record; zero when there is none

	DroppedRecords uint64 // metrics records deleted unread to make room
	DroppedItems   uint64 // items of DroppedRecords
	CorruptBytes   uint64 // bytes found invalid at Open and skipped
}

// Record is one record returned by Next. Payload belongs to the caller.
type Record struct {
	Stream  Stream
	Payload []byte
	Items   int
	Time    time.Time // when it was appended

	segment uint64
	offset  int64
	end     int64
}

type segment struct {
	id      uint64
	path    string
	size    int64 // bytes in the file
	end     int64 // readable end: size, or the start of the first invalid record
	records int   // valid records
	items   int
	acked   int // records before the read position
	ackedN  int // items of those records
}

type stream struct {
	kind     Stream
	segments []*segment // oldest first; the read position is in segments[0]
	offset   int64      // read position in segments[0]
	writer   *os.File   // open on the last segment while records are appended to it
	reader   *os.File
	readerID uint64
	nextID   uint64
}

// Spool is an open spool directory. It is safe for concurrent use: one goroutine may append while
// another reads and acknowledges.
type Spool struct {
	opts   Options
	logger *slog.Logger
	lock   *os.File

	mu      sync.Mutex
	streams [2]*stream
	bytes   int64
	closed  bool

	droppedRecords uint64
	droppedItems   uint64
	corruptBytes   uint64
}

// Open opens or creates the spool in opts.Dir, checks every segment and positions each stream at
// its first unacknowledged record. Invalid records are logged and skipped. A directory that
// another Spool holds open, in this process or another, is an error.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: missing directory")
	}
	if opts.MaxBytes < 0 || opts.SegmentBytes < 0 {
		return nil, fmt.Errorf("spool %s: sizes must not be negative", opts.Dir)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = min(max(opts.MaxBytes/segmentsPerSpoolCap, minSegmentBytes), maxSegmentBytes)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}

	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: create directory: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}

	s := &Spool{opts: opts, logger: opts.Logger, lock: lock}
	for _, kind := range []Stream{Events, Metrics} {
		st, err := s.openStream(kind)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.streams[kind] = st
	}
	return s, nil
}

// lockDir takes an exclusive flock on dir/spool.lock, which ends with the process.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "spool.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("spool directory %s is in use (lock held by PID %s); give each natwatch instance its own spool directory",
				dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("spool: lock %s: %w", path, err)
	}

	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func (s *Spool) segmentPath(kind Stream, id uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%s-%016d.seg", kind, id))
}

func (s *Spool) ackPath(kind Stream) string {
	return filepath.Join(s.opts.Dir, kind.String()+".ack")
}

// openStream loads one stream's segments and read position.
func (s *Spool) openStream(kind Stream) (*stream, error) {
	st := &stream{kind: kind, nextID: 1}

	ids, err := s.listSegments(kind)
	if err != nil {
		return nil, err
	}
	ackID, ackOffset := s.readAck(kind)

	for _, id := range ids {
		path := s.segmentPath(kind, id)
		st.nextID = id + 1
		if id < ackID {
			os.Remove(path)
			continue
		}

		seg, err := s.loadSegment(kind, id)
		if err != nil {
			return nil, err
		}
		if seg == nil {
			continue
		}
		st.segments = append(st.segments, seg)
		s.bytes += seg.size
	}

	st.offset = int64(len(segmentMagic))
	if len(st.segments) > 0 && st.segments[0].id == ackID {
		if err := s.skipAcked(st, ackOffset); err != nil {
			return nil, err
		}
	}
	s.dropConsumed(st)
	return st, nil
}

func (s *Spool) listSegments(kind Stream) ([]uint64, error) {
	matches, err := filepath.Glob(filepath.Join(s.opts.Dir, kind.String()+"-*.seg"))
	if err != nil {
		return nil, fmt.Errorf("spool: list segments: %w", err)
	}

	var ids []uint64
	for _, path := range matches {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), kind.String()+"-"), ".seg")
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			s.logger.Warn("spool: ignoring a file with an unexpected name", "path", path)
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// readAck returns the stream's acknowledged position, or zeros when there is none.
func (s *Spool) readAck(kind Stream) (uint64, int64) {
	data, err := os.ReadFile(s.ackPath(kind))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.logger.Warn("spool: cannot read the read position, replaying from the oldest segment", "stream", kind, "error", err)
		}
		return 0, 0
	}

	var id uint64
	var offset int64
	if _, err := fmt.Sscanf(string(data), "%d %d\n", &id, &offset); err != nil || offset < 0 {
		s.logger.Warn("spool: invalid read position file, replaying from the oldest segment", "path", s.ackPath(kind), "content", string(data))
		return 0, 0
	}
	return id, offset
}

// loadSegment checks one segment file. A torn record at the end of the file is cut off; an invalid
// record elsewhere ends the readable part. A file without the segment header is renamed to
// *.corrupt and skipped (nil, nil).
func (s *Spool) loadSegment(kind Stream, id uint64) (*segment, error) {
	path := s.segmentPath(kind, id)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spool: read segment: %w", err)
	}

	scan, err := scanSegment(data)
	if err != nil {
		s.corruptBytes += uint64(len(data))
		s.logger.Error("spool: segment file is invalid and skipped, its records are lost", "path", path, "bytes", len(data), "error", err)
		os.Rename(path, path+".corrupt")
		return nil, nil
	}

	seg := &segment{id: id, path: path, size: int64(len(data)), end: scan.validEnd, records: scan.records, items: scan.items}
	if scan.firstErr != nil {
		lost := int64(len(data)) - scan.validEnd
		s.corruptBytes += uint64(lost)
		if errors.Is(scan.firstErr, errTruncated) {
			s.logger.Warn("spool: cut off a record that was being written when the process stopped", "path", path, "bytes", lost)
		} else {
			s.logger.Error("spool: invalid record, the rest of the segment is skipped", "path", path, "offset", scan.validEnd, "bytes", lost, "error", scan.firstErr)
		}
		if err := os.Truncate(path, scan.validEnd); err == nil {
			seg.size = scan.validEnd
		}
	}
	return seg, nil
}

// skipAcked moves the read position of st to offset in its first segment and counts the records
// before it as acknowledged.
func (s *Spool) skipAcked(st *stream, offset int64) error {
	seg := st.segments[0]
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return fmt.Errorf("spool: read segment: %w", err)
	}

	pos := int64(len(segmentMagic))
	for pos < offset && pos < seg.end {
		rec, n, err := decodeRecord(data[pos:seg.end])
		if err != nil {
			break
		}
		pos += int64(n)
		seg.acked++
		seg.ackedN += rec.items
	}
	st.offset = pos
	return nil
}

// dropConsumed deletes the leading segments that hold nothing left to read.
func (s *Spool) dropConsumed(st *stream) {
	for len(st.segments) > 0 && st.offset >= st.segments[0].end {
		s.removeHead(st)
	}
}

// removeHead deletes the first segment of st and moves the read position to the next one.
func (s *Spool) removeHead(st *stream) {
	seg := st.segments[0]
	if st.writer != nil && len(st.segments) == 1 {
		st.writer.Close()
		st.writer = nil
	}
	if st.reader != nil && st.readerID == seg.id {
		st.reader.Close()
		st.reader = nil
	}
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Error("spool: cannot delete a segment", "path", seg.path, "error", err)
	}

	s.bytes -= seg.size
	st.segments = st.segments[1:]
	st.offset = int64(len(segmentMagic))
}

// Append adds a record with payload to the stream. items is the caller's count of what the payload
// contains, reported in Stats and Record. When the spool is full, Append deletes the oldest
// Metrics segments, counting their unread records as dropped, and returns a *FullError when
// that is not enough.
func (s *Spool) Append(kind Stream, payload []byte, items int) error {
	if kind != Events && kind != Metrics {
		return fmt.Errorf("spool: invalid stream %d", kind)
	}
	if len(payload) > MaxRecordBytes || items < 0 || items > MaxRecordBytes {
		return fmt.Errorf("spool: record of %d bytes and %d items is above the limit of %d", len(payload), items, MaxRecordBytes)
	}
	encoded := appendRecord(nil, payload, items, time.Now())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: append after close")
	}
	st := s.streams[kind]

	if err := s.makeRoom(st, int64(len(encoded))); err != nil {
		return err
	}
	if err := s.ensureWriter(st, int64(len(encoded))); err != nil {
		return err
	}

	seg := st.segments[len(st.segments)-1]
	if _, err := st.writer.Write(encoded); err != nil {
		st.writer.Truncate(seg.size)
		return fmt.Errorf("spool: write %s: %w", seg.path, err)
	}
	if !s.opts.NoSync {
		if err := st.writer.Sync(); err != nil {
			return fmt.Errorf("spool: sync %s: %w", seg.path, err)
		}
	}

	seg.size += int64(len(encoded))
	seg.end = seg.size
	seg.records++
	seg.items += items
	s.bytes += int64(len(encoded))
	return nil
}

// needsRoll reports whether a record of n bytes starts a new segment of st.
func (s *Spool) needsRoll(st *stream, n int64) bool {
	if st.writer == nil || len(st.segments) == 0 {
		return true
	}
	last := st.segments[len(st.segments)-1]
	return last.records > 0 && last.size+n > s.opts.SegmentBytes
}

// makeRoom deletes Metrics segments, oldest first, until a record of n bytes fits.
func (s *Spool) makeRoom(st *stream, n int64) error {
	for {
		need := n
		if s.needsRoll(st, n) {
			need += int64(len(segmentMagic))
		}
		if s.bytes+need <= s.opts.MaxBytes {
			return nil
		}

		metrics := s.streams[Metrics]
		if len(metrics.segments) == 0 {
			return &FullError{Dir: s.opts.Dir, Stream: st.kind, Bytes: int(n), Used: s.bytes, MaxBytes: s.opts.MaxBytes}
		}

		seg := metrics.segments[0]
		s.droppedRecords += uint64(seg.records - seg.acked)
		s.droppedItems += uint64(seg.items - seg.ackedN)
		s.removeHead(metrics)
	}
}

// ensureWriter opens the segment that the next record of n bytes goes to, starting a new one
// when the current one is full or was never opened for appending.
func (s *Spool) ensureWriter(st *stream, n int64) error {
	if !s.needsRoll(st, n) {
		return nil
	}
	if st.writer != nil {
		st.writer.Close()
		st.writer = nil
	}

	id := st.nextID
	path := s.segmentPath(st.kind, id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: create segment: %w", err)
	}
	if _, err := f.Write([]byte(segmentMagic)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	s.syncDir()

	st.nextID++
	st.writer = f
	st.segments = append(st.segments, &segment{id: id, path: path, size: int64(len(segmentMagic)), end: int64(len(segmentMagic))})
	s.bytes += int64(len(segmentMagic))
	return nil
}

// Next returns the oldest unacknowledged record, from Events before Metrics, and false when there
// is none. It returns the same record until that record is acknowledged or deleted to make room.
func (s *Spool) Next() (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, false, errors.New("spool: read after close")
	}

	for _, st := range s.streams {
		for len(st.segments) > 0 {
			rec, err := s.readHead(st)
			if err == nil {
				return rec, true, nil
			}
			if !errors.Is(err, io.EOF) {
				return Record{}, false, err
			}
			if len(st.segments) == 1 {
				break // the segment being written has nothing more yet
			}
			s.removeHead(st)
		}
	}
	return Record{}, false, nil
}

// readHead reads the record at the read position of st, or returns io.EOF at the readable end.
func (s *Spool) readHead(st *stream) (Record, error) {
	seg := st.segments[0]
	if st.offset >= seg.end {
		return Record{}, io.EOF
	}

	if st.reader == nil || st.readerID != seg.id {
		if st.reader != nil {
			st.reader.Close()
		}
		f, err := os.Open(seg.path)
		if err != nil {
			return Record{}, fmt.Errorf("spool: open segment: %w", err)
		}
		st.reader = f
		st.readerID = seg.id
	}

	header := make([]byte, headerSize)
	if _, err := st.reader.ReadAt(header, st.offset); err != nil {
		return Record{}, fmt.Errorf("spool: read %s at %d: %w", seg.path, st.offset, err)
	}
	length := int64(header[0])<<24 | int64(header[1])<<16 | int64(header[2])<<8 | int64(header[3])
	if st.offset+headerSize+length > seg.end {
		return Record{}, fmt.Errorf("spool: %s: record at offset %d runs past the end of the segment", seg.path, st.offset)
	}

	buf := make([]byte, headerSize+length)
	if _, err := st.reader.ReadAt(buf, st.offset); err != nil {
		return Record{}, fmt.Errorf("spool: read %s at %d: %w", seg.path, st.offset, err)
	}
	rec, n, err := decodeRecord(buf)
	if err != nil {
		return Record{}, fmt.Errorf("spool: %s at offset %d: %w", seg.path, st.offset, err)
	}

	return Record{
		Stream:  st.kind,
		Payload: rec.payload,
		Items:   rec.items,
		Time:    rec.time,
		segment: seg.id,
		offset:  st.offset,
		end:     st.offset + int64(n),
	}, nil
}

// Ack marks rec as delivered: it moves the read position past rec, writes the position to disk and
// deletes a segment that has nothing left to read. Acknowledging a record that was deleted to make
// room, or was acknowledged already, does nothing.
func (s *Spool) Ack(rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: acknowledge after close")
	}

	st := s.streams[rec.Stream]
	if len(st.segments) == 0 || st.segments[0].id != rec.segment || st.offset != rec.offset {
		return nil
	}

	seg := st.segments[0]
	st.offset = rec.end
	seg.acked++
	seg.ackedN += rec.Items

	if err := s.writeAck(st.kind, seg.id, st.offset); err != nil {
		return err
	}
	if st.offset >= seg.end {
		s.removeHead(st)
	}
	return nil
}

// writeAck replaces the stream's read position file through a temporary file and a rename.
func (s *Spool) writeAck(kind Stream, id uint64, offset int64) error {
	path := s.ackPath(kind)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: write read position: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d %d\n", id, offset)
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("spool: write read position %s: %w", path, err)
	}
	s.syncDir()
	return nil
}

func (s *Spool) syncDir() {
	if s.opts.NoSync {
		return
	}
	if dir, err := os.Open(s.opts.Dir); err == nil {
		dir.Sync()
		dir.Close()
	}
}

// Room returns how many bytes of Events records still fit, counting the space that deleting every
// Metrics segment would free.
func (s *Spool) Room() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()

	used := s.bytes
	for _, seg := range s.streams[Metrics].segments {
		used -= seg.size
	}
	return s.opts.MaxBytes - used
}

// Pending returns the number of unacknowledged records in both streams.
func (s *Spool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()

	n := 0
	for _, st := range s.streams {
		for _, seg := range st.segments {
			n += seg.records - seg.acked
		}
	}
	return n
}

// Stats returns the spool's sizes and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()

	stats := Stats{
		Bytes:          s.bytes,
		MaxBytes:       s.opts.MaxBytes,
		DroppedRecords: s.droppedRecords,
		DroppedItems:   s.droppedItems,
		CorruptBytes:   s.corruptBytes,
	}
	if s.closed {
		return stats
	}

	for _, st := range s.streams {
		for _, seg := range st.segments {
			stats.Records[st.kind] += seg.records - seg.acked
			stats.Items[st.kind] += seg.items - seg.ackedN
		}
		if t, ok := s.headTime(st); ok && (stats.Oldest.IsZero() || t.Before(stats.Oldest)) {
			stats.Oldest = t
		}
	}
	return stats
}

// headTime returns the append time of the record at the read position of st.
func (s *Spool) headTime(st *stream) (time.Time, bool) {
	for i, seg := range st.segments {
		offset := int64(len(segmentMagic))
		if i == 0 {
			offset = st.offset
		}
		if offset >= seg.end {
			continue
		}

		f, err := os.Open(seg.path)
		if err != nil {
			return time.Time{}, false
		}
		header := make([]byte, headerSize)
		_, err = f.ReadAt(header, offset)
		f.Close()
		if err != nil {
			return time.Time{}, false
		}
		nanos := int64(0)
		for _, b := range header[8:16] {
			nanos = nanos<<8 | int64(b)
		}
		return time.Unix(0, nanos), true
	}
	return time.Time{}, false
}

// Close closes the spool's files and releases the directory. Unacknowledged records stay for the
// next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

func (s *Spool) closeFiles() error {
	var errs []error
	for _, st := range s.streams {
		if st == nil {
			continue
		}
		if st.writer != nil {
			errs = append(errs, st.writer.Close())
		}
		if st.reader != nil {
			st.reader.Close()
		}
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}
