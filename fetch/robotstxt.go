package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trawl/trawl/fetch/robots"
	"golang.org/x/time/rate"
)

// maxRobotsRedirects is how many redirects a robots.txt fetch follows (RFC 9309 §2.3.1.2).
const maxRobotsRedirects = 5

// robotsEntry is a cached robots.txt verdict for one scheme and host.
type robotsEntry struct {
	data        *robots.Data
	delay       time.Duration // Crawl-delay for our agent, capped; 0 for none
	expires     time.Time
	unavailable bool        // 5xx, 429 or network error: the host is disallowed until expires
	cause       error       // why it is unavailable
	reported    atomic.Bool // its Sitemap lines went out on one Result already
}

// robotsKey is the robots.txt cache and flight key of a scheme and host.
func robotsKey(scheme, host string) string { return scheme + "://" + strings.ToLower(host) }

// Allowed reports robots.txt's verdict on u, fetching robots.txt for u's scheme and host
// unless it is cached: nil, ErrDisallowed, or a *RobotsUnavailableError while robots.txt is
// unreachable. Concurrent calls for one host share one fetch. It returns nil when
// Config.IgnoreRobots is set, and an error wrapping ctx's if ctx ends first.
func (c *Client) Allowed(ctx context.Context, u *url.URL) error {
	_, err := c.allowed(ctx, u)
	return err
}

// allowed is Allowed that also returns the robots.txt entry consulted (nil
// when robots.txt is ignored or could not be had).
func (c *Client) allowed(ctx context.Context, u *url.URL) (*robotsEntry, error) {
	if c.cfg.IgnoreRobots {
		return nil, nil
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	e, err := c.robotsFor(ctx, u.Scheme, u.Host)
	if err != nil {
		return nil, err
	}
	if e.unavailable {
		return nil, &RobotsUnavailableError{Host: u.Host, RetryAt: e.expires, Err: e.cause}
	}
	if !e.data.AllowedURL(c.agent, u) {
		return e, ErrDisallowed
	}
	return e, nil
}

// robotsAtHand reports whether u's robots.txt verdict is cached and
// current (or robots.txt is ignored): a fetch of u waits for nothing first.
func (c *Client) robotsAtHand(u *url.URL) bool {
	if c.cfg.IgnoreRobots {
		return true
	}
	e, ok := c.robots.Peek(robotsKey(u.Scheme, u.Host))
	return ok && time.Now().Before(e.expires)
}

// Denied reports whether robots.txt, as far as is known now, disallows u:
// its scheme and host's robots.txt is cached, current and available, and
// says no. It sends nothing and never waits, so that a crawler can drop such
// a URL before it takes a politeness token or a worker. A URL it does not
// deny may still be refused by Fetch (robots.txt not read yet, or expired).
func (c *Client) Denied(u *url.URL) bool {
	if c.cfg.IgnoreRobots || u == nil {
		return false
	}
	e, ok := c.robots.Peek(robotsKey(u.Scheme, u.Host))
	if !ok || e.unavailable || !time.Now().Before(e.expires) {
		return false
	}
	return !e.data.AllowedURL(c.agent, u)
}

// newSitemaps returns e's Sitemap lines the first time it is asked for
// them, and nil after that: each loaded robots.txt reports them once.
func (e *robotsEntry) newSitemaps() []string {
	if e == nil || !e.reported.CompareAndSwap(false, true) {
		return nil
	}
	return e.data.Sitemaps()
}

// Sitemaps returns the Sitemap URLs of host's cached robots.txt (https preferred over http),
// or nil if none is cached. It fetches nothing.
func (c *Client) Sitemaps(host string) []string {
	for _, scheme := range []string{"https", "http"} {
		if e, ok := c.robots.Peek(robotsKey(scheme, host)); ok && !e.unavailable {
			if sm := e.data.Sitemaps(); len(sm) > 0 {
				return sm // a copy
			}
		}
	}
	return nil
}

// robotsFor returns the current robots.txt verdict for scheme and host.
func (c *Client) robotsFor(ctx context.Context, scheme, host string) (*robotsEntry, error) {
	key := robotsKey(scheme, host)
	for {
		if e, ok := c.robots.Get(key); ok && time.Now().Before(e.expires) {
			return e, nil
		}
		v, err, _ := c.flights.Do(key, func() (any, error) {
			if e, ok := c.robots.Peek(key); ok && time.Now().Before(e.expires) {
				return e, nil // a flight that ended just now filled it
			}
			if e, ok := c.recallRobots(ctx, host, key); ok {
				return e, nil // an earlier run fetched it: nothing is sent
			}
			return c.loadRobots(ctx, scheme, host, key)
		})
		if err == nil {
			return v.(*robotsEntry), nil
		}
		if ctx.Err() != nil || !isContextErr(err) {
			return nil, fmt.Errorf("robots.txt for %s: %w", host, err)
		}
		// The flight's leader left (its context ended) but this caller goes on: fetch again.
	}
}

// loadRobots fetches, caches and returns the robots.txt verdict for scheme and host, and
// saves it in the Memory if it was fetched. It returns an error only when ctx ends, and
// then caches nothing.
func (c *Client) loadRobots(ctx context.Context, scheme, host, key string) (*robotsEntry, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	data, body, err := c.getRobots(rctx, &url.URL{Scheme: scheme, Host: host, Path: "/robots.txt"})
	if ctx.Err() != nil {
		return nil, ctx.Err() // the caller left: not the host's fault
	}
	now := time.Now()
	if e, ok := errors.AsType[*BackoffError](err); ok {
		// Nothing was sent; the verdict lasts as long as the backoff, so it is not cached.
		return &robotsEntry{data: robots.DisallowAll(), expires: e.Until, unavailable: true}, nil
	}
	if errors.Is(err, ErrRateLimited) {
		// The host's Crawl-delay queue is longer than Timeout: nothing was sent either.
		return &robotsEntry{data: robots.DisallowAll(), expires: now.Add(c.cfg.MaxCrawlDelay), unavailable: true}, nil
	}
	e := &robotsEntry{data: data, expires: now.Add(c.cfg.RobotsTTL)}
	if err != nil {
		e = &robotsEntry{data: robots.DisallowAll(), expires: now.Add(c.cfg.RobotsRetry), unavailable: true, cause: err}
		c.warnRobots.Do(func() {
			c.log.LogAttrs(ctx, slog.LevelWarn, "robots.txt unreachable",
				slog.String("host", host), slog.Any("err", err))
		})
	} else if d, ok := data.CrawlDelay(c.agent); ok && d > 0 {
		e.delay = min(d, c.cfg.MaxCrawlDelay)
	}
	c.robots.Add(key, e)
	if e.delay > 0 {
		c.applyCrawlDelay(host, e.delay)
	}
	c.rememberRobots(ctx, host, key, e, body, now)
	return e, nil
}

// getRobots fetches robots.txt at u, following up to maxRobotsRedirects redirects, and
// returns what it says: parsed for a 2xx, with the body as read (never nil, at most
// robots.MaxSize+1 bytes so that Parse can drop a line cut by its limit); allow-all and a
// nil body for a 4xx or a redirect that leads nowhere. An error means robots.txt is
// unreachable (5xx, 429, network, body cut short) or was not asked for (*BackoffError,
// ErrRateLimited).
func (c *Client) getRobots(ctx context.Context, u *url.URL) (*robots.Data, []byte, error) {
	for hops := 0; ; hops++ {
		w := c.newWire(Location{})
		resp, release, err := c.send(ctx, u, nil, true, w)
		if err != nil {
			w.close()
			return nil, nil, err
		}
		c.noteBackoff(ctx, u.Host, resp)
		if loc := redirectLocation(resp); loc != "" {
			discard(resp.Body)
			release()
			c.archiveRobots(ctx, w, u, resp.StatusCode, "")
			next, err := u.Parse(loc)
			if hops == maxRobotsRedirects || err != nil || checkURL(next) != nil {
				// RFC 9309 §2.3.1.2: treated as unavailable, like a 4xx.
				return robots.AllowAll(), nil, nil
			}
			u = next
			continue
		}
		code := resp.StatusCode
		switch {
		case code >= 200 && code <= 299:
			body, truncated, err := readBody(resp, robots.MaxSize+1)
			release()
			if err != nil {
				if errors.Is(ctx.Err(), context.Canceled) {
					w.close()
				} else {
					c.archiveRobots(ctx, w, u, code, cutReason(ctx, err)) // what came, as Heritrix and Zeno keep it
				}
				return nil, nil, fmt.Errorf("read %s: %w", u, err)
			}
			c.archiveRobots(ctx, w, u, code, lengthCut(truncated))
			if body == nil {
				body = []byte{}
			}
			return robots.Parse(body), body, nil
		case code == http.StatusTooManyRequests || code >= 500:
			discard(resp.Body)
			release()
			c.archiveRobots(ctx, w, u, code, "")
			return nil, nil, &StatusError{URL: u.String(), Code: code}
		default:
			discard(resp.Body)
			release()
			c.archiveRobots(ctx, w, u, code, "")
			return robots.AllowAll(), nil, nil
		}
	}
}

// applyCrawlDelay slows host's limiter to one request per d (or Config.Rate if slower),
// burst 1, counting the robots.txt request just made.
func (c *Client) applyCrawlDelay(host string, d time.Duration) {
	lim := rate.NewLimiter(min(c.limit, rate.Every(d)), 1)
	lim.Allow()
	c.host(host).lim.Store(lim)
}

// cachedCrawlDelay returns the Crawl-delay cached for host (lower-case) under either scheme,
// the longer if both, or 0.
func (c *Client) cachedCrawlDelay(host string) time.Duration {
	var d time.Duration
	for _, scheme := range []string{"https", "http"} {
		if e, ok := c.robots.Peek(robotsKey(scheme, host)); ok {
			d = max(d, e.delay)
		}
	}
	return d
}

// archiveRobots archives a robots.txt exchange (Config.Archive); a failure is logged, as
// robots.txt's verdict stands without its copy.
func (c *Client) archiveRobots(ctx context.Context, w *wire, u *url.URL, status int, truncated string) {
	if _, err := c.archive(ctx, w, u, status, truncated); err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "archive robots.txt", slog.String("url", u.String()), slog.Any("err", err))
	}
}

// Interval returns how long host's limiter takes to refill its whole burst:
// the time another client, starting with a full limiter, must wait after
// this one's last request so that the two together never exceed the host's
// rate or Crawl-delay. 0 when requests to host are not limited.
func (c *Client) Interval(host string) time.Duration {
	key := strings.ToLower(host)
	limit, burst := c.limit, max(c.cfg.Burst, 1)
	if hs, ok := c.hosts.Peek(key); ok {
		lim := hs.lim.Load()
		limit, burst = lim.Limit(), lim.Burst()
	} else if d := c.cachedCrawlDelay(key); d > 0 {
		limit, burst = min(limit, rate.Every(d)), 1
	}
	if limit == rate.Inf || limit <= 0 {
		return 0
	}
	return time.Duration(float64(burst) * float64(time.Second) / float64(limit))
}

// BackoffUntil returns when host's backoff (after a 429, or a 5xx with
// Retry-After) ends, or the zero time when it is not backed off.
func (c *Client) BackoffUntil(host string) time.Time {
	hs, ok := c.hosts.Peek(strings.ToLower(host))
	if !ok {
		return time.Time{}
	}
	until := time.Unix(0, hs.backoffUntil.Load())
	if hs.backoffUntil.Load() == 0 || !time.Now().Before(until) {
		return time.Time{}
	}
	return until
}
