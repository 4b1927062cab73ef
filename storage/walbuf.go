package storage

// #include <stdlib.h>
// int trawl_walbuf_register(void);
import "C"

import "fmt"

// walbufVFS is the SQLite VFS of the writer's connection (walbuf.c): SQLite's
// default VFS, except that
//   - a transaction's WAL frames reach the file in one write instead of two
//     per page (measured on the crawlbench site with the visit journal:
//     59,000 pwrite calls in 5 s, most of them WAL frames, and the kernel's
//     entry and exit were the largest single cost in the profile);
//   - a checkpoint reads the WAL 128 KiB at a time, and writes the pages that
//     follow one another in the database file with one call (it made a pread
//     and a pwrite for each page: with page text, 2.3 calls a crawled page;
//     strace of 20,000 pages of the crawlbench site: 53,800 calls down to
//     6,960).
//
// It changes when bytes are written, not which: the commit frame's page is
// written with the frames before it, before SQLite publishes the transaction
// to readers in the WAL index; a checkpoint's pages are in the database file
// before SQLite records them as copied; and whatever touches a file otherwise
// (a read, a frame rewritten in place, a truncation, a sync, the size, a
// lock) writes its buffer out first. A process killed before that write
// loses a transaction that was not committed, or a checkpoint that was not
// recorded, as SQLite would.
const walbufVFS = "trawl-walbuf"

// registerWalbuf registers walbufVFS with SQLite, once.
func registerWalbuf() error {
	if rc := C.trawl_walbuf_register(); rc != 0 {
		return fmt.Errorf("register the %s SQLite VFS: result code %d", walbufVFS, rc)
	}
	return nil
}
