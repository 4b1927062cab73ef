package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
)

// The visit journal (PATH.visits) makes a visit durable with one write():
// the writer appends each group of visits it receives to the journal and
// tells their senders they are safe, and applies them to SQLite later, many
// groups in one transaction. A crawl's CPU went mostly to SQLite's per-commit
// work (WAL frames, two pwrite calls each, about 26 of them per commit of
// 13 visits): a transaction per 1,000 visits instead of per 13 costs a
// fraction of it, and the kill -9 bound stays exact, because a visit is
// acknowledged only once it is in the journal.
//
// Layout: an 8-byte magic, then records. A record is a 4-byte little-endian
// length n, a 4-byte CRC-32C of the n bytes that follow, an 8-byte record
// number, and n-8 bytes of visits (journal_codec.go; in a journal of format 1,
// a gob stream that runs from the file's first record to its last). The record
// number of the last record applied to SQLite is stored in the same
// transaction as its visits (counters 'journal'), so that replaying after a
// crash applies exactly the records that were not, and a torn last record
// (a write cut short) ends the journal. Once everything in it is applied and
// it has grown past journalRewindAt, the writer goes back to its start and
// writes over the old records (emptying it instead made every later write
// allocate the file's blocks and page cache anew: the profile had those at
// 1 % of the crawler's CPU); a reader stops at the first record whose number
// does not follow the one before, so the old records after the new ones are
// never read as new. The file is emptied when a writer opens it.

// journalMagic starts every journal file; journalMagicGob started those of
// format 1, which are still read.
const (
	journalMagic    = "TRAWLJ2\n"
	journalMagicGob = "TRAWLJ1\n"
)

// journalRewindAt is the size past which an applied journal is written
// again from its start (a variable for the tests).
var journalRewindAt int64 = 8 << 20

// journalHeader is a record's length, CRC and number.
const journalHeader = 16

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journal is the writer's open journal file.
type journal struct {
	f    *os.File
	path string
	size int64
	last uint64 // number of the last record written
	rec  []byte // the record being written
	err  error  // a failed write: nothing more is appended
}

// journalPath is the journal file of the crawl database at abs.
func journalPath(abs string) string { return abs + ".visits" }

// openJournal opens (creating) the journal at path for appending after
// record number last (the last one applied): the caller has replayed what
// it held. It empties the file.
func openJournal(path string, last uint64) (*journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open visit journal: %w", err)
	}
	j := &journal{f: f, path: path, last: last}
	if err := j.reset(); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

// reset empties the file down to its magic.
func (j *journal) reset() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("empty visit journal: %w", err)
	}
	if _, err := j.f.WriteAt([]byte(journalMagic), 0); err != nil {
		return fmt.Errorf("write visit journal: %w", err)
	}
	j.size = int64(len(journalMagic))
	return nil
}

// append writes visits as the next record, in one write, and returns its
// number. Visits holding nothing to store (merge requests) are left out by
// the caller.
func (j *journal) append(visits []Visit) (uint64, error) {
	if j.err != nil {
		return 0, j.err
	}
	// The record is built in one buffer: its header's room, then the visits
	// (a page's text is copied once on its way to the file).
	var room [journalHeader]byte
	rec := appendVisits(append(j.rec[:0], room[:]...), visits)
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-journalHeader+8))
	binary.LittleEndian.PutUint64(rec[8:], j.last+1)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], crcTable))
	if _, err := j.f.WriteAt(rec, j.size); err != nil {
		// A later record after a gap would not be read: stop appending.
		j.err = fmt.Errorf("write visit journal: %w", err)
		return 0, j.err
	}
	j.size += int64(len(rec))
	j.last++
	if cap(rec) <= 4<<20 {
		j.rec = rec // reused; one huge record does not pin its buffer
	}
	return j.last, nil
}

// applied is called after the records up to last are in SQLite: the next
// record goes at the file's start when it has grown large and holds nothing
// else to apply.
func (j *journal) applied(last uint64) {
	if last == j.last && j.size > journalRewindAt {
		j.size = int64(len(journalMagic))
	}
}

// close closes the file (its records are applied or stay for the replay).
func (j *journal) close() error { return j.f.Close() }

// errJournalForeign marks a journal file that is not ours.
var errJournalForeign = errors.New("not a trawl visit journal")

// readJournal calls fn with each complete record of the journal at path, in
// order, with its number and visits; it stops at the first torn or damaged
// record (the tail of a write that a kill cut short). A missing or empty
// file has no records. fn's visits are its own.
func readJournal(path string, fn func(n uint64, visits []Visit) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read visit journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	magic := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && bytes.HasPrefix([]byte(journalMagic), magic) {
			return nil // cut while its magic was written
		}
		return fmt.Errorf("read visit journal %s: %w", path, errJournalForeign)
	}
	var decode func([]byte) ([]Visit, error)
	switch string(magic) {
	case journalMagic:
		decode = decodeVisits
	case journalMagicGob:
		var stream bytes.Buffer
		dec := gob.NewDecoder(&stream)
		decode = func(b []byte) ([]Visit, error) {
			stream.Write(b)
			var visits []Visit
			err := dec.Decode(&visits)
			return visits, err
		}
	default:
		return fmt.Errorf("read visit journal %s: %w", path, errJournalForeign)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read visit journal: %w", err)
	}
	left := st.Size() - int64(len(journalMagic)) // bytes after the current position
	hdr := make([]byte, journalHeader)
	var prev uint64
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil // the end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		if n < 8 || int64(n)+8 > left {
			return nil // torn, or not a record (old bytes after a rewind)
		}
		left -= int64(n) + 8
		body := make([]byte, n)
		copy(body, hdr[8:])
		if _, err := io.ReadFull(r, body[8:]); err != nil {
			return nil // torn
		}
		if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			return nil // damaged: nothing after it was acknowledged as ordered
		}
		num := binary.LittleEndian.Uint64(body)
		if !first && num != prev+1 {
			return nil // an old record, written before the journal was rewound
		}
		prev = num
		visits, err := decode(body[8:])
		if err != nil {
			return fmt.Errorf("decode visit journal record %d: %w", binary.LittleEndian.Uint64(body), err)
		}
		if err := fn(binary.LittleEndian.Uint64(body), visits); err != nil {
			return err
		}
	}
}

// replay applies what the visit journal holds and SQLite does not (see
// replayJournal), on statements of its own.
func (db *DB) replay(ctx context.Context) error {
	ws, err := db.prepareWrite(ctx)
	if err != nil {
		return err
	}
	defer ws.close()
	if _, err = db.replayJournal(ctx, ws); err == nil {
		db.replayed.Store(true) // Write need not read the journal again
	}
	return err
}

// replayJournal applies the journal's records that SQLite does not have yet,
// in one transaction, with ws; it returns the number of the last record.
func (db *DB) replayJournal(ctx context.Context, ws *writeStmts) (uint64, error) {
	applied := ws.journaled
	var pending []Visit
	last := applied
	err := readJournal(journalPath(db.abs), func(n uint64, visits []Visit) error {
		if n > applied {
			pending = append(pending, visits...)
			last = n
		}
		return nil
	})
	if err != nil || last == applied {
		return applied, err
	}
	ws.journaled = last
	c := Commit{Batch: pending}
	if err := db.commit(ctx, ws, &c, math.MaxInt, false); err != nil {
		return applied, fmt.Errorf("replay %d journaled visits: %w", len(pending), err)
	}
	db.log.Info("replayed visit journal", "visits", len(pending), "records", last-applied)
	return last, nil
}
