package crawl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/frontier"
	"github.com/trawl/trawl/storage"
)

// crawlRun is the state of one Run: its contexts, the writer's channel and how
// the crawl fails. The Engine holds what lasts (configuration, frontier,
// counters); a run holds what one call of Run threads through its workers.
type crawlRun struct {
	e *Engine
	// ctx ends the crawl: no new URL starts after it ends. Its cause is
	// the writer's error when the writer failed.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// fetchCtx is what fetches in flight run under: it ends Grace after
	// ctx does, or at once when the writer fails.
	fetchCtx  context.Context
	stopFetch context.CancelFunc
	stopGrace func() bool

	graceMu    sync.Mutex  // guards graceTimer
	graceTimer *time.Timer // set when ctx ends

	rows chan<- storage.Visit // to the writer; closed by Engine.Run
}

// newRun derives the run's contexts from ctx.
func newRun(ctx context.Context, e *Engine) *crawlRun {
	r := &crawlRun{e: e}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	r.fetchCtx, r.stopFetch = context.WithCancel(context.WithoutCancel(ctx))
	r.stopGrace = context.AfterFunc(r.ctx, func() {
		r.graceMu.Lock()
		r.graceTimer = time.AfterFunc(e.cfg.Grace, r.stopFetch)
		r.graceMu.Unlock()
	})
	return r
}

// close releases the run's timers and contexts.
func (r *crawlRun) close() {
	r.stopGrace()
	r.graceMu.Lock()
	if r.graceTimer != nil {
		r.graceTimer.Stop()
	}
	r.graceMu.Unlock()
	r.stopFetch()
	r.cancel(nil)
}

// fail stops the crawl for a storage error, fetches in flight included.
func (r *crawlRun) fail(err error) {
	r.cancel(err)
	r.stopFetch()
}

// send hands v to the writer and waits until it is committed (or its batch
// failed). v.Ack is set here when the caller left it nil.
func (r *crawlRun) send(v storage.Visit) error {
	if v.Ack == nil {
		v.Ack = make(chan error, 1)
	}
	r.rows <- v // the writer never stops receiving until rows is closed
	return <-v.Ack
}

// committed is the writer's callback after each transaction. The URLs its
// visits discovered are held by the frontier until a merge says which are
// new (so the crawl does not end while they wait); the new ones go to the
// frontier (its counts are what the state holds, never more); then each
// visit's sender is told.
func (r *crawlRun) committed(c storage.Commit) {
	e := r.e
	if c.Err != nil {
		r.fail(c.Err)
	} else {
		for i := range c.Batch {
			e.front.Hold(len(c.Batch[i].Discovered))
		}
		items := make([]frontier.Item, len(c.Queued))
		for i, u := range c.Queued {
			items[i] = frontier.Item{URL: u.URL, Host: u.Host, Depth: u.Depth, Seq: u.Seq}
		}
		e.counts.discovered.Add(int64(len(items)))
		if e.leases != nil {
			e.leases.push(items) // only the hosts this process holds
		} else {
			for _, it := range items {
				e.front.Push(it)
			}
		}
		e.front.Release(c.Merged)
	}
	for i := range c.Batch {
		if ack := c.Batch[i].Ack; ack != nil {
			ack <- c.Err // buffered: one send per visit
		}
	}
}

// starved asks the writer to merge the URLs it holds now (frontier.Config.
// Starved: the queue is running dry). It runs on a worker's goroutine, before
// rows is closed; the writer never stops receiving.
func (r *crawlRun) starved() {
	if r.e.leases != nil { // nothing waits to be merged: claim more hosts
		r.e.leases.wake()
		return
	}
	r.rows <- storage.Visit{Merge: true}
}

// crawl restores the queue, queues new seeds and runs the workers.
func (r *crawlRun) crawl(seeds []*url.URL) error {
	e := r.e
	if e.cfg.MaxPagesPerHost > 0 {
		if err := e.state.URLsPerHost(r.ctx, func(host string, n int) error { e.perHost.set(host, n); return nil }); err != nil {
			return fmt.Errorf("crawl: %w", err)
		}
	}
	restored, err := r.restore()
	if err != nil {
		return err
	}
	fresh, err := r.queueSeeds(seeds)
	if err != nil {
		return err
	}
	if e.cfg.Sitemaps {
		if err := e.seedSitemaps(r.ctx, seeds, r.send); err != nil {
			return err
		}
	}
	e.log.Info("crawl started", "seeds", len(seeds), "new_seeds", fresh, "queued", restored, "workers", e.cfg.Workers)

	leaseCtx, stopLeases := context.WithCancel(r.ctx)
	var lwg sync.WaitGroup
	if e.leases != nil {
		lwg.Go(func() { e.leases.run(leaseCtx) })
	}
	var wg sync.WaitGroup
	for range e.cfg.Workers {
		wg.Go(func() {
			ack := make(chan error, 1) // reused: one visit at a time
			for {
				it, err := e.front.Next(r.ctx)
				if err != nil {
					if !errors.Is(err, io.EOF) && r.ctx.Err() == nil {
						r.fail(err) // the queue in the state could not be read
					}
					return
				}
				if !e.pause.wait(r.ctx) { // interrupted while paused: it stays queued in the file
					e.front.Done(it)
					return
				}
				if e.leases != nil && !e.leases.valid(it.Host) {
					e.front.Done(it) // its host's lease lapsed: it stays queued for the holder
					continue
				}
				r.visit(it, ack)
			}
		})
	}
	wg.Wait()
	stopLeases()
	lwg.Wait()
	if e.leases != nil { // every visit is committed: the hosts may go to others
		e.leases.stop(context.WithoutCancel(r.ctx))
	}
	return r.ctx.Err()
}

// restore tells the frontier what the state holds queued, and returns how
// many URLs: every host's, or, when the state is shared (HostLeaser), none
// (the lease loop claims hosts) and the frontier holds one URL for the
// fleet until the whole crawl is done.
func (r *crawlRun) restore() (int, error) {
	e := r.e
	if e.leases != nil {
		e.front.Hold(1)
		return 0, nil
	}
	restored := 0
	err := e.state.QueuedHosts(r.ctx, func(host string, n int) error {
		restored += n
		e.front.AddStored(host, n)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("crawl: restore queue: %w", err)
	}
	return restored, nil
}

// queueSeeds sends the seeds the crawl does not know to the writer, with a
// merge (which also queues what a killed run left unmerged), and returns how
// many were new.
func (r *crawlRun) queueSeeds(seeds []*url.URL) (int, error) {
	e := r.e
	v := storage.Visit{Merge: true, CrawlID: e.cfg.CrawlID}
	for _, u := range seeds {
		key := u.String()
		id := dedupe.URLFingerprint(key)
		if !e.known.Add(id) {
			continue
		}
		if e.cfg.MaxPagesPerHost > 0 && !e.perHost.take(u.Host, e.cfg.MaxPagesPerHost) {
			e.known.Remove(id)
			continue
		}
		v.Discovered = append(v.Discovered, storage.URL{ID: id, URL: key, Host: u.Host, Depth: 0})
	}
	before := e.counts.discovered.Load()
	if err := r.send(v); err != nil {
		return 0, fmt.Errorf("crawl: queue seeds: %w", err)
	}
	return int(e.counts.discovered.Load() - before), nil
}
