package crawl

import (
	"log/slog"
	"net/url"

	"github.com/trawl/trawl/dedupe"
)

// spaceWatch follows one page's links for the URL-space detector
// (Config.URLSpaces): whether the page queued a URL of another pattern than
// its own, which is new ground rather than more of the same space.
type spaceWatch struct {
	spaces  *dedupe.URLSpaces // nil: the page is not observed
	page    uint64            // the page's pattern
	leadsOn bool              // a URL of another pattern was queued
}

// watchSpace starts watching the page at pageURL when the detector is on
// and observe is set: the page was parsed as HTML and its links followed.
func (e *Engine) watchSpace(pageURL *url.URL, observe bool) spaceWatch {
	if !observe || !e.spaces.Active() {
		return spaceWatch{}
	}
	return spaceWatch{spaces: e.spaces, page: e.spaces.Pattern(pageURL)}
}

// found notes that the page queued u, a URL new to the crawl.
func (w *spaceWatch) found(u *url.URL) {
	if w.spaces != nil && !w.leadsOn && w.spaces.Pattern(u) != w.page {
		w.leadsOn = true
	}
}

// spaceDone tells the detector about the page (pageURL, its text's SimHash)
// once its links are through, and logs the pattern it closes, if any.
func (e *Engine) spaceDone(w *spaceWatch, pageURL string, simhash uint64) {
	if w.spaces == nil || !w.spaces.Observe(w.page, simhash, w.leadsOn) {
		return
	}
	pattern := pageURL
	if u, err := url.Parse(pageURL); err == nil {
		pattern = dedupe.PatternString(u)
	}
	e.log.Info("url space closed", slog.String("url", pageURL), slog.String("pattern", pattern)) // once per pattern
}
