package crawl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/sitemap"
	"github.com/trawl/trawl/storage"
)

// sitemapBatch is how many sitemap URLs go to the writer in one visit.
const sitemapBatch = 512

// seedSitemaps queues the pages listed in the sitemaps of the seeds' hosts
// (Config.Sitemaps): the Sitemap lines of each host's robots.txt and its
// /sitemap.xml, indexes followed as package sitemap does, every fetch
// through the polite fetcher. Listed pages pass the same scope, trap,
// host-cap and seen checks as links, and are queued at depth 0, as seeds.
// A sitemap that fails is logged and recorded; the crawl goes on.
func (e *Engine) seedSitemaps(ctx context.Context, seeds []*url.URL, send func(storage.Visit) error) error {
	done := map[string]bool{}
	for _, seed := range seeds {
		origin := seed.Scheme + "://" + seed.Host
		if done[origin] {
			continue
		}
		done[origin] = true
		if err := e.walkSitemaps(ctx, seed, send); err != nil {
			return err
		}
	}
	return nil
}

// walkSitemaps walks the sitemaps of seed's host.
func (e *Engine) walkSitemaps(ctx context.Context, seed *url.URL, send func(storage.Visit) error) error {
	// Allowed loads (and obeys) the host's robots.txt, which lists its sitemaps.
	if err := e.fetcher.Allowed(ctx, &url.URL{Scheme: seed.Scheme, Host: seed.Host, Path: "/"}); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	defaultMap := seed.Scheme + "://" + seed.Host + "/sitemap.xml"
	roots := append(e.fetcher.Sitemaps(seed.Host), defaultMap)

	v := storage.Visit{CrawlID: e.cfg.CrawlID}
	flush := func() error { // each visit is committed (and its new URLs queued) before the crawl starts
		if len(v.Discovered) == 0 && len(v.Sitemaps) == 0 && len(v.Drops) == 0 {
			return nil
		}
		err := send(v)
		v = storage.Visit{CrawlID: e.cfg.CrawlID}
		return err
	}
	get := func(ctx context.Context, raw string) (io.ReadCloser, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("sitemap %q: %w", raw, err)
		}
		res, err := e.fetcher.Fetch(ctx, fetch.Request{URL: u})
		if err != nil {
			if res != nil && res.Status == http.StatusNotFound && raw == defaultMap {
				return nil, errNoDefaultSitemap
			}
			return nil, err
		}
		v.Sitemaps = append(v.Sitemaps, storage.Sitemap{Host: u.Host, URL: raw})
		if res.Truncated {
			e.log.Warn("sitemap cut at the body cap; its later URLs are not read", "url", raw, "max_body", res.Size)
		}
		return io.NopCloser(bytes.NewReader(res.Body)), nil
	}
	var walkErr error
	stats, err := sitemap.Walk(ctx, get, roots, sitemap.WalkLimits{}, func(en sitemap.Entry) error {
		u, err := e.canonicalURL(en.Loc)
		if err != nil {
			addDrop(&v.Drops, dropInvalid, en.Loc)
			return nil
		}
		if found, _ := e.accept(u, u.String(), 0, &v.Drops); found != nil {
			v.Discovered = append(v.Discovered, *found)
		}
		if len(v.Discovered) >= sitemapBatch {
			if err := flush(); err != nil {
				walkErr = err
				return err
			}
		}
		return nil
	})
	if err := flush(); err != nil && walkErr == nil {
		walkErr = err
	}
	if walkErr != nil {
		return fmt.Errorf("crawl: sitemaps of %s: %w", seed.Host, walkErr)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	for _, se := range stats.Errors {
		if !errors.Is(se.Err, errNoDefaultSitemap) {
			e.log.Warn("sitemap failed", "url", se.URL, "err", se.Err)
		}
	}
	e.log.LogAttrs(ctx, slog.LevelInfo, "sitemaps read", slog.String("host", seed.Host), slog.Int("fetched", stats.Fetched),
		slog.Int("urls", stats.URLs), slog.Int("failed", stats.Failed), slog.Int("off_host", stats.OffHost), slog.Any("err", err))
	return nil
}

// errNoDefaultSitemap is a 404 for /sitemap.xml, which a host need not have.
var errNoDefaultSitemap = errors.New("no /sitemap.xml")
