package storage

import (
	"time"
)

// Page is the record of one fetch of a canonical URL, successful or not. It
// becomes a row of the pages table; empty strings are stored as NULL.
type Page struct {
	ID          int64         // URLID(URL); 0 means Write computes it
	Seq         int64         // url.seq of URL, as Lease or Commit.Queued gave it; 0 means Write looks it up (adding the URL when new)
	URL         string        // canonical URL requested; required
	Host        string        // host of URL
	FinalURL    string        // URL after redirects; "" when there was no response
	Status      int           // HTTP status of the final response; 0 when there was no response
	ContentType string        // Content-Type of the final response
	Title       string        // HTML <title>
	Depth       int           // link hops from a seed
	FetchedAt   time.Time     // when the fetch completed; zero means the commit time
	Duration    time.Duration // time of the last attempt; stored in milliseconds
	Size        int64         // body bytes read
	Truncated   bool          // body was cut at the size cap
	ContentHash string        // body fingerprint
	Canonical   string        // the page's <link rel=canonical>
	Redirects   []string      // URLs redirected through, in order; nil or empty is stored as NULL
	Attempts    int           // HTTP attempts, retries included; 0 means 1
	Error       string        // why the fetch failed; "" when it succeeded
	Answered    bool          // Error is the site's answer (a robots.txt denial, an HTTP 4xx), not a failure: the URL is 'done'
	ErrorClass  string        // the class of Error (see the schema's pages.error_class); "" without error
	Charset     string        // encoding the HTML was decoded from
	NoIndex     bool          // meta robots or X-Robots-Tag said noindex
	NoFollow    bool          // meta robots or X-Robots-Tag said nofollow: no link was followed
	LinksCapped bool          // the page had more links than the per-page cap
	SimHash     uint64        // SimHash of the visible text; 0 (no text, or not HTML) is stored as NULL
	ETag        string        // ETag response header
	LastMod     string        // Last-Modified response header
	Text        string        // the readable text of an HTML page, for page_fts; "" stores none
	Lang        string        // the language the page declares
	WARCFile    string        // the WARC file holding the final response's record; "" when not archived
	WARCOffset  int64         // the offset of that record in WARCFile
	// Unchanged records a recrawl answered 304 Not Modified: only the fetch
	// time, duration, attempts and crawl id of the existing row change, and
	// unchanged is set; its content columns and links stay. A URL without a
	// row gets one as any other page.
	Unchanged bool
	// Refetch says the URL may already have a page row with links (a
	// recrawl): its old links are deleted before the new ones go in. A
	// first fetch leaves it false and saves that statement: in an ordinary
	// crawl a URL is stored once, in the transaction that marks it done.
	Refetch bool
}

// Drop counts URLs not followed for one reason (see the schema's drops
// table).
type Drop struct {
	Reason  string // e.g. "scope", "too-long"
	Count   int    // how many; at least 1
	Example string // one of them, the latest
}

// Link is one outgoing link of a page (the Visit's).
type Link struct {
	Dst      string // canonical URL it points to
	DstID    int64  // URLID(Dst); 0 means Write computes it
	Nofollow bool   // the link carried rel=nofollow
	// Queued says the caller queued Dst (in this visit or before), so its
	// text is in url already; otherwise it is kept in other_urls.
	Queued bool
}

// URL is a URL to queue (Visit.Discovered), one queued (Commit.Queued) or
// one leased back (Lease).
type URL struct {
	ID    int64  // URLID(URL); 0 means Write computes it
	URL   string // canonical URL
	Host  string // its host
	Depth int    // link hops from a seed
	Seq   int64  // its place in the queue (Commit.Queued, Lease)
}

// Sitemap is one Sitemap: line of a host's robots.txt.
type Sitemap struct {
	Host string // url.URL.Host of the robots.txt
	URL  string // as written in robots.txt
}

// Visit is one unit of work for Write, committed atomically: Page (nil for
// seeds, which only discover), its Links, the URLs it Discovered and the
// removal of the visited URL from the queue (its state becomes failed when
// Page.Error is set and not Answered, else done). Discovered URLs go to the inbox, durable
// with the visit; they are checked against the URLs the file has, and the
// new ones queued, when the inbox is merged (see Commit).
type Visit struct {
	Page       *Page     // the fetch's record; nil for a visit that only queues (seeds)
	Links      []Link    // the page's outgoing links; requires Page
	Discovered []URL     // new URLs to queue
	Aliases    []URL     // redirect targets this fetch followed: recorded as done so they are never fetched on their own
	Sitemaps   []Sitemap // Sitemap lines of a robots.txt read during this fetch
	Drops      []Drop    // links and URLs not followed, by reason
	CrawlID    int64     // crawls.id from BeginCrawl; 0 stores NULL
	// Merge asks for the inbox to be merged in this visit's transaction
	// (the crawl has nothing else to do, or is starting).
	Merge bool
	// Ack is not stored: Write leaves it to the committed callback, which
	// may tell the visit's sender that it is durable.
	Ack chan error `gob:"-"`
}

// Commit is what Write did, passed to its committed callback: either a
// group of visits made durable (Batch, appended to the visit journal or
// committed to SQLite), or a transaction that applied journaled visits
// (Queued and Merged), or both at once.
type Commit struct {
	// Batch are the visits made durable, in the order received; the
	// callback must not keep the slice.
	Batch []Visit
	// Queued are the URLs this transaction queued, in queue order: the
	// inbox's URLs that the file did not have (each once). Empty unless the
	// inbox was merged.
	Queued []URL
	// Merged is how many discovered URLs left the inbox in this
	// transaction, queued or already known.
	Merged int
	// Err is nil on success. A failed batch stored nothing; a merge that
	// failed after its batch was committed leaves the batch stored and the
	// inbox for the next merge (Queued lists what it queued, if it did).
	Err error
}

// WriterConfig tunes Write. The zero value is ready to use.
type WriterConfig struct {
	BatchSize  int           // visits per transaction; 0 means 256
	FlushEvery time.Duration // how long a partial batch may linger for more visits; 0 means none (group commit)
	// ApplyAt is how many journaled visits are applied to SQLite in one
	// transaction; 0 means 512, and 1 means no journal: each group of
	// visits is committed to SQLite before it is reported durable.
	ApplyAt int
	// ApplyEvery is how long journaled visits may wait to be applied when
	// fewer than ApplyAt arrive (what a reader of the file sees lags the
	// crawl by at most this); 0 means 500 ms.
	ApplyEvery time.Duration
	// MergeAt is how many discovered URLs the inbox holds before they are
	// merged into the queue; 0 means 20,000. Large merges are what make
	// the seen check cheap (a sorted pass over the url B-tree instead of a
	// random leaf per URL); Visit.Merge merges sooner.
	MergeAt int
}

func (c WriterConfig) withDefaults() WriterConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}
	if c.MergeAt <= 0 {
		c.MergeAt = 20_000
	}
	if c.ApplyAt <= 0 {
		c.ApplyAt = 512
	}
	if c.ApplyEvery <= 0 {
		c.ApplyEvery = 500 * time.Millisecond
	}

	return c
}

// Gather is the single writer's receiving loop, shared by the stores that
// implement Write: it receives visits from rows until the channel is closed
// and hands them to flush in batches: each batch is whatever has queued up
// since the last flush (at most cfg.BatchSize, lingering cfg.FlushEvery for
// more if set). It never stops receiving, so senders need no select. Once
// rows is closed it calls flush a last time with final set (and a batch that
// may be empty). flush must not keep the batch: its backing array is reused.
func Gather(cfg WriterConfig, rows <-chan Visit, flush func(batch []Visit, final bool)) {
	cfg = cfg.withDefaults()
	batch := make([]Visit, 0, cfg.BatchSize)
	timer := time.NewTimer(cfg.FlushEvery)
	timer.Stop()
	defer timer.Stop()
	done := func(final bool) {
		flush(batch, final)
		clear(batch) // drop references to pages and links before reuse
		batch = batch[:0]
	}
	closed := false
	for !closed {
		v, ok := <-rows
		if !ok {
			break
		}
		batch = append(batch, v)
		// Group commit: take what is already waiting (up to BatchSize),
		// linger FlushEvery for more, then commit. A sender that waits for
		// its visit's commit (the crawl's workers do) loses at most the
		// visits in flight to a crash.
		var linger <-chan time.Time
		if cfg.FlushEvery > 0 {
			timer.Reset(cfg.FlushEvery)
			linger = timer.C
		}
		closed = gather(cfg.BatchSize, rows, &batch, linger)
		timer.Stop()
		done(false)
	}
	done(true)
}

// gather appends to batch what rows has ready, up to size, waiting for more
// until linger fires (nil: not at all); it reports whether rows was closed.
func gather(size int, rows <-chan Visit, batch *[]Visit, linger <-chan time.Time) bool {
	for len(*batch) < size {
		select {
		case v, ok := <-rows:
			if !ok {
				return true
			}
			*batch = append(*batch, v)
			continue
		default:
		}
		if linger == nil {
			return false
		}
		select {
		case v, ok := <-rows:
			if !ok {
				return true
			}
			*batch = append(*batch, v)
		case <-linger:
			linger = nil
		}
	}
	return false
}
