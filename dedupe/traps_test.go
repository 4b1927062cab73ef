package dedupe

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestTrapsCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  TrapConfig
		in   string
		want Reason
	}{
		{"ordinary", TrapConfig{}, "https://example.com/a/b/c.html?x=1", ""},
		{"root", TrapConfig{}, "https://example.com/", ""},
		{"no path", TrapConfig{}, "https://example.com", ""},
		{"at max length", TrapConfig{}, "http://a/" + strings.Repeat("x", 2048-len("http://a/")), ""},
		{"too long", TrapConfig{}, "http://a/" + strings.Repeat("x", 2048-len("http://a/")+1), ReasonTooLong},
		{"too long by query", TrapConfig{}, "http://a/?" + strings.Repeat("x", 2048), ReasonTooLong},
		{"too long counts escapes", TrapConfig{MaxURLLen: 20}, "http://a/%20%20%20%20", ReasonTooLong},
		{"fragment not counted", TrapConfig{MaxURLLen: 12}, "http://a/bcd#" + strings.Repeat("f", 100), ""},
		{"length off", TrapConfig{MaxURLLen: -1}, "http://a/" + strings.Repeat("x", 5000), ""},
		{"at max depth", TrapConfig{}, "http://a" + strings.Repeat("/d/e/f/g/h/i/j/k", 4), ""},
		{"too deep", TrapConfig{}, "http://a" + strings.Repeat("/d", 16) + strings.Repeat("/e", 17), ReasonPathDepth},
		{"trailing slash is a segment", TrapConfig{MaxPathDepth: 2}, "http://a/b/c/", ReasonPathDepth},
		{"depth off", TrapConfig{MaxPathDepth: -1, MaxRepeats: -1}, "http://a" + strings.Repeat("/d", 100), ""},
		{"one segment 3 times", TrapConfig{}, "http://a/x/x/x", ""},
		{"one segment 4 times", TrapConfig{}, "http://a/x/x/x/x", ReasonRepeated},
		{"empty segments", TrapConfig{}, "http://a/b/////", ReasonRepeated},
		{"two segments 3 times", TrapConfig{}, "http://a/a/b/a/b/a/b", ""},
		{"two segments 3.5 times", TrapConfig{}, "http://a/a/b/a/b/a/b/a", ""},
		{"two segments 4 times", TrapConfig{}, "http://a/a/b/a/b/a/b/a/b", ReasonRepeated},
		{"two segments 4 times inside", TrapConfig{}, "http://a/p/q/a/b/a/b/a/b/a/b/r", ReasonRepeated},
		{"three segments 4 times", TrapConfig{}, "http://a" + strings.Repeat("/x/y/z", 4), ReasonRepeated},
		{"four segments 4 times", TrapConfig{}, "http://a" + strings.Repeat("/w/x/y/z", 4), ReasonRepeated},
		{"four segments 3 times", TrapConfig{}, "http://a" + strings.Repeat("/w/x/y/z", 3) + "/w/x/y", ""},
		{"five segments 4 times not looked for", TrapConfig{MaxPathDepth: 40}, "http://a" + strings.Repeat("/v/w/x/y/z", 4), ""},
		{"repeats broken", TrapConfig{}, "http://a/x/x/x/y/x/x/x", ""},
		{"dates", TrapConfig{}, "http://a/2024/01/01/01/post", ""},
		{"repeats 1", TrapConfig{MaxRepeats: 1}, "http://a/b/b", ReasonRepeated},
		{"repeats 1 ok", TrapConfig{MaxRepeats: 1}, "http://a/b/c/b", ""},
		{"repeats off", TrapConfig{MaxRepeats: -1}, "http://a/x/x/x/x/x", ""},
		{"escaped segments compared as written", TrapConfig{}, "http://a/x/%78/x/x", ""},
		{"depth before repeats", TrapConfig{MaxPathDepth: 3}, "http://a/x/x/x/x", ReasonPathDepth},
		{"length before depth", TrapConfig{MaxURLLen: 10}, "http://a/x/x/x/x", ReasonTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustParse(t, tt.in)
			if got := NewTraps(tt.cfg).Check(u); got != tt.want {
				t.Errorf("Check(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTrapsQueryVariants(t *testing.T) {
	tr := NewTraps(TrapConfig{MaxQueryVariants: 3})
	check := func(raw string, want Reason) {
		t.Helper()
		if got := tr.Check(mustParse(t, raw)); got != want {
			t.Errorf("Check(%q) = %q, want %q", raw, got, want)
		}
	}
	for range 2 { // a URL checked again is not another variant
		check("http://a/p?v=1", "")
		check("http://a/p?v=2", "")
		check("http://a/p?v=3", "")
	}
	check("http://a/p?v=4", ReasonQueryVariants)
	check("http://a/p?v=4", ReasonQueryVariants) // rejected: not recorded
	check("http://a/p?v=2", "")                  // accepted before: still accepted
	check("http://a/p", "")                      // no query: not a variant
	check("http://a/q?v=4", "")                  // another path
	check("https://a/p?v=4", "")                 // another scheme
	check("http://b/p?v=4", "")                  // another host
	check("http://a/p/?v=4", "")                 // another path
}

func TestTrapsQueryVariantsOff(t *testing.T) {
	tr := NewTraps(TrapConfig{MaxQueryVariants: -1})
	for i := range 2000 {
		raw := fmt.Sprintf("http://a/p?v=%d", i)
		if got := tr.Check(mustParse(t, raw)); got != "" {
			t.Fatalf("Check(%q) = %q, want \"\" with the check off", raw, got)
		}
	}
}

// TestTrapsMaxPaths checks that the count is bounded: a path pushed out of
// the LRU starts again from nothing.
func TestTrapsMaxPaths(t *testing.T) {
	tr := NewTraps(TrapConfig{MaxQueryVariants: 1, MaxPaths: 2})
	for _, c := range []struct {
		raw  string
		want Reason
	}{
		{"http://a/1?x", ""},
		{"http://a/1?y", ReasonQueryVariants},
		{"http://a/2?x", ""},
		{"http://a/3?x", ""}, // evicts /1, the least recently checked
		{"http://a/2?y", ReasonQueryVariants},
		{"http://a/1?y", ""},
	} {
		if got := tr.Check(mustParse(t, c.raw)); got != c.want {
			t.Errorf("Check(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	if n := tr.paths.Len(); n != 2 {
		t.Errorf("%d paths remembered, want 2", n)
	}
}

func TestTrapsConcurrent(t *testing.T) {
	const variants = 50
	tr := NewTraps(TrapConfig{MaxQueryVariants: variants})
	var wg sync.WaitGroup
	accepted := make([]int, 8) // one slot per goroutine
	for g := range accepted {
		wg.Go(func() {
			for i := range 2 * variants {
				// Every goroutine checks the same URLs, from different starts.
				raw := fmt.Sprintf("http://a/p?v=%d", (i+g*7)%(2*variants))
				u, err := url.Parse(raw)
				if err != nil {
					panic(err)
				}
				if tr.Check(u) == "" {
					accepted[g]++
				}
			}
		})
	}
	wg.Wait()
	// However the checks interleaved, exactly `variants` distinct queries
	// were let in, and each goroutine saw all of them accepted.
	for g, n := range accepted {
		if n != variants {
			t.Errorf("goroutine %d had %d URLs accepted, want %d", g, n, variants)
		}
	}
	distinct := map[string]bool{}
	for i := range 2 * variants {
		raw := fmt.Sprintf("http://a/p?v=%d", i)
		if tr.Check(mustParse(t, raw)) == "" {
			distinct[raw] = true
		}
	}
	if len(distinct) != variants {
		t.Errorf("%d distinct queries accepted after concurrent checks, want %d", len(distinct), variants)
	}
}

func TestTrapsCheckNoAlloc(t *testing.T) {
	tr := NewTraps(TrapConfig{})
	for _, raw := range []string{
		"https://www.example.com/docs/guide/install.html",
		"https://www.example.com/search?q=crawler&page=2",
		"https://www.example.com/a%20b/c",
	} {
		u := mustParse(t, raw)
		tr.Check(u) // records the path and query
		if allocs := testing.AllocsPerRun(100, func() { tr.Check(u) }); allocs != 0 {
			t.Errorf("Check(%q) allocates %v times, want 0", raw, allocs)
		}
	}
}

func BenchmarkTrapsCheck(b *testing.B) {
	tr := NewTraps(TrapConfig{})
	for _, raw := range []string{
		"https://www.example.com/docs/guide/install.html",
		"https://www.example.com/search?q=crawler&page=2",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimPrefix(u.Path, "/"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := tr.Check(u); r != "" {
					b.Fatal(r)
				}
			}
		})
	}
	b.Run("new-queries", func(b *testing.B) {
		urls := make([]*url.URL, 1000)
		for i := range urls {
			urls[i], _ = url.Parse(fmt.Sprintf("https://h%d.example.com/list?page=%d", i%100, i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.Check(urls[i%len(urls)])
			i++
		}
	})
}
