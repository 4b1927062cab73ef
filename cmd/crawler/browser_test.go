package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trawl/trawl/testserver"
)

// chromium returns the path of Debian's chromium (installed by .ci/run with
// apt-get), or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: the dashboard's browser test needs it (apt-get install chromium)")
	return ""
}

// browserSession drives one headless chromium tab.
type browserSession struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots
}

func (b *browserSession) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitJS waits until the JavaScript expression is true, polled by the
// browser on each animation frame: a readiness signal, not a sleep.
func (b *browserSession) waitJS(what, expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		b.screenshot("failed-wait")
		if st, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`JSON.stringify(hosts)`)); err == nil {
			b.t.Logf("hosts on the page: %s", st)
		}
		b.t.Fatalf("wait for %s: %v", what, err)
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](b *browserSession, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// updates returns how many snapshots the page has rendered.
func (b *browserSession) updates() int {
	b.t.Helper()
	return eval[int](b, `Number(document.body.dataset.updates || 0)`)
}

// waitUpdates waits until the page has rendered n more snapshots (one a
// second): a window in which the crawl could act.
func (b *browserSession) waitUpdates(n int) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("%d more updates", n), fmt.Sprintf(`Number(document.body.dataset.updates || 0) >= %d`, b.updates()+n))
}

func (b *browserSession) screenshot(name string) {
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", path)
}

// TestDashboardInBrowser runs a crawl with --ui against a testserver site
// and drives its dashboard in headless chromium: the charts move, a host
// backed off by a 429 shows its wake time, pause stops requests at the
// server and resume restarts them, an added seed is crawled, the page
// browser finds a page by title, and Stop ends the crawl. Screenshots of
// each step go to the test's artifact directory (go test -artifacts keeps
// them under -outputdir).
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	exe := chromium(t)
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: 400, LinksPerPage: 4, Seed: 3, Latency: 20 * time.Millisecond,
		Overrides: map[string]testserver.Response{
			// Page 5, a seed, lives on the second host: its 429 backs that host off for 20 s.
			"/p/5": {Status: 429, Header: map[string]string{"Retry-After": "20"}, Times: 1},
		}})
	other := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 5, LinksPerPage: 2, Seed: 4})
	backedOff := strings.TrimPrefix(strings.Split(site.PageURL(5), "/p/")[0], "http://")

	// The crawl, in this process, with its dashboard on a free port.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	db := filepath.Join(t.TempDir(), "crawl.db")
	exit := make(chan int, 1)
	go func() {
		err := run(ctx, append([]string{"crawl", "--db", db, "--ui", "127.0.0.1:0", "--rate", "4", "--per-host", "1",
			"--allow-private", "--grace", "5s"}, append(site.Seeds(), site.PageURL(5))...), io.Discard, pw)
		pw.CloseWithError(io.EOF)
		exit <- exitCode(err)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "dashboard: "); ok {
				addr <- u
			}

		}
		io.Copy(io.Discard, pr) //nolint:errcheck // drain the logs
	}()
	var dashURL string
	select {
	case dashURL = <-addr:
	case code := <-exit:
		t.Fatalf("crawl exited %d before serving its dashboard", code)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 1400))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	b := &browserSession{t: t, ctx: bctx, dir: t.ArtifactDir()}
	b.run("open the dashboard", chromedp.Navigate(dashURL), chromedp.WaitVisible("#hosts"))

	// The host that got a 429 waits on its backoff, with its wake time.
	row := fmt.Sprintf(`document.querySelector('#hosts tr[data-host="%s"]')`, backedOff)
	b.waitJS("the backed-off host", row+` && `+row+`.querySelector('td.wait').textContent === 'backoff'`)
	next := eval[string](b, row+`.querySelector('td.next').textContent`)
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d \(in \d+ s\)$`).MatchString(next) {
		t.Errorf("next contact of the backed-off host = %q, want a wake time like 12:00:40 (in 38 s)", next)
	}
	b.screenshot("1-backoff")

	// The charts move: points are added and the line changes.
	b.waitJS("the pages chart to have points", `Number(document.getElementById('chart-pages').dataset.points) >= 3 &&
		Number(document.getElementById('pages-rate').textContent) > 0`)
	const line = `document.querySelector('#chart-pages polyline').getAttribute('points')`
	line1 := eval[string](b, line)
	b.waitUpdates(2)
	line2 := eval[string](b, line)
	if line1 == line2 {
		t.Errorf("the pages/s chart did not move in two updates: %q", line1)
	}
	b.screenshot("2-charts")

	// The page browser finds a page by its title and shows its links.
	b.run("search", chromedp.SetValue("#search", "Host 0"), chromedp.Click("#search-form button"))
	b.waitJS("a search result", `[...document.querySelectorAll('#results li')].some(li => li.textContent.startsWith('Host 0 — '))`)
	b.run("open the page", chromedp.Click(`#results li[data-id]`))
	b.waitJS("the page's details", `document.querySelector('#detail h3') && document.querySelector('#detail h3').textContent === 'Host 0' &&
		document.querySelectorAll('#detail ul')[0].children.length > 0`)
	b.screenshot("3-page-browser")

	// Pause: once nothing is in flight, the server gets no request.
	b.run("pause", chromedp.Click("#pause"))
	b.waitJS("paused with nothing in flight", `document.getElementById('mode').textContent === 'paused' &&
		document.querySelector('#totals tr[data-row="in flight"] td.run').textContent === '0'`)
	hits := site.TotalHits() + other.TotalHits()
	b.waitUpdates(3)
	b.screenshot("4-paused")
	if got := site.TotalHits() + other.TotalHits(); got != hits {
		t.Errorf("requests while paused: %d, then %d three updates later; want none", hits, got)
	}

	// Resume: requests start again.
	b.run("resume", chromedp.Click("#resume"))
	for site.TotalHits() == hits {
		b.waitUpdates(1)
	}

	// An added seed gets crawled.
	b.run("add a seed", chromedp.SetValue("#seed-url", other.Seeds()[0]), chromedp.Click("#seed-form button"))
	b.waitJS("the seed to be accepted", `document.getElementById('control-msg').textContent.includes('1 of 1 seeds new')`)
	for other.PagesServed() == 0 && other.Hits(other.Hosts()[0], "/") == 0 {
		b.waitUpdates(1)
	}
	b.waitJS("the new host in the table", fmt.Sprintf(`!!document.querySelector('#hosts tr[data-host="%s"]')`, other.Hosts()[0]))
	b.screenshot("5-seed-added")

	// Stop ends the crawl as Ctrl-C does. (The button asks for a
	// confirmation, which a headless browser cannot click: say yes.)
	eval[bool](b, `window.confirm = () => true, true`)
	b.run("stop", chromedp.Click("#stop"))
	select {
	case code := <-exit:
		if code != 130 {
			t.Errorf("crawl stopped from the dashboard: exit %d, want 130 (interrupted)", code)
		}
	case <-ctx.Done():
		t.Fatal("the crawl did not stop")
	}
}
