package fetch

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/trawl/trawl/fetch/robots"
)

// Memory keeps the politeness state that must outlive a Client, so that a crawl
// resumed by a new process obeys it: robots.txt verdicts within their TTL, and
// host backoffs (after a 429, or a 5xx with Retry-After). Config.Memory sets it.
//
// A Client loads a host's backoff once, when it first meets the host (or meets it
// again after evicting its state), and a robots.txt verdict when it has none in
// its own cache; it saves each verdict it fetches and each backoff it starts or
// lengthens. Nothing is loaded or saved per page otherwise. A Client treats a
// Memory error as a miss (or a lost save): it logs a warning and goes on.
//
// Implementations must be safe for concurrent use. Times are absolute wall-clock
// times; a Memory may round them to its own precision, rounding a backoff up.
type Memory interface {
	// LoadRobots returns the verdict saved under key (see RobotsRecord.Key),
	// expired or not; ok is false when there is none.
	LoadRobots(ctx context.Context, key string) (rec RobotsRecord, ok bool, err error)
	// SaveRobots stores rec, replacing the verdict saved under rec.Key.
	SaveRobots(ctx context.Context, rec RobotsRecord) error
	// LoadBackoff returns the end of host's saved backoff, past or not; ok is
	// false when there is none. host is url.URL.Host in lower case.
	LoadBackoff(ctx context.Context, host string) (until time.Time, ok bool, err error)
	// SaveBackoff records that nothing may be sent to host before until. It
	// need not shorten a longer backoff saved before.
	SaveBackoff(ctx context.Context, host string, until time.Time) error
}

// BackoffLister is a Memory that lists every unexpired backoff at once. A
// Client whose Memory implements it loads them all in New and never calls
// LoadBackoff: host states are made inside Reserve, which a frontier calls
// under its lock, where a read per new host would hold up every worker.
type BackoffLister interface {
	// LoadBackoffs returns every saved backoff that ends after now, by host
	// (url.URL.Host in lower case).
	LoadBackoffs(ctx context.Context, now time.Time) (map[string]time.Time, error)
}

// RobotsRecord is a robots.txt verdict as a Memory keeps it. Exactly one of
// three kinds: a fetched file (Body, neither flag), allow-all (Allow), or
// unavailable (Unavailable).
type RobotsRecord struct {
	// Key names the scheme and host: "scheme://host" with the host (and port)
	// in lower case, e.g. "https://example.com:8443".
	Key string
	// Body is the robots.txt body as fetched (a 2xx), at most robots.MaxSize+1
	// bytes so that a line cut by the size limit is recognised again; nil for
	// the other kinds.
	Body []byte
	// Allow reports that robots.txt was absent (4xx, or a redirect that led
	// nowhere): every path is allowed.
	Allow bool
	// Unavailable reports that robots.txt could not be had (5xx, 429, network
	// error): the whole host is disallowed until Expires.
	Unavailable bool
	// Cause says why it was unavailable; "" otherwise.
	Cause string
	// Fetched is when robots.txt was fetched.
	Fetched time.Time
	// Expires is when robots.txt is to be fetched again: Config.RobotsTTL after
	// Fetched, or Config.RobotsRetry for an unavailable one.
	Expires time.Time
}

// Time limits on one Memory call. A load runs while a host's state is created,
// possibly under the caller's scheduler lock, so it gives up soon; a save may
// wait for a storage batch being committed.
const (
	memoryLoadTimeout = time.Second
	memorySaveTimeout = 5 * time.Second
)

// recallRobots returns the unexpired verdict the Memory holds for key, and caches
// it as if it had just been fetched (Crawl-delay included); ok is false when
// there is none, and then robots.txt is to be fetched. It asks the Memory only
// when the Client has no entry of its own for key: an expired entry of ours is
// what the Memory holds, or newer.
func (c *Client) recallRobots(ctx context.Context, host, key string) (*robotsEntry, bool) {
	if c.cfg.Memory == nil || c.robots.Contains(key) {
		return nil, false
	}
	lctx, cancel := context.WithTimeout(ctx, memoryLoadTimeout)
	defer cancel()
	rec, ok, err := c.cfg.Memory.LoadRobots(lctx, key)
	if err != nil {
		if ctx.Err() == nil {
			c.warnMemoryError(ctx, "load robots.txt", host, err)
		}
		return nil, false
	}
	now := time.Now()
	if !ok || !now.Before(rec.Expires) {
		return nil, false
	}
	// A verdict never outlives what this Client's configuration would give a
	// fresh one, whatever the clock or the configuration said when it was saved.
	e := &robotsEntry{expires: earlier(rec.Expires, now.Add(c.cfg.RobotsTTL))}
	switch {
	case rec.Unavailable:
		e.data, e.unavailable = robots.DisallowAll(), true
		e.expires = earlier(rec.Expires, now.Add(c.cfg.RobotsRetry))
		if rec.Cause != "" {
			e.cause = errors.New(rec.Cause)
		}
	case rec.Allow:
		e.data = robots.AllowAll()
	default:
		e.data = robots.Parse(rec.Body)
		if d, ok := e.data.CrawlDelay(c.agent); ok && d > 0 {
			e.delay = min(d, c.cfg.MaxCrawlDelay)
		}
	}
	c.robots.Add(key, e)
	if e.delay > 0 {
		// Counted as if robots.txt had just been fetched: the last process may
		// have sent a request right before it stopped.
		c.applyCrawlDelay(host, e.delay)
	}
	return e, true
}

// rememberRobots saves e, the verdict just fetched for key, in the Memory. body is
// the 2xx body, nil for an allow-all or unavailable verdict.
func (c *Client) rememberRobots(ctx context.Context, host, key string, e *robotsEntry, body []byte, fetched time.Time) {
	if c.cfg.Memory == nil {
		return
	}
	rec := RobotsRecord{Key: key, Unavailable: e.unavailable, Fetched: fetched, Expires: e.expires}
	switch {
	case e.unavailable:
		if e.cause != nil {
			rec.Cause = e.cause.Error()
		}
	case body == nil:
		rec.Allow = true
	default:
		rec.Body = body
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), memorySaveTimeout)
	defer cancel()
	if err := c.cfg.Memory.SaveRobots(sctx, rec); err != nil {
		c.warnMemoryError(ctx, "save robots.txt", host, err)
	}
}

// recallBackoff returns the end of the unexpired backoff the Memory holds for
// host (lower case), capped at Config.MaxRetryAfter from now; ok is false when
// there is none.
func (c *Client) recallBackoff(host string) (time.Time, bool) {
	if c.cfg.Memory == nil {
		return time.Time{}, false
	}
	var until time.Time
	var ok bool
	if c.backoffs != nil { // loaded in New: no read here
		c.backoffs.mu.Lock()
		until, ok = c.backoffs.m[host]
		c.backoffs.mu.Unlock()
	} else {
		// Reserve, which creates host states, has no context of its own.
		ctx, cancel := context.WithTimeout(context.Background(), memoryLoadTimeout)
		defer cancel()
		var err error
		if until, ok, err = c.cfg.Memory.LoadBackoff(ctx, host); err != nil {
			c.warnMemoryError(ctx, "load backoff", host, err)
			return time.Time{}, false
		}
	}
	now := time.Now()
	if !ok || !now.Before(until) {
		return time.Time{}, false
	}
	return earlier(until, now.Add(c.cfg.MaxRetryAfter)), true
}

// rememberBackoff saves host's backoff until until in the Memory.
func (c *Client) rememberBackoff(ctx context.Context, host string, until time.Time) {
	if c.cfg.Memory == nil {
		return
	}
	// Saved even when ctx has just ended: a backoff that is not saved may be
	// broken by the next run.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), memorySaveTimeout)
	defer cancel()
	if err := c.cfg.Memory.SaveBackoff(sctx, strings.ToLower(host), until); err != nil {
		c.warnMemoryError(ctx, "save backoff", host, err)
	}
	if c.backoffs != nil { // a host state evicted and made again finds it
		c.backoffs.save(strings.ToLower(host), until, c.cfg.MaxHosts)
	}
}

// backoffTable holds the unexpired backoffs of a BackoffLister Memory, and
// those saved since, for host states made after New.
type backoffTable struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// loadBackoffs returns the backoffs of a BackoffLister Memory, or nil when
// the Memory is not one (or could not list them: LoadBackoff is used then).
func (c *Client) loadBackoffs() *backoffTable {
	bl, ok := c.cfg.Memory.(BackoffLister)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), memoryLoadTimeout)
	defer cancel()
	m, err := bl.LoadBackoffs(ctx, time.Now())
	if err != nil {
		c.warnMemoryError(ctx, "load backoffs", "", err)
		return nil
	}
	if m == nil {
		m = map[string]time.Time{}
	}
	return &backoffTable{m: m}
}

// save records host's backoff until until; past max entries, the expired
// ones are dropped first, so the table stays about as large as the hosts
// backed off at once.
func (t *backoffTable) save(host string, until time.Time, max int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= max {
		now := time.Now()
		for h, u := range t.m {
			if !now.Before(u) {
				delete(t.m, h)
			}
		}
	}
	if until.After(t.m[host]) {
		t.m[host] = until
	}
}

// warnMemoryError logs a failed Memory call, throttled: the fetch goes on
// without it.
func (c *Client) warnMemoryError(ctx context.Context, op, host string, err error) {
	c.warnMemory.Do(func() {
		c.log.LogAttrs(ctx, slog.LevelWarn, "politeness memory unavailable",
			slog.String("op", op), slog.String("host", host), slog.Any("err", err))
	})
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
