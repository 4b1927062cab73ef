package crawl

import (
	"fmt"
	"slices"
	"testing"
)

func TestTally(t *testing.T) {
	e := &Engine{}
	for i := range maxRecentErrors + 5 {
		e.tally.record("a.test", i%4 == 0, i%4 == 2, fmt.Sprint("failure ", i), &RecentError{URL: fmt.Sprint(i)})
	}
	e.tally.record("b.test", false, false, "", nil)
	hosts := e.HostTallies()
	slices.SortFunc(hosts, func(x, y HostTally) int { return int(y.Pages - x.Pages) })
	want := []HostTally{{"a.test", 55, 14, 14, "failure 52"}, {"b.test", 1, 0, 0, ""}}
	if !slices.Equal(hosts, want) {
		t.Errorf("HostTallies = %+v, want %+v", hosts, want)
	}
	errs := e.RecentErrors()
	if len(errs) != maxRecentErrors || errs[0].URL != "54" || errs[len(errs)-1].URL != "5" {
		t.Errorf("RecentErrors: %d, newest %q, oldest %q; want %d, 54, 5", len(errs), errs[0].URL, errs[len(errs)-1].URL, maxRecentErrors)
	}

	// Past maxTallyHosts hosts, the rest are summed.
	var many Engine
	for i := range maxTallyHosts + 3 {
		many.tally.record(fmt.Sprintf("h%d.test", i), false, false, "", nil)
	}
	many.tally.record("h0.test", false, false, "", nil) // a known host still counts as itself
	ts := many.HostTallies()
	if len(ts) != maxTallyHosts+1 {
		t.Fatalf("%d tallies, want %d", len(ts), maxTallyHosts+1)
	}
	for _, h := range ts {
		if h.Host == OtherHosts && h.Pages != 3 || h.Host == "h0.test" && h.Pages != 2 {
			t.Errorf("tally %+v", h)
		}
	}
}
