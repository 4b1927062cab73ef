package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/pgstore/pgtest"
	"github.com/trawl/trawl/testserver"
)

// fleetWorker is one crawler process of a fleet test.
type fleetWorker struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

// startWorker starts the crawler with args, its User-Agent naming it so
// that the server tells the workers apart.
func startWorker(t *testing.T, bin, agent string, args []string) *fleetWorker {
	t.Helper()
	w := &fleetWorker{stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	w.cmd = exec.Command(bin, append([]string{"crawl", "--user-agent", agent}, args...)...)
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

// fleetSite is the site of the fleet tests: 32 hosts at 20 ms with a
// robots.txt (that disallows nothing the site links to: every page is
// reachable), and the count of pages the crawl must store.
func fleetSite(t *testing.T, pages int) (*testserver.Site, int) {
	site := startSite(t, testserver.SiteConfig{
		Hosts: 32, Pages: pages, LinksPerPage: 6, CrossHost: 0.3, PageSize: 1024, Latency: 20 * time.Millisecond, Seed: 10,
		Robots: "User-agent: *\nDisallow: /private/\n",
	})
	return site, pages + len(site.Hosts()) // and the roots
}

// checkFleet checks what a fleet's crawl of site must leave, counted at the
// server and in the database: every allowed page stored once and fetched
// at most dups times more than once; at most perHost requests at once and
// rate+1 in any second per host over all workers; robots.txt fetched once
// per host (more by at most extraRobots over all hosts: a worker killed
// between a robots.txt request and saving its verdict); no two workers on
// one host at once; nothing queued or leased.
func checkFleet(t *testing.T, site *testserver.Site, dsn, crawl string, want, dups, perHost, rate, extraRobots int) {
	t.Helper()
	robots := 0
	if got := site.PagesServed(); got != want-len(site.Hosts()) {
		t.Errorf("server served %d distinct pages, want %d", got, want-len(site.Hosts()))
	}
	if d := site.Duplicates(); len(d) > dups {
		t.Errorf("%d URLs fetched more than once, want at most %d; e.g. %v", len(d), dups, d[:min(5, len(d))])
	}
	for _, h := range site.Hosts() {
		if got := site.MaxConcurrent(h); got > perHost {
			t.Errorf("host %s saw %d concurrent requests, want <= %d", h, got, perHost)
		}
		if rate > 0 {
			window := time.Second
			if got := site.MaxInWindow(h, window); got > rate+1 {
				t.Errorf("host %s saw %d requests in %v, want <= rate+burst = %d; they were:\n%s", h, got, window, rate+1, densest(site, h))
			}
		}
		got := site.Hits(h, "/robots.txt")
		robots += got
		if got < 1 || got > 1+extraRobots {
			t.Errorf("host %s: robots.txt fetched %d times by the fleet, want 1 (at most %d with kills)", h, got, 1+extraRobots)
		}
		if o := site.Overlaps(h); len(o) > 0 {
			t.Errorf("host %s: %d requests while another worker's was being served, e.g. %+v", h, len(o), o[0])
		}
	}
	if rate > 0 {
		// A host given back waits an interval before another worker takes
		// it: two workers' requests in a row are never closer than that
		// (less half of it for the arrivals' jitter).
		if gap := minGap(site, false); gap < time.Second/time.Duration(2*rate) {
			t.Errorf("two workers' requests to one host %v apart, want at least %v", gap, time.Second/time.Duration(rate))
		}
	}
	if robots > len(site.Hosts())+extraRobots {
		t.Errorf("robots.txt fetched %d times on %d hosts, want at most %d more than once each", robots, len(site.Hosts()), extraRobots)
	}
	for q, n := range map[string]int{
		`SELECT count(*) FROM pages`:                               want,
		`SELECT count(DISTINCT url) FROM pages`:                    want,
		`SELECT count(*) FROM pages WHERE status = 200`:            want,
		`SELECT count(*) FROM urls WHERE state = 'queued'`:         0,
		`SELECT count(*) FROM host_lease WHERE expires_at > now()`: 0,
	} {
		if got := pgtest.Count(t, dsn, crawl, q); got != n {
			t.Errorf("%s = %d, want %d", q, got, n)
		}
	}
}

// TestFleetProcesses is the bar: three crawler processes on one
// crawl in PostgreSQL (--per-host 2 --rate 10, 32 hosts at 20 ms), polite
// and exactly once over all of them, counted at the server. 2,000 pages;
// TRAWL_FLEET_FULL=1 crawls the 20,000 (about 70 s at 10 pages/s
// per host).
func TestFleetProcesses(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	bin := crawlerBinary(t)
	pages := 2_000
	if testing.Short() {
		pages = 600
	}
	if os.Getenv("TRAWL_FLEET_FULL") != "" {
		pages = 20_000
	}
	site, want := fleetSite(t, pages)
	args := append([]string{"--db", dsn, "--crawl", crawl, "--per-host", "2", "--rate", "10", "--concurrency", "16",
		"--hosts", "11", "--lease", "5s", "--quiet"}, site.Seeds()...)
	start := time.Now()
	var fleet []*fleetWorker
	for i := range 3 {
		fleet = append(fleet, startWorker(t, bin, fmt.Sprintf("trawl-fleet-w%d", i+1), args))
	}
	for i, w := range fleet {
		if err := <-w.done; err != nil {
			t.Fatalf("worker %d: %v\n%s", i+1, err, w.stderr)
		}
	}
	t.Logf("%d pages by 3 workers in %v", want, time.Since(start).Round(time.Millisecond))
	checkFleet(t, site, dsn, crawl, want, 0, 2, 10, 0)
	peak, window := 0, 0
	for _, h := range site.Hosts() {
		peak, window = max(peak, site.MaxConcurrent(h)), max(window, site.MaxInWindow(h, time.Second))
	}
	t.Logf("per host, over all workers: at most %d requests at once, %d in one second; closest two requests: %v (one worker's), %v (two workers')",
		peak, window, minGap(site, true), minGap(site, false))
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(DISTINCT crawl_id) FROM page`); got != 3 {
		t.Errorf("pages recorded by %d workers' runs, want all 3", got)
	}
	checkInspect(t, dsn, crawl, want)
}

// checkInspect checks crawler stats and export on a finished fleet crawl of
// want pages: the totals, the three workers (stopped, holding nothing, their
// pages adding up), and one exported row per page.
func checkInspect(t *testing.T, dsn, crawl string, want int) {
	t.Helper()
	out, errOut, code := runCmd(t, "stats", "--db", dsn, "--crawl", crawl, "--json")
	if code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errOut)
	}
	var st struct {
		Pages, Queued int
		Workers       []struct {
			ID            string
			Live          bool
			Leases, Pages int
			Stopped       time.Time
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	if st.Pages != want || st.Queued != 0 {
		t.Errorf("stats: %d pages, %d queued; want %d, 0", st.Pages, st.Queued, want)
	}
	sum := 0
	for _, w := range st.Workers {
		sum += w.Pages
		if w.Live || w.Leases != 0 || w.Stopped.IsZero() {
			t.Errorf("stats: worker %+v, want stopped, holding nothing", w)
		}
	}
	if len(st.Workers) != 3 || sum != want {
		t.Errorf("stats: %d workers with %d pages, want 3 with %d", len(st.Workers), sum, want)
	}
	out, errOut, code = runCmd(t, "stats", "--db", dsn, "--crawl", crawl)
	if code != 0 || !strings.Contains(out, "worker") || !strings.Contains(out, "stopped") {
		t.Errorf("stats: exit %d, output lists no workers:\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCmd(t, "export", "--db", dsn, "--crawl", crawl, "--format", "csv")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	if rows := strings.Count(out, "\n") - 1; rows != want {
		t.Errorf("export csv: %d rows, want %d", rows, want)
	}
	if _, errOut, code := runCmd(t, "stats", "--db", dsn, "--crawl", "no_such_crawl"); code == 0 || !strings.Contains(errOut, "no crawl named") {
		t.Errorf("stats of a crawl that does not exist: exit %d, %q; want an error naming it", code, errOut)
	}
}

// terminate drops every database connection of the processes pids, as a
// restart of the server would (without restarting the shared server), and
// returns how many it dropped.
func terminate(t *testing.T, dsn string, pids []int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	n := 0
	for _, pid := range pids {
		var k int
		err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name LIKE 'trawl %:' || $1 || ':%'`, strconv.Itoa(pid)).Scan(&k)
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	return n
}

// TestFleetFaults kills one of three workers with SIGKILL at random moments
// five times, restarting it each time, and drops every database connection
// of the fleet three times: every page is stored once, at most the killed
// workers' fetches in flight are repeated, nothing stays leased, and no two
// workers ever contact one host at once (the killed worker's hosts wait for
// its leases to expire).
func TestFleetFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("kills workers 5 times: skipped in -short")
	}
	dsn, crawl := pgtest.Crawl(t)
	bin := crawlerBinary(t)
	const concurrency, kills, drops = 8, 5, 3
	site, want := fleetSite(t, 3_000)
	args := append([]string{"--db", dsn, "--crawl", crawl, "--per-host", "2", "--rate", "0", "--concurrency", strconv.Itoa(concurrency),
		"--hosts", "11", "--lease", "2s", "--quiet"}, site.Seeds()...)
	rng := rand.New(rand.NewPCG(10, 3))
	var mu sync.Mutex
	fleet := make([]*fleetWorker, 3)
	for i := range fleet {
		fleet[i] = startWorker(t, bin, fmt.Sprintf("trawl-fleet-w%d", i+1), args)
	}
	pids := func() []int {
		mu.Lock()
		defer mu.Unlock()
		var out []int
		for _, w := range fleet {
			out = append(out, w.cmd.Process.Pid)
		}
		return out
	}
	killed, dropped := 0, 0
	for killed < kills || dropped < drops {
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond) // a random moment, not a synchronisation
		if dropped < drops && (killed >= kills || rng.IntN(2) == 0) {
			if terminate(t, dsn, pids()) > 0 {
				dropped++
			}
			continue
		}
		i := rng.IntN(len(fleet))
		w := fleet[i]
		select {
		case err := <-w.done:
			t.Fatalf("worker %d ended before its kill (%v):\n%s", i+1, err, w.stderr)
		default:
		}
		w.cmd.Process.Kill() // SIGKILL: no flush, no lease given back
		<-w.done
		killed++
		mu.Lock()
		fleet[i] = startWorker(t, bin, fmt.Sprintf("trawl-fleet-w%d", i+1), args)
		mu.Unlock()
	}
	for i, w := range fleet {
		if err := <-w.done; err != nil {
			t.Fatalf("worker %d: %v\n%s", i+1, err, w.stderr)
		}
	}
	checkFleet(t, site, dsn, crawl, want, kills*concurrency, 2, 0, kills)
	t.Logf("%d kills, %d connection drops; %d URLs fetched twice", killed, dropped, len(site.Duplicates()))
}

// TestFleetFlagsNeedPostgres: the fleet's flags on a crawl file are a usage
// error, before any file is created.
func TestFleetFlagsNeedPostgres(t *testing.T) {
	db := t.TempDir() + "/crawl.db"
	for _, flags := range [][]string{{"--crawl", "news"}, {"--lease", "10s"}, {"--hosts", "4"}} {
		_, errOut, code := runCmd(t, append(append([]string{"crawl", "--db", db}, flags...), "http://127.0.0.1:1/")...)
		if code != 2 || !strings.Contains(errOut, "PostgreSQL") {
			t.Errorf("crawl %v on a file: exit %d, %q; want 2 and a message naming PostgreSQL", flags, code, errOut)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("the crawl file was created")
	}
	if _, errOut, code := runCmd(t, "crawl", "--db", "postgres://u@127.0.0.1:5432/x", "--lease", "10ms", "http://127.0.0.1:1/"); code != 2 || !strings.Contains(errOut, "--lease") {
		t.Errorf("--lease 10ms: exit %d, %q; want 2", code, errOut)
	}
}

// TestFleetServerRestart restarts the PostgreSQL server in the middle of a
// fleet's crawl, for real: the workers wait for it and carry on, and the
// crawl ends as polite and exactly once as without the restart. It runs only
// when TRAWL_TEST_PG_RESTART holds a shell command that restarts the server
// of TRAWL_TEST_POSTGRES (a private one: never the machine's shared server),
// e.g. "runuser -u postgres -- pg_ctl -D /tmp/pg/data restart -m fast".
func TestFleetServerRestart(t *testing.T) {
	restart := os.Getenv("TRAWL_TEST_PG_RESTART")
	if restart == "" {
		t.Skip("set TRAWL_TEST_PG_RESTART to a command restarting the server of TRAWL_TEST_POSTGRES (a private one) to run it")
	}
	dsn, crawl := pgtest.Crawl(t)
	bin := crawlerBinary(t)
	site, want := fleetSite(t, 2_000)
	args := append([]string{"--db", dsn, "--crawl", crawl, "--per-host", "2", "--rate", "10", "--concurrency", "16",
		"--hosts", "11", "--lease", "5s", "--quiet"}, site.Seeds()...)
	var fleet []*fleetWorker
	for i := range 3 {
		fleet = append(fleet, startWorker(t, bin, fmt.Sprintf("trawl-fleet-w%d", i+1), args))
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for site.PagesServed() < want/4 { // a quarter of the crawl done
		<-tick.C
	}
	start := time.Now()
	if out, err := exec.Command("sh", "-c", restart).CombinedOutput(); err != nil {
		t.Fatalf("restart the server: %v\n%s", err, out)
	}
	t.Logf("server restarted in %v, at %d of %d pages", time.Since(start).Round(time.Millisecond), site.PagesServed(), want)
	for i, w := range fleet {
		if err := <-w.done; err != nil {
			t.Fatalf("worker %d: %v\n%s", i+1, err, w.stderr)
		}
	}
	checkFleet(t, site, dsn, crawl, want, 0, 2, 10, 0)
	t.Logf("%d URLs fetched twice", len(site.Duplicates()))
}

// densest lists the requests to host in its busiest second: when each
// began, from whom, and what.
func densest(site *testserver.Site, host string) string {
	var reqs []testserver.Request
	for _, r := range site.Requests() {
		if r.Host == host {
			reqs = append(reqs, r)
		}
	}
	slices.SortFunc(reqs, func(a, b testserver.Request) int { return a.Start.Compare(b.Start) })
	best, from := 0, 0
	for i, lo := 0, 0; i < len(reqs); i++ {
		for reqs[i].Start.Sub(reqs[lo].Start) >= time.Second {
			lo++
		}
		if i-lo+1 > best {
			best, from = i-lo+1, lo
		}
	}
	var b strings.Builder
	for _, r := range reqs[from : from+best] {
		fmt.Fprintf(&b, "\t%s +%v %s %s\n", r.Start.Format("15:04:05.000"), r.End.Sub(r.Start).Round(time.Millisecond), r.Agent, r.Path)
	}
	return b.String()
}

// minGap returns the least time between the starts of two consecutive
// requests to one host, at the server, from one worker (same) or from two
// (robots.txt excluded: it is sent before its verdict is known).
func minGap(site *testserver.Site, same bool) time.Duration {
	byHost := map[string][]testserver.Request{}
	for _, r := range site.Requests() {
		if r.Path != "/robots.txt" {
			byHost[r.Host] = append(byHost[r.Host], r)
		}
	}
	least := time.Duration(math.MaxInt64)
	for _, reqs := range byHost {
		slices.SortFunc(reqs, func(a, b testserver.Request) int { return a.Start.Compare(b.Start) })
		for i := 1; i < len(reqs); i++ {
			if (reqs[i].Agent == reqs[i-1].Agent) == same {
				if d := reqs[i].Start.Sub(reqs[i-1].Start); d < least {
					least = d
					if os.Getenv("TRAWL_FLEET_DEBUG") != "" {
						fmt.Printf("gap %v: %+v then %+v\n", d, reqs[i-1], reqs[i])
					}
				}
			}
		}
	}
	return least
}
