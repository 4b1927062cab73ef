package fetch

import (
	"strings"
	"time"
)

// HostWait is what holds a host back besides its rate limit, for a person
// watching the crawl.
type HostWait struct {
	BackoffUntil time.Time     // after a 429 or 503: nothing is sent before it; zero when not backed off
	CrawlDelay   time.Duration // the Crawl-delay of its robots.txt in force; 0 when none
}

// HostWait returns what holds host back now. It creates no state for a
// host the Client does not know. Safe for concurrent use.
func (c *Client) HostWait(host string) HostWait {
	key := strings.ToLower(host)
	var w HostWait
	if hs, ok := c.hosts.Peek(key); ok {
		if until := hs.backoffUntil.Load(); until > time.Now().UnixNano() {
			w.BackoffUntil = time.Unix(0, until)
		}
	}
	w.CrawlDelay = c.cachedCrawlDelay(key)
	return w
}
