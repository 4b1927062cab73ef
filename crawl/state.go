package crawl

import (
	"context"

	"github.com/trawl/trawl/frontier"
	"github.com/trawl/trawl/storage"
)

// State is the crawl's state as the engine uses it, the one owner of URL
// state: the URL queue and seen-set, the visits, what is pending. The engine
// reads and writes it only through this interface; storage.DB (SQLite) is
// the implementation today, and a store shared by several crawler processes
// is meant to be a second one.
//
// The file, not the engine's memory, decides whether a URL is new: the engine
// sends what it discovered with each visit (after a cheap in-memory check that
// drops most URLs it knows); the writer keeps them with the visit and checks
// them against the queue in large sorted merges, and reports the new ones
// (storage.Commit.Queued). Only then are they handed to the frontier, so the
// frontier counts only what the file holds, and a URL in memory is always in
// the file first.
type State interface {
	// Write is the single writer: it commits the visits it receives from
	// rows in batches until rows is closed, and after each transaction calls
	// committed with what it did: the visits, the URLs it queued, how many
	// discovered URLs it checked, its error.
	Write(ctx context.Context, cfg storage.WriterConfig, rows <-chan storage.Visit, committed func(storage.Commit)) error
	// Lease returns up to n of host's queued URLs with a seq above after, in
	// queue order, changing nothing (the frontier remembers the last seq it
	// took; a URL stays queued until its visit is written, so a crawler that
	// dies leaves nothing to reclaim).
	Lease(ctx context.Context, host string, after int64, n int) ([]storage.URL, error)
	// QueuedHosts lists what is pending: each host with queued URLs, and how many.
	QueuedHosts(ctx context.Context, fn func(host string, n int) error) error
	// URLsPerHost counts every URL of each host, for Config.MaxPagesPerHost.
	URLsPerHost(ctx context.Context, fn func(host string, n int) error) error
	// Seen reports whether the URL with this id (storage.URLID) is known: a
	// redirect is followed only to a URL the crawl does not have.
	Seen(ctx context.Context, id int64) (bool, error)
	// Validators returns the stored ETag and Last-Modified of the URL with
	// this id, for a recrawl's conditional request, and where its response
	// was archived, for the revisit record of a 304.
	Validators(ctx context.Context, id int64) (storage.Validators, error)
}

// storeOf adapts a State to the frontier's Store.
type storeOf struct{ s State }

// Lease implements frontier.Store.
func (st storeOf) Lease(ctx context.Context, host string, after int64, n int) ([]frontier.Item, error) {
	urls, err := st.s.Lease(ctx, host, after, n)
	if err != nil {
		return nil, err
	}
	items := make([]frontier.Item, len(urls))
	for i, u := range urls {
		items[i] = frontier.Item{URL: u.URL, Host: u.Host, Depth: u.Depth, Seq: u.Seq}
	}
	return items, nil
}
