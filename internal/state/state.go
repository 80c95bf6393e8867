// Package state stores natwatch's detector state in a snapshot file, so that baselines and
// windows survive a restart.
//
// A snapshot file is a header (an 8-byte magic, a format version, the payload length), the
// payload, and a CRC-32C of header and payload. WriteFile replaces a file atomically: it writes a
// temporary file in the same directory, syncs it, renames it over the old one and syncs the
// directory, so a crash leaves either the old snapshot or the new one. ReadFile rejects a file
// whose magic, version, length or checksum is wrong, and Quarantine moves such a file aside.
package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// magic starts every snapshot file.
var magic = [8]byte{'N', 'W', 'S', 'T', 'A', 'T', 'E', 0}

const headerSize = len(magic) + 2 + 8 // magic, version (uint16), payload length (uint64)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by the errors ReadFile returns for a file that is not a valid snapshot.
var ErrCorrupt = errors.New("corrupt snapshot")

// VersionError is returned by ReadFile for a valid snapshot written in another format version.
type VersionError struct {
	Path          string
	Got, Expected uint16
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("snapshot %s has format version %d, expected %d", e.Path, e.Got, e.Expected)
}

// WriteFile writes payload to path as a snapshot of the given format version, atomically.
func WriteFile(path string, version uint16, payload []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // fails harmlessly after the rename

	header := make([]byte, headerSize)
	copy(header, magic[:])
	binary.BigEndian.PutUint16(header[len(magic):], version)
	binary.BigEndian.PutUint64(header[len(magic)+2:], uint64(len(payload)))
	sum := crc32.Update(crc32.Checksum(header, crcTable), crcTable, payload)
	trailer := binary.BigEndian.AppendUint32(nil, sum)

	for _, part := range [][]byte{header, payload, trailer} {
		if _, err := tmp.Write(part); err != nil {
			tmp.Close()
			return fmt.Errorf("snapshot %s: %w", path, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot directory %s: %w", dir, err)
	}
	return nil
}

// ReadFile returns the payload of the snapshot at path. The error wraps fs.ErrNotExist when
// there is no file, ErrCorrupt when the file is damaged or not a snapshot, and is a
// *VersionError when the file has another format version.
func ReadFile(path string, version uint16) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if len(data) < headerSize+4 {
		return nil, fmt.Errorf("snapshot %s: %w: %d bytes is shorter than a header", path, ErrCorrupt, len(data))
	}
	if [8]byte(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("snapshot %s: %w: not a natwatch snapshot", path, ErrCorrupt)
	}

	length := binary.BigEndian.Uint64(data[len(magic)+2:])
	if length != uint64(len(data)-headerSize-4) {
		return nil, fmt.Errorf("snapshot %s: %w: payload length %d does not match the file size %d", path, ErrCorrupt, length, len(data))
	}
	end := len(data) - 4
	want := binary.BigEndian.Uint32(data[end:])
	if got := crc32.Checksum(data[:end], crcTable); got != want {
		return nil, fmt.Errorf("snapshot %s: %w: checksum %08x, expected %08x", path, ErrCorrupt, got, want)
	}

	if got := binary.BigEndian.Uint16(data[len(magic):]); got != version {
		return nil, &VersionError{Path: path, Got: got, Expected: version}
	}
	return data[headerSize:end], nil
}

// Quarantine renames a snapshot that could not be used to path.bad-<unix seconds>, with -2, -3 …
// appended when that name exists, so that the next snapshot does not overwrite it and an
// operator can inspect it. It returns the new name.
func Quarantine(path string, now time.Time) (string, error) {
	base := path + ".bad-" + strconv.FormatInt(now.Unix(), 10)
	aside := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = base + "-" + strconv.Itoa(n)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("snapshot %s: %w", path, err)
	}
	return aside, nil
}
