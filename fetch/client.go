// Package fetch does one HTTP exchange done right for a polite crawler: robots.txt fetched,
// cached and obeyed; a per-host rate limiter, concurrency cap and backoff (429/503 with
// Retry-After); redirects followed hop by hop under the same rules; timeouts; a decoded,
// size-capped body; and errors classified for retrying (RetryDelay).
//
// Fetch makes one attempt and never sleeps to retry: the caller requeues a retryable failure
// with the delay from RetryDelay. A caller that schedules hosts itself takes each host's
// politeness token with Client.Reserve and passes Request.Reserved.
package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Client fetches URLs politely. It is safe for concurrent use; create it with New.
type Client struct {
	cfg   Config
	agent string       // robots.txt product token of cfg.UserAgent
	limit rate.Limit   // per-host rate from cfg.Rate
	hc    *http.Client // never follows redirects: Fetch does, hop by hop
	// rt is hc's transport when hc has nothing of its own to do (no cookie
	// jar, no timeout): requests go to it directly, without http.Client's
	// redirect bookkeeping, which copied every request's header (0.6 % of the
	// crawler's CPU, 2 % of the bytes it allocated). nil: through hc.
	rt  http.RoundTripper
	log *slog.Logger

	hosts   *lru.Cache[string, *hostState]   // keyed by lower-case url.URL.Host
	robots  *lru.Cache[string, *robotsEntry] // keyed by robotsKey
	flights singleflight.Group               // robots.txt fetches, keyed by robotsKey

	warnRobots rate.Sometimes // throttles "robots.txt unreachable" warnings
	warnMemory rate.Sometimes // throttles warnings about failed Memory calls
	backoffs   *backoffTable  // a BackoffLister Memory's backoffs, loaded in New; nil otherwise
}

// Request is one URL to fetch.
type Request struct {
	// URL is the absolute http(s) URL to fetch.
	URL *url.URL
	// Reserved reports that the caller already took URL's host's politeness token with
	// Client.Reserve, so the first request does not wait for the limiter. Redirect hops
	// always take a token.
	Reserved bool
	// Header holds extra request headers (e.g. If-None-Match), sent on every hop but for
	// credentials (Authorization, Cookie), which are not sent to another host. User-Agent and
	// Accept-Encoding are always the Client's own.
	Header http.Header
	// Redirect, if not nil, is called before each redirect hop is followed (for scope or seen
	// checks); a non-nil error stops the fetch and is returned in a *RedirectError.
	Redirect func(to *url.URL) error
	// Attempt is the number of earlier tries of this URL, for the logs.
	Attempt int
	// Prior is where Config.Archive keeps the capture that Header's validators come from:
	// a 304 Not Modified is handed to the Archive with it (Exchange.Prior), so that the
	// revisit it writes can name that capture.
	Prior Location
}

// Result is a completed exchange. The Client keeps no reference to it.
//
// ContentType is the media type of the Content-Type header whenever the header has one, even
// when the body looks like something else (an HTML body sent as image/png stays image/png),
// with one exception: a body declared as text/html or application/xhtml+xml whose first bytes
// are binary (a PNG, GIF, JPEG, PDF, ZIP or gzip signature, NUL or another WHATWG "binary data
// byte") gets the type it sniffs as ("image/png", or "application/octet-stream" for bytes
// alone). When the header is absent, empty or has no media type (";;") the type is sniffed
// from the body (http.DetectContentType). Callers parse only what ContentType calls HTML.
type Result struct {
	URL          *url.URL      // as requested
	FinalURL     *url.URL      // after redirects
	Redirects    []string      // each hop's target in order; empty when none
	Status       int           // final status code
	Header       http.Header   // final response headers
	ContentType  string        // media type only, lower-case ("text/html"); sniffed when absent, or when HTML is binary
	Charset      string        // charset parameter of the Content-Type header, lower-case; "" when absent
	ETag         string        // ETag header as sent (quotes and W/ kept); "" when absent
	LastModified string        // Last-Modified header as sent, unparsed; "" when absent
	Body         []byte        // decoded, at most Config.MaxBody bytes; empty for a 304, nil for a 3xx or ErrTooLarge
	Truncated    bool          // the body was longer than Config.MaxBody (or decompressed past it)
	Size         int64         // len(Body)
	Duration     time.Duration // from the call to Fetch to the end of the body, robots.txt included
	Sitemaps     []string      // Sitemap lines of the host's robots.txt, on the first Result after it was loaded; nil otherwise
	Archived     Location      // where Config.Archive stored the final response; zero without one
}

// setResponse records the final response's URL, status and headers in r.
func (r *Result) setResponse(u *url.URL, resp *http.Response) {
	r.FinalURL = u
	r.Status = resp.StatusCode
	r.Header = resp.Header
	ct := resp.Header.Get("Content-Type")
	r.ContentType = mediaType(ct)
	r.Charset = charsetParam(ct)
	r.ETag = resp.Header.Get("ETag")
	r.LastModified = resp.Header.Get("Last-Modified")
}

// New returns a Client configured by cfg, sending through hc (nil means an *http.Client over
// NewTransport(cfg)) and logging to log (nil means discard). hc's CheckRedirect is not used:
// Fetch follows redirects itself. New rejects impossible configurations and starts nothing; when
// cfg.Memory is a BackoffLister it reads the unexpired backoffs once.
func New(cfg Config, hc *http.Client, log *slog.Logger) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if hc == nil {
		hc = &http.Client{Transport: NewTransport(cfg)}
	}
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var rt http.RoundTripper
	if own.Jar == nil && own.Timeout == 0 {
		rt = cmp.Or[http.RoundTripper](own.Transport, http.DefaultTransport)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hosts, err := lru.New[string, *hostState](cfg.MaxHosts)
	if err != nil {
		return nil, fmt.Errorf("fetch: host cache: %w", err)
	}
	robots, err := lru.New[string, *robotsEntry](cfg.RobotsCacheSize)
	if err != nil {
		return nil, fmt.Errorf("fetch: robots cache: %w", err)
	}
	limit := rate.Inf
	if cfg.Rate > 0 {
		limit = rate.Limit(cfg.Rate)
	}
	c := &Client{
		cfg:        cfg,
		agent:      productToken(cfg.UserAgent),
		limit:      limit,
		hc:         &own,
		rt:         rt,
		log:        log,
		hosts:      hosts,
		robots:     robots,
		warnRobots: rate.Sometimes{First: 5, Interval: time.Minute},
		warnMemory: rate.Sometimes{First: 5, Interval: time.Minute},
	}
	c.backoffs = c.loadBackoffs()
	return c, nil
}

// Reserve takes one politeness token for host ("host:port" as in url.URL.Host) and returns 0,
// or takes nothing and returns how long to wait before asking again: the rate limiter's delay,
// the host's window's (at most rate+burst requests unanswered or answered within the last
// second: see window), or what remains of the host's backoff. A caller that got 0 fetches with Request.Reserved.
func (c *Client) Reserve(host string) time.Duration {
	hs := c.host(host)
	now := time.Now()
	if d := hs.backoffLeft(now); d > 0 {
		return d
	}
	lim := hs.lim.Load()
	r := lim.ReserveN(now, 1)
	if !r.OK() { // cannot happen with burst >= 1; be safe rather than spin
		return time.Second
	}
	if d := max(r.DelayFrom(now), hs.win.delay(now, windowMax(lim))); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// Fetch GETs req.URL once, following redirects, and returns the final response with its
// decoded, size-capped body. The exchange is bounded by Config.Timeout under ctx, and
// RetryDelay says which errors are worth retrying.
//
// Some answers come back as a Result together with an error, so that the caller can record
// the status and headers:
//   - a final status outside 2xx, other than 304: the Result with its body, and a *StatusError;
//   - a redirect not followed: the 3xx Result (no body) and a *RedirectError (refused by
//     Request.Redirect or robots.txt, not http(s), or back to a URL already visited in this
//     fetch, which matches ErrRedirectLoop), or ErrTooManyRedirects after Config.MaxRedirects
//     hops;
//   - a Content-Length above Config.MaxBody: the Result with no body and ErrTooLarge; the body
//     is not read and the connection is closed.
//
// A 304 Not Modified (an answer to If-None-Match or If-Modified-Since in Request.Header) is a
// Result with Status 304, no body and no error. A body longer than Config.MaxBody without an
// honest Content-Length (chunked, compressed, or read until close) is cut at MaxBody and the
// Result says Truncated, without error.
//
// Other failures return a nil Result and an error: ErrDisallowed, *RobotsUnavailableError,
// *BackoffError (nothing was sent), ErrRateLimited, ErrUnsupportedScheme, or a transport or
// body error. A body cut short (connection closed before Content-Length or the last chunk,
// a truncated gzip stream) is an error matching io.ErrUnexpectedEOF, never a short page; a
// response whose headers do not come within Config.HeaderTimeout, or whose body is not done
// by Config.Timeout, is a timeout error (net.Error with Timeout() true, or wrapping
// context.DeadlineExceeded) and no Result.
func (c *Client) Fetch(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	res, err := c.fetch(ctx, req, start)
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.Any("url", req.URL)}
		if res != nil {
			attrs = append(attrs, slog.Int("status", res.Status))
		}
		attrs = append(attrs, slog.Duration("elapsed", time.Since(start)), slog.Int("attempt", req.Attempt))
		if err != nil {
			attrs = append(attrs, slog.Any("err", err))
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "fetch", attrs...)
	}
	return res, err
}

func (c *Client) fetch(ctx context.Context, req Request, start time.Time) (*Result, error) {
	u := req.URL
	if err := checkURL(u); err != nil {
		return nil, err
	}
	// robots.txt first, under its own timeout, so that the page keeps its whole budget.
	robotsAtHand := c.robotsAtHand(u)
	robotsEntry, err := c.allowed(ctx, u)
	if err != nil {
		return nil, forbiddenFinal(u, err) // a guarded address is refused, not unavailable
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	res := &Result{URL: req.URL, Sitemaps: robotsEntry.newSitemaps()}
	header := req.Header
	// A token reserved while the host's robots.txt verdict was not at hand
	// is stale by the time the verdict is: the page waited for robots.txt
	// (its request, or another fetch's, or the Memory), while the host's
	// time went on, and sent now it would follow that request or another
	// page too closely. It takes a token of its own, so that the host never
	// sees two requests closer than its rate allows.
	takeToken := !req.Reserved || !robotsAtHand
	// visited holds every URL requested so far, to stop a redirect loop at its first
	// repeat; MaxRedirects bounds it.
	visited := []string{u.String()}
	for {
		w := c.newWire(req.Prior)
		resp, release, err := c.send(ctx, u, header, takeToken, w)
		if err != nil {
			w.close()
			return nil, err
		}
		takeToken = true // a hop is another request and takes its own token
		retryAfter := c.noteBackoff(ctx, u.Host, resp)

		if loc := redirectLocation(resp); loc != "" {
			discard(resp.Body)
			release()
			archived, err := c.archive(ctx, w, u, resp.StatusCode, "")
			if err != nil {
				return nil, err
			}
			// A redirect that is not followed is still an answer: the caller
			// gets this 3xx response as the Result along with the reason.
			stopped := func(err error) (*Result, error) {
				res.setResponse(u, resp)
				res.Archived = archived
				res.Duration = time.Since(start)
				return res, err
			}
			next, err := c.redirectTarget(u, loc, visited, req.Redirect)
			if err != nil {
				return stopped(err)
			}
			if err := c.Allowed(ctx, next); err != nil {
				return stopped(&RedirectError{From: u.String(), To: next.String(), Err: forbiddenFinal(next, err)})
			}
			res.Redirects = append(res.Redirects, next.String())
			visited = append(visited, next.String())
			if !strings.EqualFold(next.Host, u.Host) {
				header = withoutCredentials(header)
			}
			u = next
			continue
		}

		if resp.ContentLength > c.cfg.MaxBody {
			// Declined unread: closing an unread body closes the connection, so the rest
			// is never transferred. The status and headers are still the site's answer.
			_ = resp.Body.Close()
			release()
			res.setResponse(u, resp)
			if res.Archived, err = c.archive(ctx, w, u, resp.StatusCode, TruncatedLength); err != nil {
				return nil, err
			}
			res.Duration = time.Since(start)
			return res, fmt.Errorf("fetch %s: %w: Content-Length %d, MaxBody %d", u, ErrTooLarge, resp.ContentLength, c.cfg.MaxBody)
		}
		body, truncated, err := readBody(resp, c.cfg.MaxBody)
		release()
		if err != nil {
			// The body failed after the headers (a connection cut, a stall past the
			// timeout, a corrupt encoding): what came is archived, marked as cut, as
			// Heritrix and Zeno keep it. The fetch still fails, and the page keeps no
			// location; a failure to archive is only logged, as the fetch's error stands.
			// A fetch the caller cancelled (a crawl stopping) is not the site's answer.
			if errors.Is(ctx.Err(), context.Canceled) {
				w.close()
			} else if _, aerr := c.archive(ctx, w, u, resp.StatusCode, cutReason(ctx, err)); aerr != nil {
				c.log.LogAttrs(ctx, slog.LevelError, "archive a cut response", slog.String("url", u.String()), slog.Any("err", aerr))
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				// Config.Timeout (or the caller's deadline) ended a stalled or dripping body.
				// A transport may report that as something else: make it match.
				if !errors.Is(err, context.DeadlineExceeded) {
					err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
				}
				return nil, fmt.Errorf("read body of %s: timeout: %w", u, err)
			}
			return nil, fmt.Errorf("read body of %s: %w", u, err)
		}
		if res.Archived, err = c.archive(ctx, w, u, resp.StatusCode, lengthCut(truncated)); err != nil {
			return nil, err
		}
		res.setResponse(u, resp)
		res.Body = body
		res.Truncated = truncated
		res.Size = int64(len(body))
		switch {
		case len(body) == 0:
		case res.ContentType == "":
			res.ContentType = mediaType(http.DetectContentType(body))
		case isHTMLType(res.ContentType):
			if mt := sniffBinary(body, res.Charset); mt != "" {
				res.ContentType = mt // a binary labelled HTML is not parsed
			}
		}
		res.Duration = time.Since(start)
		if (resp.StatusCode < 200 || resp.StatusCode > 299) && resp.StatusCode != http.StatusNotModified {
			return res, &StatusError{URL: u.String(), Code: resp.StatusCode, RetryAfter: retryAfter}
		}
		return res, nil
	}
}

// redirectTarget resolves loc against from and checks it may be followed as the next hop
// after visited (the URLs requested so far, from first): not one of them, within
// MaxRedirects, http(s), and accepted by check.
func (c *Client) redirectTarget(from *url.URL, loc string, visited []string, check func(*url.URL) error) (*url.URL, error) {
	next, err := from.Parse(loc)
	if err != nil {
		return nil, &RedirectError{From: from.String(), To: loc, Err: err}
	}
	if slices.Contains(visited, next.String()) {
		return nil, &RedirectError{From: from.String(), To: next.String(), Err: ErrRedirectLoop}
	}
	if hops := len(visited) - 1; hops >= c.cfg.MaxRedirects {
		return nil, fmt.Errorf("fetch %s: %w (more than %d)", from, ErrTooManyRedirects, c.cfg.MaxRedirects)
	}
	if err := checkURL(next); err != nil {
		return nil, &RedirectError{From: from.String(), To: next.String(), Err: err}
	}
	if check != nil {
		if err := check(next); err != nil {
			return nil, &RedirectError{From: from.String(), To: next.String(), Err: err}
		}
	}
	return next, nil
}

// send makes one request for u to u's host: it returns a *BackoffError while the host is
// backed off, waits for one of the host's PerHost slots, takes a politeness token when
// takeToken, waits until the host's window (see window) has room, and sends. On success the caller must close the body and then call release,
// which frees the slot.
//
// When w is not nil the exchange is captured into it (Config.Archive).
func (c *Client) send(ctx context.Context, u *url.URL, header http.Header, takeToken bool, w *wire) (*http.Response, func(), error) {
	hs := c.host(u.Host)
	if err := hs.checkBackoff(u.Host); err != nil {
		return nil, nil, err
	}
	select {
	case hs.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("wait for a slot on %s: %w", u.Host, ctx.Err())
	}
	release := func() { <-hs.sem }
	if takeToken {
		if err := hs.lim.Load().Wait(ctx); err != nil {
			release()
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("wait for %s: %w", u.Host, ctx.Err())
			}
			return nil, nil, fmt.Errorf("wait for %s: %w", u.Host, ErrRateLimited)
		}
	}
	answered, err := hs.win.enter(ctx, func() int { return windowMax(hs.lim.Load()) })
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("wait for %s: %w", u.Host, err)
	}
	// Another request may have been told to back off while this one waited.
	if err := hs.checkBackoff(u.Host); err != nil {
		answered(false)
		release()
		return nil, nil, err
	}
	if w != nil {
		ctx = w.capturing(ctx)
		w.date = time.Now()
	}
	req, err := newRequest(ctx, u)
	if err != nil {
		answered(false)
		release()
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	resp, err := c.do(req)
	// The server has counted it by now, if it ever will (but for a request
	// given up before the server read it: a timeout, a lease that lapsed).
	answered(true)
	if err != nil {
		release()
		return nil, nil, err
	}
	return resp, release, nil
}

// newRequest is http.NewRequestWithContext for a GET of u, which it clones,
// without printing u and parsing it back.
func newRequest(ctx context.Context, u *url.URL) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return nil, err
	}
	cu := *u
	if u.User != nil {
		user := *u.User
		cu.User = &user
	}
	req.URL, req.Host = &cu, strings.TrimSuffix(u.Host, ":")
	return req, nil
}

// do sends req as http.Client.Do would with CheckRedirect returning
// http.ErrUseLastResponse: an error is a *url.Error that names the URL.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.rt == nil {
		return c.hc.Do(req)
	}
	resp, err := c.rt.RoundTrip(req)
	if err == nil && resp == nil {
		err = errors.New("http: RoundTripper returned a nil *Response with a nil error")
	}
	if err != nil {
		return nil, &url.Error{Op: "Get", URL: req.URL.Redacted(), Err: err}
	}
	if resp.Body == nil { // as http.Client does for a RoundTripper that leaves it nil
		resp.Body = http.NoBody
	}
	return resp, nil
}

// noteBackoff backs u's host off after a 429, or a 5xx carrying Retry-After, saving the
// backoff in the Memory when it starts or grows, and returns the response's capped
// Retry-After on a 429 or 5xx (0 if absent).
func (c *Client) noteBackoff(ctx context.Context, host string, resp *http.Response) time.Duration {
	code := resp.StatusCode
	if code != http.StatusTooManyRequests && code < 500 {
		return 0
	}
	now := time.Now()
	ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now, c.cfg.MaxRetryAfter)
	wait := ra
	if !ok && code == http.StatusTooManyRequests {
		wait = backoff(0)
	}
	if until := now.Add(wait); wait > 0 && c.host(host).setBackoff(until) {
		c.rememberBackoff(ctx, host, until)
	}
	return ra
}

// checkURL reports whether u can be fetched: absolute http(s) with a host.
func checkURL(u *url.URL) error {
	if u == nil {
		return fmt.Errorf("fetch: nil URL: %w", ErrUnsupportedScheme)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("fetch %s: %w", u, ErrUnsupportedScheme)
	}
	return nil
}

// redirectLocation returns the Location of a redirect response, or "".
func redirectLocation(resp *http.Response) string {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location")
	}
	return ""
}

// withoutCredentials returns h without the headers that must not follow a redirect to
// another host.
func withoutCredentials(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	h = h.Clone()
	for k := range h {
		switch textproto.CanonicalMIMEHeaderKey(k) {
		case "Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization":
			delete(h, k)
		}
	}
	return h
}

// isContextErr reports whether err comes from a context ending.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
