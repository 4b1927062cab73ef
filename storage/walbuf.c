// A VFS that forwards everything to SQLite's default one, except that it
// gathers the writes to a WAL file that follow one another into one buffer
// and writes it with one call when the transaction's commit frame is in it,
// or before anything else touches the file; and reads ahead in the WAL when
// its frames are read one after another, as a checkpoint does. SQLite writes each WAL frame with
// two pwrite calls (its 24-byte header, then the page): a transaction of 500
// visits was about 2,000 calls, and on a virtual machine each system call
// costs more than the copy it makes. See walbuf.go.
//
// The declarations below are those of sqlite3.h (SQLite is in the public
// domain) that this file needs; the functions are the ones that
// github.com/mattn/go-sqlite3 compiles into the program.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

typedef long long sqlite3_int64;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;
typedef void (*sqlite3_syscall_ptr)(void);

struct sqlite3_file {
	const struct sqlite3_io_methods *pMethods;
};

struct sqlite3_io_methods {
	int iVersion;
	int (*xClose)(sqlite3_file *);
	int (*xRead)(sqlite3_file *, void *, int iAmt, sqlite3_int64 iOfst);
	int (*xWrite)(sqlite3_file *, const void *, int iAmt, sqlite3_int64 iOfst);
	int (*xTruncate)(sqlite3_file *, sqlite3_int64 size);
	int (*xSync)(sqlite3_file *, int flags);
	int (*xFileSize)(sqlite3_file *, sqlite3_int64 *pSize);
	int (*xLock)(sqlite3_file *, int);
	int (*xUnlock)(sqlite3_file *, int);
	int (*xCheckReservedLock)(sqlite3_file *, int *pResOut);
	int (*xFileControl)(sqlite3_file *, int op, void *pArg);
	int (*xSectorSize)(sqlite3_file *);
	int (*xDeviceCharacteristics)(sqlite3_file *);
	int (*xShmMap)(sqlite3_file *, int iPg, int pgsz, int, void volatile **);
	int (*xShmLock)(sqlite3_file *, int offset, int n, int flags);
	void (*xShmBarrier)(sqlite3_file *);
	int (*xShmUnmap)(sqlite3_file *, int deleteFlag);
	int (*xFetch)(sqlite3_file *, sqlite3_int64 iOfst, int iAmt, void **pp);
	int (*xUnfetch)(sqlite3_file *, sqlite3_int64 iOfst, void *p);
};

struct sqlite3_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	sqlite3_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(sqlite3_vfs *, const char *zName, sqlite3_file *, int flags, int *pOutFlags);
	int (*xDelete)(sqlite3_vfs *, const char *zName, int syncDir);
	int (*xAccess)(sqlite3_vfs *, const char *zName, int flags, int *pResOut);
	int (*xFullPathname)(sqlite3_vfs *, const char *zName, int nOut, char *zOut);
	void *(*xDlOpen)(sqlite3_vfs *, const char *zFilename);
	void (*xDlError)(sqlite3_vfs *, int nByte, char *zErrMsg);
	void (*(*xDlSym)(sqlite3_vfs *, void *, const char *zSymbol))(void);
	void (*xDlClose)(sqlite3_vfs *, void *);
	int (*xRandomness)(sqlite3_vfs *, int nByte, char *zOut);
	int (*xSleep)(sqlite3_vfs *, int microseconds);
	int (*xCurrentTime)(sqlite3_vfs *, double *);
	int (*xGetLastError)(sqlite3_vfs *, int, char *);
	int (*xCurrentTimeInt64)(sqlite3_vfs *, sqlite3_int64 *);
	int (*xSetSystemCall)(sqlite3_vfs *, const char *zName, sqlite3_syscall_ptr);
	sqlite3_syscall_ptr (*xGetSystemCall)(sqlite3_vfs *, const char *zName);
	const char *(*xNextSystemCall)(sqlite3_vfs *, const char *zName);
};

sqlite3_vfs *sqlite3_vfs_find(const char *zVfsName);
int sqlite3_vfs_register(sqlite3_vfs *, int makeDflt);

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_OPEN_MAIN_DB 0x00000100
#define SQLITE_OPEN_WAL 0x00080000
#define SQLITE_FCNTL_CKPT_DONE 37
#define SQLITE_FCNTL_CKPT_START 39

// walbufSize is the most a WAL file's buffer holds before it is written: less
// than 128 KiB, because the unix VFS writes at most 0x1ffff bytes per call
// (it masks the length).
#define walbufSize (120 << 10)
// walFrameHeader is the size of a WAL frame's header, whose bytes 4 to 7
// (big-endian) are non-zero in a transaction's commit frame.
#define walFrameHeader 24
// readaheadSize is how much of the WAL one read fetches once reads follow
// one another frame by frame (a checkpoint copying pages to the database
// file reads each frame's page with its own call).
#define readaheadSize (128 << 10)

typedef struct BufFile {
	sqlite3_file base;
	sqlite3_file *real;   // the default VFS's file, right after this struct
	char *buf;            // malloc'd on the first write; walbufSize bytes
	int n;                // bytes in buf
	sqlite3_int64 off;    // file offset of buf[0]
	int commitNext;       // the last write was a commit frame's header: write out after its page
	char *rbuf;           // read-ahead: malloc'd on the first sequential read; readaheadSize bytes
	int rlen;             // bytes of the file in rbuf (0: none)
	sqlite3_int64 roff;   // file offset of rbuf[0]
	sqlite3_int64 rnext;  // where the next frame's page starts, after the last read
	int ckpt;             // database file: between a checkpoint's CKPT_START and CKPT_DONE
} BufFile;

static sqlite3_vfs walbufVfs;
static sqlite3_vfs *realVfs;

// flush writes out the buffer.
static int flush(BufFile *f) {
	if (f->n == 0) {
		return SQLITE_OK;
	}
	int rc = f->real->pMethods->xWrite(f->real, f->buf, f->n, f->off);
	f->off += f->n;
	f->n = 0;
	return rc;
}

static int bClose(sqlite3_file *p) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	int rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = 0;
	free(f->rbuf);
	f->rbuf = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

// bRead reads through the read-ahead buffer. The file changes only through
// this connection's writes (the one writer), and each write empties the
// buffer, so what it holds is what the file holds. A read that starts where
// the previous one's next frame's page does (a checkpoint's pattern) fills
// the buffer with what follows, as far as the file goes; other reads go to
// the file as they are.
static int bRead(sqlite3_file *p, void *b, int n, sqlite3_int64 off) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	if (rc != SQLITE_OK) {
		return rc;
	}
	if (f->rlen > 0 && off >= f->roff && off + n <= f->roff + f->rlen) {
		memcpy(b, f->rbuf + (off - f->roff), n);
		f->rnext = off + n + walFrameHeader;
		return SQLITE_OK;
	}
	int sequential = off == f->rnext;
	f->rnext = off + n + walFrameHeader;
	sqlite3_int64 size;
	if (!sequential || n > readaheadSize / 2 ||
		f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK || size - off < readaheadSize) {
		// Not a run of frames, or too near the end of the file for a
		// read-ahead to pay (a short read would be SQLite's to handle).
		return f->real->pMethods->xRead(f->real, b, n, off);
	}
	if (f->rbuf == 0 && (f->rbuf = malloc(readaheadSize)) == 0) {
		return f->real->pMethods->xRead(f->real, b, n, off);
	}
	f->rlen = 0;
	rc = f->real->pMethods->xRead(f->real, f->rbuf, readaheadSize, off);
	if (rc != SQLITE_OK) {
		return f->real->pMethods->xRead(f->real, b, n, off);
	}
	f->roff = off;
	f->rlen = readaheadSize;
	memcpy(b, f->rbuf, n);
	return SQLITE_OK;
}

static int bWrite(sqlite3_file *p, const void *b, int n, sqlite3_int64 off) {
	BufFile *f = (BufFile *)p;
	f->rlen = 0; // the read-ahead may hold what this replaces
	int commit = f->commitNext;
	f->commitNext = n == walFrameHeader && (((const unsigned char *)b)[4] | ((const unsigned char *)b)[5] |
		((const unsigned char *)b)[6] | ((const unsigned char *)b)[7]) != 0;
	if (f->buf == 0) {
		f->buf = malloc(walbufSize);
	}
	if (f->buf == 0 || off != f->off + f->n || n > walbufSize) {
		// Not a continuation of the buffer (a frame or header rewritten in
		// place, the header of a restarted WAL, the first frame after
		// those), or too large: written as it is, after what is buffered.
		// The buffer starts again after it.
		int rc = flush(f);
		if (rc != SQLITE_OK) {
			return rc;
		}
		f->off = off + n;
		return f->real->pMethods->xWrite(f->real, b, n, off);
	}
	if (f->n + n > walbufSize) {
		int rc = flush(f);
		if (rc != SQLITE_OK) {
			return rc;
		}
	}
	memcpy(f->buf + f->n, b, n);
	f->n += n;
	if (commit) {
		// The commit frame is complete: the transaction is in the file
		// before SQLite publishes it to readers in the WAL index. (A
		// checksum rewrite after it writes in place, unbuffered.)
		return flush(f);
	}
	return SQLITE_OK;
}

static int bTruncate(sqlite3_file *p, sqlite3_int64 size) {
	BufFile *f = (BufFile *)p;
	f->rlen = 0;
	int rc = flush(f);
	if (rc != SQLITE_OK) {
		return rc;
	}
	return f->real->pMethods->xTruncate(f->real, size);
}

static int bSync(sqlite3_file *p, int flags) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	if (rc != SQLITE_OK) {
		return rc;
	}
	return f->real->pMethods->xSync(f->real, flags);
}

static int bFileSize(sqlite3_file *p, sqlite3_int64 *size) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	if (rc != SQLITE_OK) {
		return rc;
	}
	return f->real->pMethods->xFileSize(f->real, size);
}

static int bLock(sqlite3_file *p, int l) { return ((BufFile *)p)->real->pMethods->xLock(((BufFile *)p)->real, l); }
static int bUnlock(sqlite3_file *p, int l) { return ((BufFile *)p)->real->pMethods->xUnlock(((BufFile *)p)->real, l); }
static int bCheckReservedLock(sqlite3_file *p, int *out) {
	return ((BufFile *)p)->real->pMethods->xCheckReservedLock(((BufFile *)p)->real, out);
}

static int bFileControl(sqlite3_file *p, int op, void *arg) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	if (rc != SQLITE_OK) {
		return rc;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int bSectorSize(sqlite3_file *p) { return ((BufFile *)p)->real->pMethods->xSectorSize(((BufFile *)p)->real); }
static int bDeviceCharacteristics(sqlite3_file *p) {
	return ((BufFile *)p)->real->pMethods->xDeviceCharacteristics(((BufFile *)p)->real);
}

static sqlite3_io_methods walbufMethods = {
	1, bClose, bRead, bWrite, bTruncate, bSync, bFileSize, bLock, bUnlock, bCheckReservedLock,
	bFileControl, bSectorSize, bDeviceCharacteristics,
};

// The database file. A checkpoint copies pages from the WAL to it in page
// order, one pwrite each; pages that follow one another in the file (the
// pages a crawl appends: page text, new B-tree leaves) are gathered and
// written with one call. Only between SQLITE_FCNTL_CKPT_START and
// SQLITE_FCNTL_CKPT_DONE, which SQLite calls around its copy loop, before it
// records in the WAL index how far the WAL is copied (readers read the
// copied pages from the file from then on): CKPT_DONE writes the buffer out.
// SQLite ignores CKPT_DONE's result, so a failed write there ends the
// process, as a crash would, rather than let SQLite record pages as copied
// that are not in the file; the WAL still holds them for the recovery. Any
// other call on the file writes the buffer out first.

static int dClose(sqlite3_file *p) { return bClose(p); }

static int dRead(sqlite3_file *p, void *b, int n, sqlite3_int64 off) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, b, n, off);
}

static int dWrite(sqlite3_file *p, const void *b, int n, sqlite3_int64 off) {
	BufFile *f = (BufFile *)p;
	if (!f->ckpt || n > walbufSize) {
		int rc = flush(f);
		return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, b, n, off);
	}
	if (f->n > 0 && (off != f->off + f->n || f->n + n > walbufSize)) {
		int rc = flush(f);
		if (rc != SQLITE_OK) {
			return rc;
		}
	}
	if (f->buf == 0 && (f->buf = malloc(walbufSize)) == 0) {
		return f->real->pMethods->xWrite(f->real, b, n, off);
	}
	if (f->n == 0) {
		f->off = off;
	}
	memcpy(f->buf + f->n, b, n);
	f->n += n;
	return SQLITE_OK;
}

static int dFileControl(sqlite3_file *p, int op, void *arg) {
	BufFile *f = (BufFile *)p;
	int rc = flush(f);
	if (op == SQLITE_FCNTL_CKPT_DONE) {
		f->ckpt = 0;
		if (rc != SQLITE_OK) {
			fprintf(stderr, "trawl-walbuf: writing checkpointed pages to the database file failed "
				"(SQLite result code %d); stopping before SQLite records them as copied\n", rc);
			abort();
		}
	} else if (op == SQLITE_FCNTL_CKPT_START) {
		f->ckpt = 1;
	}
	if (rc != SQLITE_OK) {
		return rc;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

// The other calls write the buffer out, then go to the file.
#define FLUSHED(call)                   \
	BufFile *f = (BufFile *)p;      \
	int rc = flush(f);              \
	if (rc != SQLITE_OK) {          \
		return rc;              \
	}                               \
	return f->real->pMethods->call;

static int dTruncate(sqlite3_file *p, sqlite3_int64 size) { FLUSHED(xTruncate(f->real, size)) }
static int dSync(sqlite3_file *p, int flags) { FLUSHED(xSync(f->real, flags)) }
static int dFileSize(sqlite3_file *p, sqlite3_int64 *size) { FLUSHED(xFileSize(f->real, size)) }
static int dLock(sqlite3_file *p, int l) { FLUSHED(xLock(f->real, l)) }
static int dUnlock(sqlite3_file *p, int l) { FLUSHED(xUnlock(f->real, l)) }
static int dCheckReservedLock(sqlite3_file *p, int *out) { FLUSHED(xCheckReservedLock(f->real, out)) }
static int dShmMap(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **pp) {
	FLUSHED(xShmMap(f->real, pg, pgsz, extend, pp))
}
static int dShmLock(sqlite3_file *p, int offset, int n, int flags) { FLUSHED(xShmLock(f->real, offset, n, flags)) }
static int dShmUnmap(sqlite3_file *p, int deleteFlag) { FLUSHED(xShmUnmap(f->real, deleteFlag)) }
static int dFetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp) { FLUSHED(xFetch(f->real, off, n, pp)) }
static int dUnfetch(sqlite3_file *p, sqlite3_int64 off, void *pp) { FLUSHED(xUnfetch(f->real, off, pp)) }

static void dShmBarrier(sqlite3_file *p) {
	BufFile *f = (BufFile *)p;
	f->real->pMethods->xShmBarrier(f->real);
}

static sqlite3_io_methods dbMethods = {
	3, dClose, dRead, dWrite, dTruncate, dSync, dFileSize, dLock, dUnlock, dCheckReservedLock,
	dFileControl, bSectorSize, bDeviceCharacteristics, dShmMap, dShmLock, dShmBarrier, dShmUnmap,
	dFetch, dUnfetch,
};

static int bOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *outFlags) {
	if (!(flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB))) {
		// Every other file is the default VFS's, in place.
		return realVfs->xOpen(realVfs, name, p, flags, outFlags);
	}
	BufFile *f = (BufFile *)p;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	int rc = realVfs->xOpen(realVfs, name, f->real, flags, outFlags);
	if (rc != SQLITE_OK || f->real->pMethods == 0) {
		p->pMethods = 0;
		return rc;
	}
	if (flags & SQLITE_OPEN_WAL) {
		p->pMethods = &walbufMethods;
	} else if (f->real->pMethods->iVersion >= 3) {
		p->pMethods = &dbMethods;
	} else {
		// A database file without shared memory or mmap methods: the
		// default VFS's, in place.
		f->real->pMethods->xClose(f->real);
		return realVfs->xOpen(realVfs, name, p, flags, outFlags);
	}
	return rc;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered = SQLITE_ERROR;

static void doRegister(void) {
	realVfs = sqlite3_vfs_find(0);
	if (realVfs == 0) {
		return;
	}
	walbufVfs = *realVfs;
	walbufVfs.iVersion = realVfs->iVersion;
	walbufVfs.szOsFile = (int)sizeof(BufFile) + realVfs->szOsFile;
	walbufVfs.zName = "trawl-walbuf";
	walbufVfs.pNext = 0;
	walbufVfs.xOpen = bOpen;
	registered = sqlite3_vfs_register(&walbufVfs, 0);
}

// trawl_walbuf_register registers the VFS "trawl-walbuf" once and returns
// SQLite's result code.
int trawl_walbuf_register(void) {
	pthread_once(&once, doRegister);
	return registered;
}
