package main

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/storage"
)

// fileEvery is how often, at most, the dashboard reads the file's totals (a
// full Stats), whatever the number of pages open: they cost a pass over the
// file, the live figures nothing. A read is also never sooner than
// fileSpacing times the last one took, so that reading a large file costs a
// crawl at most about 2% of one core (measured with bench/crawlbench -ui:
// reading every 5 s cost a 40,000-page crawl 9% of its pages per CPU-second).
//
// With a crawl running in the process, the host table and the latest errors
// come from the engine (crawl.Engine.HostTallies, RecentErrors), and the
// file's totals are read every fileEveryLive only.
const (
	fileEvery     = 5 * time.Second
	fileEveryLive = time.Minute
	fileSpacing   = 50
)

// maxHostRows is how many hosts a snapshot lists.
const maxHostRows = 200

// dashSource is what the dashboard shows: a crawl file, and the engine
// crawling into it when the dashboard runs inside 'crawler crawl'.
type dashSource struct {
	db      *storage.DB
	engine  *crawl.Engine    // nil for 'crawler serve'
	stop    func(error)      // ends the running crawl; nil without an engine
	recrawl bool             // the running crawl refetches the file's pages
	before  storage.Totals   // the file's totals when the run started
	path    string           // the file, as given
	now     func() time.Time // nil means time.Now
	mu      sync.Mutex       // guards file, fileAt, fileErr, fileFor
	file    *fileSnapshot    // the file's totals at fileAt
	fileAt  time.Time        // zero: never read
	fileErr string           // the last read's error, "" when none
	fileFor time.Duration    // how long the last read took
}

// fileSnapshot is what the dashboard shows of the file: as 'crawler stats'.
type fileSnapshot struct {
	Stats  *storage.Stats        `json:"stats"`
	Errors []storage.RecentError `json:"errors"` // the latest errors, newest first
	Queued map[string]int        `json:"-"`      // without an engine: queued URLs per host
	Backed map[string]time.Time  `json:"-"`      // without an engine: hosts backed off, until when
	AsOf   time.Time             `json:"as_of"`
}

// snapshot is one event of the dashboard's stream.
type snapshot struct {
	Time    time.Time        `json:"time"`
	DB      string           `json:"db"`
	Live    bool             `json:"live"`   // a crawl runs in this process: controls work
	Paused  bool             `json:"paused"` // it is paused
	Pages   int64            `json:"pages"`  // cumulative pages behind the chart: this run's (live) or the file's
	Bytes   int64            `json:"bytes"`  // cumulative body bytes behind the chart, likewise
	Run     *runSnapshot     `json:"run"`    // this run's counts; nil without an engine
	File    *fileSnapshot    `json:"file"`   // nil until first read
	FileErr string           `json:"file_err"`
	Hosts   []hostRow        `json:"hosts"`
	Classes map[string]int64 `json:"classes"` // the file's pages by status class ("2xx", ..., "none")
	Waiting string           `json:"waiting"` // what the crawl waits for, as on the progress line
	Drops   []storage.Drop   `json:"drops"`
	Errors  []errorRow       `json:"errors"` // the latest errors, newest first: this run's, or the file's
}

// errorRow is one of the latest errors.
type errorRow struct {
	URL       string `json:"url"`
	Status    int    `json:"status"`     // 0 when no response
	Class     string `json:"class"`      // error class
	Error     string `json:"error"`      // the error
	FetchedAt string `json:"fetched_at"` // RFC 3339, UTC
}

// runSnapshot is this run's counters: the same as the progress line and
// the end-of-crawl summary.
type runSnapshot struct {
	Fetched      int64    `json:"fetched"`
	Failed       int64    `json:"failed"`
	Retries      int64    `json:"retries"`
	RobotsDenied int64    `json:"robots_denied"`
	Bytes        int64    `json:"bytes"`
	Links        int64    `json:"links"`
	Discovered   int64    `json:"discovered"`
	Status       [6]int64 `json:"status"` // by status class: [2] is 2xx, [0] no response
	Queued       int      `json:"queued"`
	InFlight     int      `json:"in_flight"`
	Parked       int      `json:"parked"`
	Hosts        int      `json:"hosts"`
	FilePages    *int64   `json:"file_pages"` // pages in the file now; nil on a recrawl (only the file can say)
}

// hostRow is one row of the host table.
type hostRow struct {
	Host     string    `json:"host"`
	Queued   int       `json:"queued"`
	InFlight int       `json:"in_flight"`
	NextAt   time.Time `json:"next_at"` // zero: may be contacted now
	Wait     string    `json:"wait"`    // why it waits; "" when it does not
	Pages    int64     `json:"pages"`   // in the file
	Done     int64     `json:"done"`    // of Pages, answered
	Failed   int64     `json:"failed"`  // of Pages, no usable response
	Robots   int64     `json:"robots"`  // of Done, refused by robots.txt (never requested)
}

func (s *dashSource) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// snapshot builds one event: the live figures, and the file's, read again
// when older than fileEvery.
func (s *dashSource) snapshot(ctx context.Context) *snapshot {
	now := s.clock()
	snap := &snapshot{Time: now, DB: s.path, Live: s.engine != nil, Classes: map[string]int64{}}
	f, ferr := s.fileFigures(ctx, now)
	snap.File, snap.FileErr = f, ferr
	var hosts []crawl.HostStatus
	if e := s.engine; e != nil {
		p := e.Progress()
		hosts = e.Hosts(maxHostRows)
		for _, re := range e.RecentErrors() {
			snap.Errors = append(snap.Errors, errorRow{URL: re.URL, Status: re.Status, Class: re.Class, Error: re.Error,
				FetchedAt: re.At.UTC().Format(time.RFC3339)})
		}
		fig := runFigures{P: p, Before: s.before, Recrawl: s.recrawl}
		snap.Paused = p.Paused
		snap.Pages, snap.Bytes = p.Fetched, p.Bytes
		snap.Run = &runSnapshot{Fetched: p.Fetched, Failed: p.Failed, Retries: p.Retries, RobotsDenied: p.RobotsDenied,
			Bytes: p.Bytes, Links: p.Links, Discovered: p.Discovered, Status: p.Status, Queued: p.Frontier.Queued,
			InFlight: p.Frontier.InFlight - p.Parked, Parked: p.Parked, Hosts: p.Frontier.Hosts}
		if pages, _, ok := fig.filePages(); ok {
			snap.Run.FilePages = &pages
		}
		if p.Paused || (p.Frontier.InFlight == 0 && p.Frontier.Queued > 0) {
			snap.Waiting = waitingFor(p, hosts, now)
		}
	} else if f != nil {
		snap.Pages, snap.Bytes = f.Stats.Pages, f.Stats.Bytes
		hosts = fileHosts(f, now)
		for _, re := range f.Errors {
			snap.Errors = append(snap.Errors, errorRow{URL: re.URL, Status: re.Status, Class: re.Class, Error: re.Error, FetchedAt: re.FetchedAt})
		}
	}
	if f != nil {
		for code, n := range f.Stats.ByStatus {
			snap.Classes[statusClass(code)] += n
		}
		snap.Drops = f.Stats.Drops
	}
	if s.engine != nil {
		snap.Hosts = hostRows(hosts, tallyCounts(s.engine.HostTallies()))
	} else if f != nil {
		snap.Hosts = hostRows(hosts, fileCounts(f.Stats.ByHost))
	} else {
		snap.Hosts = hostRows(hosts, hostCounts{})
	}
	return snap
}

// fileFigures returns the file's figures, read again when older than
// fileEvery; one reader at a time, whatever the number of streams.
func (s *dashSource) fileFigures(ctx context.Context, now time.Time) (*fileSnapshot, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	every := fileEvery
	if s.engine != nil {
		every = fileEveryLive
	}
	if !s.fileAt.IsZero() && now.Sub(s.fileAt) < max(every, fileSpacing*s.fileFor) {
		return s.file, s.fileErr
	}
	s.fileAt = now
	start := time.Now()
	f, err := s.readFile(ctx, now)
	s.fileFor = time.Since(start)
	if err != nil {
		s.fileErr = err.Error()
		return s.file, s.fileErr // the last good figures stay on screen
	}
	s.file, s.fileErr = f, ""
	return f, ""
}

func (s *dashSource) readFile(ctx context.Context, now time.Time) (*fileSnapshot, error) {
	st, err := s.db.Stats(ctx)
	if err != nil {
		return nil, err
	}
	f := &fileSnapshot{Stats: st, AsOf: now}
	if s.engine == nil { // a running crawl's come from its engine
		if f.Errors, err = s.db.RecentErrors(ctx, 20); err != nil {
			return nil, err
		}
	}
	if len(st.ByHost) > maxHostRows {
		st.ByHost = st.ByHost[:maxHostRows]
	}
	if len(st.TopErrors) > 10 {
		st.TopErrors = st.TopErrors[:10]
	}
	if s.engine == nil { // no frontier to ask: the file's queue and backoffs
		f.Queued = map[string]int{}
		err := s.db.QueuedHosts(ctx, func(host string, n int) error {
			if len(f.Queued) < 10*maxHostRows {
				f.Queued[host] = n
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if f.Backed, err = s.db.LoadBackoffs(ctx, now); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// fileHosts is the host list of a file without its crawler: the queued
// URLs per host and the backoffs in force, deepest queues first.
func fileHosts(f *fileSnapshot, now time.Time) []crawl.HostStatus {
	names := slices.Collect(maps.Keys(f.Queued))
	for h := range f.Backed {
		if _, ok := f.Queued[h]; !ok {
			names = append(names, h)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := f.Queued[b] - f.Queued[a]; d != 0 {
			return d
		}
		if a < b {
			return -1
		}
		return 1
	})
	out := make([]crawl.HostStatus, 0, min(len(names), maxHostRows))
	for _, h := range names[:min(len(names), maxHostRows)] {
		hs := crawl.HostStatus{}
		hs.Host, hs.Queued = h, f.Queued[h]
		if until, ok := f.Backed[h]; ok && until.After(now) {
			hs.NextAt, hs.Wait = until, crawl.WaitBackoff
		}
		out = append(out, hs)
	}
	return out
}

// hostCounts are pages, failed and robots-denied per host, from the file
// (storage.HostCount) or from this run (crawl.HostTally), in the order to
// list the hosts without a queue.
type hostCounts struct {
	order []string
	by    map[string]hostRow
}

func fileCounts(hs []storage.HostCount) hostCounts {
	c := hostCounts{by: map[string]hostRow{}}
	for _, h := range hs {
		c.order = append(c.order, h.Host)
		c.by[h.Host] = hostRow{Pages: h.Pages, Done: h.Pages - h.Failed, Failed: h.Failed, Robots: h.Robots}
	}
	return c
}

func tallyCounts(ts []crawl.HostTally) hostCounts {
	slices.SortFunc(ts, func(a, b crawl.HostTally) int {
		if a.Pages != b.Pages {
			return int(b.Pages - a.Pages)
		}
		return strings.Compare(a.Host, b.Host)
	})
	c := hostCounts{by: map[string]hostRow{}}
	for _, h := range ts {
		c.order = append(c.order, h.Host)
		c.by[h.Host] = hostRow{Pages: h.Pages, Done: h.Pages - h.Failed, Failed: h.Failed, Robots: h.Robots}
	}
	return c
}

// hostRows joins the hosts with a queue (first) and the hosts with pages,
// up to maxHostRows.
func hostRows(hosts []crawl.HostStatus, counts hostCounts) []hostRow {
	rows := make([]hostRow, 0, maxHostRows)
	seen := map[string]bool{}
	add := func(r hostRow) {
		if c, ok := counts.by[r.Host]; ok {
			r.Pages, r.Done, r.Failed, r.Robots = c.Pages, c.Done, c.Failed, c.Robots
		}
		rows = append(rows, r)
		seen[r.Host] = true
	}
	for _, h := range hosts {
		if len(rows) == maxHostRows {
			break
		}
		add(hostRow{Host: h.Host, Queued: h.Queued, InFlight: h.InFlight, NextAt: h.NextAt, Wait: h.Wait})
	}
	for _, h := range counts.order {
		if len(rows) == maxHostRows {
			break
		}
		if !seen[h] {
			add(hostRow{Host: h})
		}
	}
	return rows
}

// statusClass names the class of an HTTP status: "2xx", ..., or "none".
func statusClass(code int) string {
	if code <= 0 {
		return "none"
	}
	return strconv.Itoa(code/100) + "xx"
}
