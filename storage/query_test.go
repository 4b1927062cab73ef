package storage

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestSeen(t *testing.T) {
	db := openTest(t)
	visits := []Visit{
		{Discovered: []URL{{URL: "https://a.test/", Host: "a.test"}, {URL: "https://a.test/queued", Host: "a.test"}}},
		{Page: &Page{URL: "https://a.test/", Host: "a.test", Status: 200}, Links: []Link{{Dst: "https://out.test/"}}},
		{Page: &Page{URL: "https://a.test/failed", Host: "a.test", Error: "boom"}},
		{Page: &Page{URL: "https://a.test/old", Host: "a.test", Status: 200}, Aliases: []URL{{URL: "https://a.test/new", Host: "a.test"}}},
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://a.test/", true},
		{"https://a.test/queued", true},
		{"https://a.test/failed", true},
		{"https://a.test/new", true}, // a redirect target
		{"https://out.test/", false}, // only linked to: its text is kept, it was never queued
		{"https://a.test/other", false},
		{"https://A.test/", false}, // exact match: canonicalising is the caller's job
		{"", false},
	}
	for _, tt := range tests {
		got, err := db.Seen(t.Context(), URLID(tt.url))
		if err != nil {
			t.Fatalf("Seen(URLID(%q)): %v", tt.url, err)
		}
		if got != tt.want {
			t.Errorf("Seen(URLID(%q)) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// TestLease: Lease is a read of a host's queued URLs in seq (discovery)
// order, from after on, at most n; it changes nothing, so the same call
// gives the same answer. A URL leaves the queue when its page is written,
// fetched or failed.
func TestLease(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	a := func(i, depth int) URL {
		return URL{URL: fmt.Sprintf("https://a.test/%d", i), Host: "a.test", Depth: depth}
	}
	b := URL{URL: "https://b.test/", Host: "b.test"}
	first := commitOne(t, db, Visit{Discovered: []URL{a(0, 0), b, a(1, 1)}})
	bSeq := first.discovered[0][1].Seq
	second := commitOne(t, db, Visit{Discovered: []URL{a(2, 1), a(1, 9)}}, Visit{Discovered: []URL{a(3, 2), a(4, 2)}})

	all, err := db.Lease(ctx, "a.test", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for i, u := range all {
		urls = append(urls, u.URL)
		if u.ID != URLID(u.URL) || u.Host != "a.test" || (i > 0 && u.Seq <= all[i-1].Seq) {
			t.Errorf("Lease[%d] = %+v, want ID URLID(URL), host a.test, seq increasing", i, u)
		}
	}
	// Lease gives back what the merges reported queued.
	queued := slices.DeleteFunc(slices.Concat(first.queued, second.queued), func(u URL) bool { return u.Host != "a.test" })
	if !slices.Equal(all, queued) {
		t.Errorf("Lease(a.test, 0, 100) = %+v, want what Write reported queued, %+v", all, queued)
	}
	if want := []string{"https://a.test/0", "https://a.test/1", "https://a.test/2", "https://a.test/3", "https://a.test/4"}; !slices.Equal(urls, want) {
		t.Fatalf("Lease(a.test, 0, 100) = %v, want discovery order %v", urls, want)
	}
	if slices.IsSortedFunc(all, func(x, y URL) int { return cmp.Compare(x.ID, y.ID) }) {
		t.Fatal("the fixture's ids are in discovery order: it cannot tell seq order from id order")
	}
	if !(all[0].Seq < bSeq && bSeq < all[1].Seq) {
		t.Errorf("seqs: a.test/0 %d, b.test/ %d, a.test/1 %d; want increasing: one queue order for every host", all[0].Seq, bSeq, all[1].Seq)
	}
	if all[1].Depth != 1 || all[4].Depth != 2 {
		t.Errorf("depths = %d, %d; want 1 (the first discovery's) and 2", all[1].Depth, all[4].Depth)
	}

	tests := []struct {
		name  string
		host  string
		after int64
		n     int
		want  []URL
	}{
		{"all", "a.test", 0, 100, all},
		{"again: nothing was marked", "a.test", 0, 100, all},
		{"first n", "a.test", 0, 2, all[:2]},
		{"after the window", "a.test", all[1].Seq, 2, all[2:4]},
		{"after another host's seq", "a.test", bSeq, 100, all[1:]}, // b.test/ was queued between /0 and /1
		{"after the last", "a.test", all[4].Seq, 100, nil},
		{"n is 0", "a.test", 0, 0, nil},
		{"other host", "b.test", 0, 100, []URL{{ID: URLID(b.URL), URL: b.URL, Host: "b.test", Seq: bSeq}}},
		{"unknown host", "c.test", 0, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Lease(ctx, tt.host, tt.after, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lease(%s, %d, %d) = %+v, want %+v", tt.host, tt.after, tt.n, got, tt.want)
			}
		})
	}
	if n := count(t, db, `SELECT count(*) FROM urls WHERE state != 'queued'`); n != 0 {
		t.Errorf("%d urls not queued after Lease, want 0: Lease changes nothing", n)
	}

	// Fetching /1 and failing /3 takes them out of the queue.
	commitOne(t, db,
		Visit{Page: &Page{URL: all[1].URL, Host: "a.test", Status: 200, Depth: all[1].Depth}},
		Visit{Page: &Page{URL: all[3].URL, Host: "a.test", Error: "timeout", Depth: all[3].Depth}},
	)
	got, err := db.Lease(ctx, "a.test", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []URL{all[0], all[2], all[4]}; !slices.Equal(got, want) {
		t.Errorf("Lease after fetching /1 and failing /3 = %+v, want %+v", got, want)
	}
	hosts := map[string]int{}
	if err := db.QueuedHosts(ctx, func(h string, n int) error { hosts[h] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a.test": 3, "b.test": 1}; !maps.Equal(hosts, want) {
		t.Errorf("QueuedHosts = %v, want %v", hosts, want)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 4 || st.Done != 1 || st.Failed != 1 || st.Discovered != 6 {
		t.Errorf("Stats queued/done/failed/discovered = %d/%d/%d/%d, want 4/1/1/6", st.Queued, st.Done, st.Failed, st.Discovered)
	}
}

func TestCrawlRuns(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()

	if _, _, err := db.LastSettings(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("LastSettings on a new file: err = %v, want ErrNotFound", err)
	}
	if err := db.FinishCrawl(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishCrawl(42) on a new file: err = %v, want ErrNotFound", err)
	}
	if _, err := db.BeginCrawl(ctx, nil, []int{1}); err == nil {
		t.Error("BeginCrawl with settings that are not an object succeeded, want an error")
	}

	type settings struct {
		Workers  int    `json:"workers"`
		MaxDepth int    `json:"max_depth"`
		Scope    string `json:"scope"`
	}
	id1, err := db.BeginCrawl(ctx, []string{"https://a.test/"}, settings{Workers: 4, MaxDepth: 2, Scope: "host"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishCrawl(ctx, id1); err != nil {
		t.Fatalf("FinishCrawl(%d): %v", id1, err)
	}
	seeds := []string{"https://a.test/", "https://b.test/x?y=1&z=<2>"}
	id2, err := db.BeginCrawl(ctx, seeds, settings{Workers: 8, MaxDepth: 3, Scope: "domain"})
	if err != nil {
		t.Fatal(err)
	}
	if id2 <= id1 {
		t.Errorf("second crawl id %d, want more than %d", id2, id1)
	}

	raw, gotSeeds, err := db.LastSettings(ctx)
	if err != nil {
		t.Fatalf("LastSettings: %v", err)
	}
	var got settings
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("LastSettings settings %s: %v", raw, err)
	}
	if want := (settings{Workers: 8, MaxDepth: 3, Scope: "domain"}); got != want {
		t.Errorf("LastSettings settings = %+v, want %+v", got, want)
	}
	if !slices.Equal(gotSeeds, seeds) {
		t.Errorf("LastSettings seeds = %q, want %q", gotSeeds, seeds)
	}

	var finished1, finished2 *string
	var started string
	if err := db.ro.QueryRowContext(ctx, `SELECT (SELECT finished_at FROM crawls WHERE id = ?),
		(SELECT finished_at FROM crawls WHERE id = ?), (SELECT started_at FROM crawls WHERE id = ?)`,
		id1, id2, id2).Scan(&finished1, &finished2, &started); err != nil {
		t.Fatal(err)
	}
	if finished1 == nil || finished2 != nil {
		t.Errorf("finished_at = %v, %v; want set for the finished run, NULL for the running one", finished1, finished2)
	}
	if ts, err := time.Parse(timeLayout, started); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("started_at = %q (%v), want a recent %s timestamp", started, err, timeLayout)
	}
}

// TestStats builds a known crawl and checks every figure.
func TestStats(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()

	empty, err := db.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats on a new file: %v", err)
	}
	if empty.Pages != 0 || empty.Crawls != 0 || !empty.First.IsZero() || !empty.Last.IsZero() || len(empty.ByHost) != 0 {
		t.Errorf("Stats on a new file = %+v, want zeros", empty)
	}

	crawl, err := db.BeginCrawl(ctx, []string{"https://a.test/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // later than the crawl's start: Last is this
	page := func(url, host string, status int, size int64, errText string) Visit {
		return Visit{CrawlID: crawl, Page: &Page{URL: url, Host: host, Status: status, Size: size, Error: errText, FetchedAt: at}}
	}
	root := page("https://a.test/", "a.test", 200, 100, "")
	root.Links = []Link{{Dst: "https://a.test/1", Queued: true}, {Dst: "https://b.test/", Queued: true}}
	root.Aliases = []URL{{URL: "https://a.test/moved", Host: "a.test"}} // a redirect hop: done, no page of its own
	denied := page("https://b.test/private", "b.test", 0, 0, "fetch: disallowed by robots.txt")
	denied.Page.ErrorClass, denied.Page.Answered = "robots", true
	visits := []Visit{
		{CrawlID: crawl, Discovered: []URL{{URL: "https://a.test/", Host: "a.test"}}},
		root,
		page("https://a.test/1", "a.test", 200, 200, ""),
		page("https://a.test/2", "a.test", 404, 50, ""),
		page("https://a.test/3", "a.test", 0, 0, "timeout"),
		page("https://b.test/", "b.test", 200, 1000, ""),
		page("https://b.test/1", "b.test", 0, 0, "connection refused"),
		denied,
		page("https://c.test/", "c.test", 0, 0, "timeout"),
		page("https://c.test/1", "c.test", 0, 0, "timeout"),
		{CrawlID: crawl,
			Discovered: []URL{
				{URL: "https://a.test/4", Host: "a.test", Depth: 1},
				{URL: "https://d.test/", Host: "d.test", Depth: 1},
			}},
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatal(err)
	}

	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	figures := []struct {
		name      string
		got, want int64
	}{
		{"Pages", s.Pages, 9},
		{"Failed", s.Failed, 4},
		{"Done", s.Done, 5}, // the 404 and the robots denial are answers
		{"Robots", s.Robots, 1},
		{"Redirected", s.Redirected, 1},
		{"Requeued", s.Requeued, 0},
		{"Queued", s.Queued, 2},
		{"Discovered", s.Discovered, 12},
		{"Links", s.Links, 2},
		{"Bytes", s.Bytes, 1350},
		{"Crawls", int64(s.Crawls), 1},
	}
	for _, f := range figures {
		if f.got != f.want {
			t.Errorf("Stats.%s = %d, want %d", f.name, f.got, f.want)
		}
	}
	if s.Done+s.Failed+s.Requeued != s.Pages {
		t.Errorf("Stats: done %d + failed %d + requeued %d != pages %d", s.Done, s.Failed, s.Requeued, s.Pages)
	}
	if want := map[int]int64{200: 3, 404: 1, 0: 5}; !maps.Equal(s.ByStatus, want) {
		t.Errorf("Stats.ByStatus = %v, want %v", s.ByStatus, want)
	}
	wantHosts := []HostCount{{"a.test", 4, 1, 0}, {"b.test", 3, 1, 1}, {"c.test", 2, 2, 0}}
	if !slices.Equal(s.ByHost, wantHosts) {
		t.Errorf("Stats.ByHost = %v, want %v", s.ByHost, wantHosts)
	}
	wantErrors := []ErrorCount{{"timeout", 3}, {"connection refused", 1}, {"fetch: disallowed by robots.txt", 1}}
	if !slices.Equal(s.TopErrors, wantErrors) {
		t.Errorf("Stats.TopErrors = %v, want %v", s.TopErrors, wantErrors)
	}
	if !s.Last.Equal(at) {
		t.Errorf("Stats.Last = %v, want the latest fetch %v", s.Last, at)
	}
	if s.First.IsZero() || time.Since(s.First) > time.Minute {
		t.Errorf("Stats.First = %v, want the crawl's recent start", s.First)
	}
}

func TestStatsTopErrorsLimit(t *testing.T) {
	db := openTest(t)
	var visits []Visit
	for i := range topErrors + 5 {
		for j := range i + 1 { // error i occurs i+1 times
			url := fmt.Sprintf("https://a.test/%d/%d", i, j)
			visits = append(visits, Visit{Page: &Page{URL: url, Host: "a.test", Error: fmt.Sprintf("error %02d", i)}})
		}
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatal(err)
	}
	s, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.TopErrors) != topErrors {
		t.Fatalf("len(TopErrors) = %d, want %d", len(s.TopErrors), topErrors)
	}
	if first := s.TopErrors[0]; first.Error != "error 14" || first.Count != 15 {
		t.Errorf("TopErrors[0] = %+v, want error 14 ×15", first)
	}
}

// TestReadWhileWriting reads through the pool while Write commits: in WAL
// mode neither side may block the other into an error, and every read sees
// a consistent state (a page's URL is never missing from urls).
func TestReadWhileWriting(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	var visits []Visit
	for n := range 300 {
		visits = append(visits, pageVisit(0, n%3, n, 5))
	}
	done := make(chan error, 1)
	go func() {
		_, err := runWrite(db, WriterConfig{BatchSize: 10}, visits)
		done <- err
	}()
	reads := 0
	for writing := true; writing; reads++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			writing = false
		default:
		}
		s, err := db.Stats(ctx)
		if err != nil {
			t.Fatalf("Stats during Write: %v", err)
		}
		if s.Done != s.Pages {
			t.Fatalf("Stats during Write: %d pages but %d done urls; want one snapshot", s.Pages, s.Done)
		}
		if _, err := db.Seen(ctx, URLID(visits[0].Page.URL)); err != nil {
			t.Fatalf("Seen during Write: %v", err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM pages`); n != len(visits) {
		t.Errorf("pages = %d, want %d", n, len(visits))
	}
	t.Logf("%d reads while writing", reads)
}
