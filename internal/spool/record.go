package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// A segment file starts with segmentMagic and then holds records back to back. Each record is a
// 20-byte header followed by the payload:
//
//	offset  size  contents
//	0       4     payload length, big-endian
//	4       4     item count, big-endian (points in natwatch's use)
//	8       8     append time, Unix nanoseconds, big-endian
//	16      4     CRC-32C (Castagnoli) of bytes 0–15 and the payload
//	20      n     payload
const (
	segmentMagic = "NWSPOOL1"
	headerSize   = 20

	// MaxRecordBytes is the largest payload a record may carry.
	MaxRecordBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTruncated means the bytes end inside a record: the tail of a write that a crash cut off.
var errTruncated = errors.New("record truncated")

// record is one decoded record.
type record struct {
	payload []byte // aliases the decoded buffer
	items   int
	time    time.Time
}

// appendRecord encodes one record and appends it to dst.
func appendRecord(dst, payload []byte, items int, t time.Time) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(items))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.UnixNano()))

	crc := crc32.Update(0, castagnoli, dst[start:start+16])
	crc = crc32.Update(crc, castagnoli, payload)
	dst = binary.BigEndian.AppendUint32(dst, crc)
	return append(dst, payload...)
}

// decodeRecord decodes the record at the start of buf and returns it with its encoded size. It
// returns errTruncated when buf ends inside the record, and another error when the header or the
// checksum is invalid.
func decodeRecord(buf []byte) (record, int, error) {
	if len(buf) < headerSize {
		return record{}, 0, errTruncated
	}

	length := binary.BigEndian.Uint32(buf[0:4])
	items := binary.BigEndian.Uint32(buf[4:8])
	nanos := binary.BigEndian.Uint64(buf[8:16])
	want := binary.BigEndian.Uint32(buf[16:20])

	if length > MaxRecordBytes {
		return record{}, 0, fmt.Errorf("invalid record length %d: above the maximum of %d bytes", length, MaxRecordBytes)
	}
	if items > MaxRecordBytes {
		return record{}, 0, fmt.Errorf("invalid record item count %d", items)
	}
	end := headerSize + int(length)
	if len(buf) < end {
		return record{}, 0, errTruncated
	}

	crc := crc32.Update(0, castagnoli, buf[0:16])
	crc = crc32.Update(crc, castagnoli, buf[headerSize:end])
	if crc != want {
		return record{}, 0, fmt.Errorf("record checksum mismatch: stored %08x, computed %08x", want, crc)
	}

	rec := record{
		payload: buf[headerSize:end],
		items:   int(items),
		time:    time.Unix(0, int64(nanos)),
	}
	return rec, end, nil
}

// segmentScan is what scanSegment found in a segment file.
type segmentScan struct {
	records  int
	items    int
	validEnd int64 // offset just past the last valid record; the segment's readable end
	firstErr error // why the scan stopped before the end of the data, nil when it reached the end
}

// scanSegment checks the segment file contents in data, from the magic to the last valid record.
// It stops at the first truncated or invalid record, because a record's length cannot be trusted
// after that.
func scanSegment(data []byte) (segmentScan, error) {
	if len(data) < len(segmentMagic) || string(data[:len(segmentMagic)]) != segmentMagic {
		return segmentScan{}, fmt.Errorf("not a natwatch spool segment: missing the %q header", segmentMagic)
	}

	scan := segmentScan{validEnd: int64(len(segmentMagic))}
	rest := data[len(segmentMagic):]
	for len(rest) > 0 {
		rec, n, err := decodeRecord(rest)
		if err != nil {
			scan.firstErr = err
			break
		}
		scan.records++
		scan.items += rec.items
		scan.validEnd += int64(n)
		rest = rest[n:]
	}
	return scan, nil
}
