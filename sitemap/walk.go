package sitemap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
)

// Default caps of [WalkLimits].
const (
	DefaultMaxSitemaps = 1000      // sitemap fetches in one walk
	DefaultMaxWalkURLs = 1_000_000 // page entries delivered by one walk
	DefaultMaxErrors   = 100       // SitemapErrors kept in WalkStats.Errors
)

// MaxIndexDepth is how deep [Walk] follows indexes: a root is at depth 0 and the
// children of an index at depth d are at d+1; children deeper than this are not fetched.
const MaxIndexDepth = 2

// Getter fetches one sitemap URL and returns its body, which the caller ([Walk]) reads
// and closes. The body is the file as served: Walk undoes gzip itself. A Getter should
// return an error for a non-2xx response, bound the time it takes (Walk passes ctx on)
// and may fetch through a polite, rate-limited client.
type Getter func(ctx context.Context, url string) (io.ReadCloser, error)

// WalkLimits caps a [Walk]. The zero value means the defaults; negative values are
// rejected.
type WalkLimits struct {
	File        Limits // caps on each file, as for Parse; zero fields mean Parse's defaults
	MaxSitemaps int    // sitemap fetches in all; 0 means DefaultMaxSitemaps (1,000)
	MaxURLs     int    // page entries delivered in all; 0 means DefaultMaxWalkURLs (1,000,000)
	MaxErrors   int    // errors kept in WalkStats.Errors; 0 means DefaultMaxErrors (100)
}

// WalkStats counts what a [Walk] did.
type WalkStats struct {
	Fetched    int            // sitemap files fetched (Getter calls)
	Indexes    int            // fetched files that were sitemap indexes
	URLs       int            // page entries delivered to fn
	Skipped    int            // entries Parse skipped (loc missing, too long, or not absolute http(s))
	OffHost    int            // page URLs not on the host of the sitemap listing them
	CrossHost  int            // child sitemaps not on the host of the index listing them
	Duplicates int            // sitemap URLs listed again after their first listing
	TooDeep    int            // child sitemaps listed by an index at MaxIndexDepth, not fetched
	Unfetched  int            // sitemap listings dropped because MaxSitemaps was reached
	Failed     int            // sitemaps whose fetch or parse failed (their entries read before the failure count)
	Errors     []SitemapError // the first MaxErrors failures, in walk order
}

// SitemapError records why one sitemap of a [Walk] failed.
type SitemapError struct {
	URL string // the sitemap URL as Walk requested it
	Err error  // from the Getter, or from Parse (may wrap ErrTooLarge or ErrFormat)
}

// Error returns the URL and the cause.
func (e SitemapError) Error() string { return fmt.Sprintf("sitemap %s: %v", e.URL, e.Err) }

// Unwrap returns the cause.
func (e SitemapError) Unwrap() error { return e.Err }

// errStop ends a Parse from inside its callback when the walk-wide URL cap is reached.
var errStop = errors.New("sitemap: walk url cap reached")

// Walk reads the sitemaps at roots and calls fn for every page entry (Kind URLSet or
// Text) it finds, following indexes as the package documentation describes. It fetches
// one sitemap at a time through get, breadth first, and calls fn from the calling
// goroutine.
//
// A failure of one sitemap is recorded in WalkStats and the walk goes on. Walk returns
// early with the error of fn (as is) or of ctx. When it delivered MaxURLs pages and
// finds another, or when MaxSitemaps stopped it fetching listed sitemaps, it returns an
// error wrapping [ErrTooLarge] with the stats so far: a partial walk. Invalid roots are
// recorded as failures.
func Walk(ctx context.Context, get Getter, roots []string, lim WalkLimits, fn func(Entry) error) (WalkStats, error) {
	var w walker
	if lim.MaxSitemaps < 0 || lim.MaxURLs < 0 || lim.MaxErrors < 0 {
		return w.st, fmt.Errorf("sitemap: walk limits %+v: negative", lim)
	}
	if _, err := lim.File.withDefaults(); err != nil {
		return w.st, err
	}
	if lim.MaxSitemaps == 0 {
		lim.MaxSitemaps = DefaultMaxSitemaps
	}
	if lim.MaxURLs == 0 {
		lim.MaxURLs = DefaultMaxWalkURLs
	}
	if lim.MaxErrors == 0 {
		lim.MaxErrors = DefaultMaxErrors
	}
	w.lim, w.seen = lim, make(map[string]bool)
	for _, r := range roots {
		u, err := parseHTTP(r)
		if err != nil {
			w.fail(r, err)
			continue
		}
		w.add(u, 0)
	}
	for len(w.queue) > 0 {
		if ctx.Err() != nil {
			return w.st, fmt.Errorf("sitemap: walk: %w", context.Cause(ctx))
		}
		j := w.queue[0]
		w.queue[0] = job{}
		w.queue = w.queue[1:]
		if err := w.visit(ctx, get, j, fn); err != nil {
			return w.st, err
		}
	}
	if w.st.Unfetched > 0 {
		return w.st, fmt.Errorf("sitemap: walk: %d sitemap listings beyond %d fetches: %w",
			w.st.Unfetched, lim.MaxSitemaps, ErrTooLarge)
	}
	return w.st, nil
}

// job is one sitemap to fetch.
type job struct {
	u     *url.URL
	depth int
}

// walker holds the state of one Walk. seen holds at most MaxSitemaps URLs (every one
// queued or fetched), so the queue and the map stay bounded.
type walker struct {
	lim   WalkLimits
	st    WalkStats
	queue []job
	seen  map[string]bool
}

// add queues u unless it was queued before or the fetch budget is spent.
func (w *walker) add(u *url.URL, depth int) {
	key := u.String()
	switch {
	case w.seen[key]:
		w.st.Duplicates++
	case len(w.seen) >= w.lim.MaxSitemaps:
		w.st.Unfetched++
	default:
		w.seen[key] = true
		w.queue = append(w.queue, job{u: u, depth: depth})
	}
}

// fail records the failure of the sitemap at u.
func (w *walker) fail(u string, err error) {
	w.st.Failed++
	if len(w.st.Errors) < w.lim.MaxErrors {
		w.st.Errors = append(w.st.Errors, SitemapError{URL: u, Err: err})
	}
}

// visit fetches and parses one sitemap. It returns an error only to end the walk.
func (w *walker) visit(ctx context.Context, get Getter, j job, fn func(Entry) error) error {
	w.st.Fetched++
	src := j.u.String()
	body, err := get(ctx, src)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("sitemap: walk: %w", context.Cause(ctx))
		}
		w.fail(src, err)
		return nil
	}
	if body == nil {
		w.fail(src, errors.New("getter returned no body"))
		return nil
	}
	defer func() { _ = body.Close() }()
	host := hostKey(j.u)
	var fnErr error
	ps, err := Parse(body, w.lim.File, func(e Entry) error {
		u, err := url.Parse(e.Loc) // cannot fail: Parse checked it
		if err != nil || hostKey(u) != host {
			if e.Kind == Index {
				w.st.CrossHost++
			} else {
				w.st.OffHost++
			}
			return nil
		}
		if e.Kind == Index {
			if j.depth >= MaxIndexDepth {
				w.st.TooDeep++
			} else {
				w.add(normalise(u), j.depth+1)
			}
			return nil
		}
		if w.st.URLs >= w.lim.MaxURLs {
			return errStop
		}
		w.st.URLs++
		if err := fn(e); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	w.st.Skipped += ps.Skipped
	if ps.Kind == Index {
		w.st.Indexes++
	}
	switch {
	case fnErr != nil:
		return fnErr
	case errors.Is(err, errStop):
		return fmt.Errorf("sitemap: walk: more than %d urls: %w", w.lim.MaxURLs, ErrTooLarge)
	case ctx.Err() != nil:
		return fmt.Errorf("sitemap: walk: %w", context.Cause(ctx))
	case err != nil:
		w.fail(src, err)
	}
	return nil
}

// parseHTTP parses an absolute http(s) URL with a host, lower-casing the host and
// dropping the fragment, so that equal sitemap URLs compare equal.
func parseHTTP(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("sitemap: %q is not an absolute http(s) url", s)
	}
	return normalise(u), nil
}

// normalise lower-cases u's host and drops its fragment, in place.
func normalise(u *url.URL) *url.URL {
	u.Host = strings.ToLower(u.Host)
	u.Fragment, u.RawFragment = "", ""
	return u
}

// hostKey returns u's host name (lower case, without a trailing dot) and port, the
// scheme's default port dropped.
func hostKey(u *url.URL) string {
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	p := u.Port()
	if (p == "80" && u.Scheme == "http") || (p == "443" && u.Scheme == "https") {
		p = ""
	}
	return net.JoinHostPort(h, p)
}
