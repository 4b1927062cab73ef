package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/storage"
)

// runFigures are the one set of counters behind the progress line, the
// summary and the dashboard: this run's counts (the engine's Progress) on
// top of what the file held when the run started.
type runFigures struct {
	P       crawl.Progress
	Before  storage.Totals // the file's totals when this run started
	Recrawl bool           // this run refetches pages the file has: they replace their rows
}

// filePages returns the pages and failed URLs the file holds now, and false
// on a recrawl, where a refetch replaces a row instead of adding one and
// only the file can say (storage.DB.Totals).
func (f runFigures) filePages() (pages, failed int64, ok bool) {
	if f.Recrawl {
		return 0, 0, false
	}
	return f.Before.Pages + f.P.Fetched, f.Before.Failed + f.P.Failed, true
}

// progressLine renders the progress line (without the clear-line prefix).
// waiting says what the crawl waits for when nothing is in flight.
func progressLine(elapsed time.Duration, rate float64, f runFigures, waiting string) string {
	var b strings.Builder
	p := f.P
	fmt.Fprintf(&b, "%s  %.0f pages/s  fetched %d", elapsed.Round(time.Second), rate, p.Fetched)
	if pages, _, ok := f.filePages(); ok && f.Before.Pages > 0 {
		fmt.Fprintf(&b, " (%d in the file)", pages)
	}
	fmt.Fprintf(&b, "  failed %d  queued %d  in flight %d  hosts %d", p.Failed, p.Frontier.Queued, p.Frontier.InFlight-p.Parked, p.Frontier.Hosts)
	if waiting != "" {
		b.WriteString("  " + waiting)
	}
	return b.String()
}

// waitingFor says what the crawl waits for: the pause; the hosts held back
// by a backoff or an unavailable robots.txt, even while others are fetched
// (heldBack); or, with nothing in flight, the host contacted next, when and
// why.
func waitingFor(p crawl.Progress, hosts []crawl.HostStatus, now time.Time) string {
	if p.Paused {
		return "paused"
	}
	if s := heldBack(hosts, now); s != "" {
		return s
	}
	if p.Frontier.InFlight > 0 || p.Frontier.Queued == 0 {
		return ""
	}
	var next *crawl.HostStatus
	for i := range hosts {
		h := &hosts[i]
		if h.Wait != "" && !h.NextAt.IsZero() && (next == nil || h.NextAt.Before(next.NextAt)) {
			next = h
		}
	}
	if next == nil {
		return ""
	}
	return "waiting: " + untilText(next.Host, next.Wait, next.NextAt, now)
}

// heldBack says how many hosts wait on a backoff or an unavailable
// robots.txt, grouped by why (with the cause when known), the most first:
// "waiting: 3 hosts (robots.txt unavailable (HTTP 500)), the first
// a.test until 12:00:42, in 42s". It is "" when none does.
func heldBack(hosts []crawl.HostStatus, now time.Time) string {
	type group struct {
		why  string
		n    int
		next *crawl.HostStatus
	}
	var groups []*group
	byWhy := map[string]*group{}
	for i := range hosts {
		h := &hosts[i]
		if (h.Wait != crawl.WaitRobots && h.Wait != crawl.WaitBackoff) || !h.NextAt.After(now) {
			continue
		}
		why := h.Wait
		if h.Cause != "" {
			why += " (" + h.Cause + ")"
		}
		g := byWhy[why]
		if g == nil {
			g = &group{why: why}
			byWhy[why] = g
			groups = append(groups, g)
		}
		g.n++
		if g.next == nil || h.NextAt.Before(g.next.NextAt) {
			g.next = h
		}
	}
	if len(groups) == 0 {
		return ""
	}
	slices.SortFunc(groups, func(a, b *group) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.why, b.why)) })
	parts := make([]string, len(groups))
	for i, g := range groups {
		if g.n == 1 {
			parts[i] = untilText(g.next.Host, g.why, g.next.NextAt, now)
		} else {
			parts[i] = fmt.Sprintf("%d hosts (%s), the first %s", g.n, g.why, untilText(g.next.Host, "", g.next.NextAt, now))
		}
	}
	return "waiting: " + strings.Join(parts, "; ")
}

// untilText is "host (why) until 12:00:40, in 38s", without the
// parenthesis when why is "".
func untilText(host, why string, at, now time.Time) string {
	if why != "" {
		host += " (" + why + ")"
	}
	return fmt.Sprintf("%s until %s, in %s", host, at.Format("15:04:05"), at.Sub(now).Round(time.Second))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress redraws the progress line on c every second while enabled.
// The returned stop erases the line and returns after the ticker goroutine
// exits.
func startProgress(c *console, enabled bool, e *crawl.Engine, before storage.Totals, recrawl bool) (stop func()) {
	if !enabled {
		return func() {}
	}
	done := make(chan struct{}) // closed by stop
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last, lastAt := time.Now(), int64(0), time.Now()
		for {
			select {
			case <-done:
				c.SetLine("")
				return
			case now := <-t.C:
				p := e.Progress()
				rate := float64(p.Fetched-last) / now.Sub(lastAt).Seconds()
				last, lastAt = p.Fetched, now
				var waiting string
				if p.Paused || (p.Frontier.InFlight == 0 && p.Frontier.Queued > 0) {
					waiting = waitingFor(p, e.Hosts(100), now)
				}
				c.SetLine(progressLine(time.Since(start), rate, runFigures{p, before, recrawl}, waiting))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
