package crawl

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/frontier"
	"github.com/trawl/trawl/storage"
)

// visit fetches one URL, records the result and hands back its frontier
// slot. Every path ends at the one release point at the bottom: a visit is
// either recorded (and the slot freed once the record is committed), retried
// later, or given up for this run (interrupted, or the crawl failed), and the
// redirect targets it claimed are released unless it was recorded.
func (r *crawlRun) visit(it frontier.Item, ack chan error) {
	o := r.attempt(it)
	if o.visit == nil || r.record(it, o.visit, o.failure, ack) != nil {
		for _, a := range o.claimed { // a retry (or the next run) may follow them again
			r.e.known.Remove(a.ID)
		}
	}
	if !o.retry {
		r.e.front.Done(it)
		return
	}
	if o.attempted { // a backoff sent nothing: it is not an attempt
		it.Attempt++
	}
	if r.e.notes.note(it.Host, o.why, o.cause, time.Now().Add(o.after)) && (o.why == WaitRobots || o.why == WaitBackoff) {
		r.e.log.Info("host waits", "host", it.Host, "why", o.why, "cause", o.cause, "next_try_in", o.after.Round(time.Second))
	}
	r.e.front.Retry(it, o.after)
}

// outcome is how one attempt at a URL ended.
type outcome struct {
	visit     *storage.Visit // what to record; nil: nothing (retried, or given up for this run)
	claimed   []storage.URL  // redirect targets the fetch claimed
	retry     bool           // try again after after
	attempted bool           // with retry: a request was sent (it counts as an attempt)
	after     time.Duration
	why       string // with retry: why it waits (WaitBackoff, WaitRobots, WaitRetry)
	cause     string // with retry: what went wrong, in a few words (retryCause)
	failure   string // with visit: why the fetch failed, in a few words (failureText); "" if it did not
}

// attempt fetches it and says what to record or whether to retry.
func (r *crawlRun) attempt(it frontier.Item) outcome {
	e, ctx := r.e, r.fetchCtx
	u, err := url.Parse(it.URL)
	if err != nil { // canonical URLs always parse; a corrupt row is recorded, not fatal
		return outcome{visit: &storage.Visit{Page: &storage.Page{Error: fmt.Sprintf("parse %s: %v", it.URL, err), ErrorClass: classInvalidURL}}}
	}
	var o outcome
	if it.Denied { // robots.txt said no before a token was taken: nothing is sent
		o.visit = &storage.Visit{Page: &storage.Page{Seq: it.Seq}}
		r.describe(it, o.visit, nil, fetch.ErrDisallowed, false)
		return o
	}
	req := fetch.Request{URL: u, Reserved: true, Redirect: func(to *url.URL) error { return r.follow(it, to, &o.claimed) }}
	if e.cfg.Recrawl {
		if req.Header, req.Prior, err = r.conditional(it); err != nil {
			r.fail(fmt.Errorf("crawl: %w", err))
			return o
		}
	}
	if e.leases != nil { // a fleet: the fetch ends before its host's lease could lapse
		var done func()
		ctx, done = e.leases.guard(ctx, it.Host)
		defer done()
	}
	start := time.Now()
	res, err := e.fetcher.Fetch(ctx, req)
	if err != nil && ctx.Err() != nil {
		// Interrupted, or the host's lease could lapse: the URL stays queued
		// in the state, for the next run or the host's next holder.
		return o
	}
	if berr, ok := errors.AsType[*fetch.BackoffError](err); ok {
		o.retry, o.after, o.why = true, time.Until(berr.Until), WaitBackoff
		return o
	}
	if err != nil && it.Attempt < e.cfg.Retries {
		if d, ok := fetch.RetryDelay(err, it.Attempt); ok {
			e.counts.retries.Add(1)
			e.log.LogAttrs(ctx, slog.LevelDebug, "retry", slog.String("url", it.URL), slog.Int("attempt", it.Attempt+1), slog.Duration("after", d), slog.Any("err", err))
			o.retry, o.attempted, o.after, o.why, o.cause = true, true, d, retryReason(err), retryCause(err)
			return o
		}
	}
	o.visit = &storage.Visit{Aliases: o.claimed, Page: &storage.Page{Seq: it.Seq, FetchedAt: start.UTC(), Duration: time.Since(start), Refetch: e.cfg.Recrawl}}
	r.describe(it, o.visit, res, err, req.Header != nil)
	res.Release() // the page is described: nothing holds its body
	if err != nil {
		o.failure = failureText(err)
	}
	return o
}

// follow decides whether the fetch of it follows a redirect to to: only to
// a URL in scope that the crawl does not have, which it then claims (added
// to aliases, recorded as done with the visit, never fetched on its own).
func (r *crawlRun) follow(it frontier.Item, to *url.URL, aliases *[]storage.URL) error {
	e := r.e
	cu, err := e.canon.CanonicalURL(to)
	if err != nil {
		return err
	}
	key := cu.String()
	if !e.scope.allows(cu, key) {
		return errRedirectScope
	}
	id := dedupe.URLFingerprint(key)
	if e.known.Has(id) {
		return errRedirectSeen
	}
	seen, err := e.state.Seen(r.fetchCtx, id)
	if err != nil {
		return err
	}
	if seen || !e.known.Add(id) {
		return errRedirectSeen
	}
	*aliases = append(*aliases, storage.URL{ID: id, URL: key, Host: cu.Host, Depth: it.Depth})
	return nil
}

// conditional returns the headers of a recrawl's conditional request for
// it (its stored validators, or nil when it has none), and where the
// archive keeps the capture they revalidate.
func (r *crawlRun) conditional(it frontier.Item) (http.Header, fetch.Location, error) {
	v, err := r.e.state.Validators(r.fetchCtx, dedupe.URLFingerprint(it.URL))
	if err != nil || (v.ETag == "" && v.LastModified == "") {
		return nil, fetch.Location{}, err
	}
	h := http.Header{}
	if v.ETag != "" {
		h.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		h.Set("If-Modified-Since", v.LastModified)
	}
	return h, fetch.Location{File: v.WARCFile, Offset: v.WARCOffset}, nil
}

// describe fills v (its Page set) from the fetch's result and error: the
// response's metadata, and for a 2xx its links and the URLs to queue.
func (r *crawlRun) describe(it frontier.Item, v *storage.Visit, res *fetch.Result, err error, conditional bool) {
	e, page := r.e, v.Page
	if errors.Is(err, errRedirectSeen) {
		err = nil // a redirect to a page recorded under its own URL: the 3xx is the answer
	}
	if res != nil && res.Status == http.StatusNotModified && conditional {
		err = nil // the recrawl's answer: the stored page stands
		page.Unchanged = true
	}
	if err != nil {
		page.Error = err.Error()
		page.ErrorClass = errorClass(err)
	}
	if errors.Is(err, fetch.ErrDisallowed) {
		e.counts.robotsDenied.Add(1)
		v.Drops = append(v.Drops, storage.Drop{Reason: dropRobots, Count: 1, Example: it.URL})
	}
	if res != nil {
		for _, sm := range res.Sitemaps {
			v.Sitemaps = append(v.Sitemaps, storage.Sitemap{Host: it.Host, URL: sm})
		}
		page.FinalURL = res.FinalURL.String()
		page.Status = res.Status
		page.ContentType = res.ContentType
		page.Size = res.Size
		page.Truncated = res.Truncated
		page.Redirects = res.Redirects
		page.Duration = res.Duration
		page.WARCFile, page.WARCOffset = res.Archived.File, res.Archived.Offset
		page.ETag = res.Header.Get("ETag")
		page.LastMod = res.Header.Get("Last-Modified")
		if len(res.Body) > 0 {
			page.ContentHash = dedupe.ContentHash(res.Body)
		}
		e.counts.bytes.Add(res.Size)
		if err == nil && res.Status/100 == 2 {
			v.Links, v.Discovered = e.links(it, res, page, &v.Drops)
		}
	}
	isFailed := failed(page.Status, err)
	page.Answered = page.Error != "" && !isFailed // the URL is done, not failed, as the summary counts it
}

// record sends v to the writer and waits until it is committed: a page is
// counted as done only once it is durable, so a crash refetches at most the
// visits in flight. failure is why the fetch failed, in a few words
// (failureText). It returns the writer's error for the batch, or nil.
func (r *crawlRun) record(it frontier.Item, v *storage.Visit, failure string, ack chan error) error {
	e, page := r.e, v.Page
	page.ID, page.URL, page.Host, page.Depth, page.Attempts = dedupe.URLFingerprint(it.URL), it.URL, it.Host, it.Depth, it.Attempt+1
	v.CrawlID, v.Ack = e.cfg.CrawlID, ack
	isFailed := page.Error != "" && !page.Answered
	if isFailed {
		e.counts.failed.Add(1)
	}
	var recent *RecentError
	if page.Error != "" {
		recent = &RecentError{URL: it.URL, Status: page.Status, Class: page.ErrorClass, Error: page.Error, Failed: isFailed, At: time.Now()}
	}
	e.tally.record(it.Host, isFailed, page.ErrorClass == classRobots, failure, recent)
	e.counts.fetched.Add(1)
	e.counts.status[min(page.Status/100, 5)].Add(1)
	e.counts.links.Add(int64(distinctLinks(v.Links))) // as the writer stores them: once per target
	e.log.LogAttrs(r.fetchCtx, slog.LevelDebug, "fetched", slog.String("url", it.URL), slog.Int("status", page.Status), slog.Duration("elapsed", page.Duration), slog.String("err", page.Error))
	return r.send(*v)
}

// distinctLinks returns how many distinct targets links has: a page that
// links to a URL twice has one link row.
func distinctLinks(links []storage.Link) int {
	if len(links) < 2 {
		return len(links)
	}
	seen := make(map[int64]struct{}, len(links))
	for _, l := range links {
		seen[l.DstID] = struct{}{}
	}
	return len(seen)
}
