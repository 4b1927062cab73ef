package dedupe

import (
	"net/url"
	"strings"
	"testing"
)

func TestURLSpacePattern(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"http://h/cal/2025/01", "http://h/cal/1999/12", true},
		{"http://h/cal/2025/01", "http://h/cal/2025", false},
		{"http://h/p/1", "http://h/p/20000", true},
		{"http://h/item/9f86d081884c7d65", "http://h/item/4a7f1c0000000000", true},
		{"http://h/events?month=2025-01", "http://h/events?month=1970-12", true},
		{"http://h/list?page=1", "http://h/list?page=2", true},
		{"http://h/list?page=1", "http://h/list?page=1&sort=asc", false},
		{"http://h/search?q=foo&page=1", "http://h/search?q=bar&page=1", false},
		{"http://h/post/12-my-title", "http://h/post/13-my-title", true},
		{"http://h/about", "http://h/contact", false},
		{"http://h/p/1", "http://g/p/1", false},
		{"http://h/p/1", "http://h:8080/p/1", false},
		{"http://h/a/1", "http://h/a%2F1", false},
	}
	s := NewURLSpaces(URLSpaceConfig{})
	for _, tc := range tests {
		a, b := mustParse(t, tc.a), mustParse(t, tc.b)
		if got := s.Pattern(a) == s.Pattern(b); got != tc.same {
			t.Errorf("Pattern(%q) == Pattern(%q): %v, want %v (%q, %q)", tc.a, tc.b, got, tc.same, PatternString(a), PatternString(b))
		}
		if got := PatternString(a) == PatternString(b); got != tc.same {
			t.Errorf("PatternString(%q) = %q, PatternString(%q) = %q: same %v, want %v", tc.a, PatternString(a), tc.b, PatternString(b), got, tc.same)
		}
	}
	if got, want := PatternString(mustParse(t, "http://h/cal/2025/01?x=a1b&y=zz")), "h/cal/#/#?x=#&y=zz"; got != want {
		t.Errorf("PatternString = %q, want %q", got, want)
	}
}

// near returns a SimHash k bits away from base.
func near(base uint64, k int) uint64 {
	for i := range k {
		base ^= 1 << (7 * i % 64)
	}
	return base
}

func TestURLSpacesClose(t *testing.T) {
	const base = 0x0123_4567_89ab_cdef
	t.Run("a run of MaxRun closes", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 5})
		// The first page has nothing to be near; then 5 near-duplicates.
		for i := range 5 {
			if s.Observe(1, near(base, i%3), false) {
				t.Fatalf("closed after %d pages, want 6", i+1)
			}
		}
		if s.Closed(1) {
			t.Fatal("Closed before the run reached MaxRun")
		}
		if !s.Observe(1, near(base, 2), false) || !s.Closed(1) {
			t.Fatal("the 6th page (5th near-duplicate in a row) did not close the pattern")
		}
		if s.Closed(2) {
			t.Error("another pattern is closed")
		}
		if s.Observe(1, base, false) {
			t.Error("a closed pattern was closed again")
		}
	})
	t.Run("a distinct page ends the run", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 5})
		for i := range 100 {
			h := uint64(base)
			if i%5 == 4 {
				h = ^h // 64 bits away from the others: not near
			}
			if s.Observe(1, h, false) {
				t.Fatalf("closed at page %d, though every fifth page is distinct", i+1)
			}
		}
	})
	t.Run("a page leading on ends the run", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 5})
		for i := range 100 {
			if s.Observe(1, base, i%5 == 4) {
				t.Fatalf("closed at page %d, though every fifth page leads on", i+1)
			}
		}
	})
	t.Run("distance", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 2, Distance: 3})
		a := uint64(base)
		b := a ^ 0x0f // 4 bits from a
		c := b ^ 0xf0 // 4 bits from b, 8 from a
		for _, h := range []uint64{a, b, c} {
			if s.Observe(1, h, false) {
				t.Fatal("pages 4 bits apart closed a pattern at Distance 3")
			}
		}
		s.Observe(1, a^0x07, false) // 3 bits from a: near, run 1
		if !s.Observe(1, a, false) {
			t.Fatal("pages 0 and 3 bits apart did not close it at MaxRun 2")
		}
	})
	t.Run("empty pages are near each other", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 3})
		for range 3 {
			s.Observe(1, 0, false)
		}
		if !s.Observe(1, 0, false) {
			t.Fatal("4 pages without text did not close the pattern")
		}
	})
	t.Run("the window", func(t *testing.T) {
		// Pages alternate between two unrelated texts: each is near the page
		// two before it, within the window.
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 10})
		closed := false
		for i := range 12 {
			h := uint64(base)
			if i%2 == 1 {
				h = ^h
			}
			closed = s.Observe(1, h, false)
		}
		if !closed {
			t.Fatal("alternating near-duplicates did not close the pattern")
		}
	})
	t.Run("off", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: -1})
		if s != nil || s.Active() {
			t.Fatal("MaxRun -1: want a nil, inactive URLSpaces")
		}
		for range 1000 {
			if s.Observe(1, base, false) {
				t.Fatal("a nil URLSpaces closed a pattern")
			}
		}
		if s.Closed(1) {
			t.Fatal("a nil URLSpaces has a closed pattern")
		}
	})
	t.Run("patterns are forgotten past MaxPatterns", func(t *testing.T) {
		s := NewURLSpaces(URLSpaceConfig{MaxRun: 1, MaxPatterns: 2})
		s.Observe(1, base, false)
		if !s.Observe(1, base, false) {
			t.Fatal("pattern 1 not closed")
		}
		s.Observe(2, base, false)
		s.Observe(3, base, false) // forgets 1, the least recently fetched
		if s.Closed(1) {
			t.Error("pattern 1 still remembered past MaxPatterns")
		}
		if n := s.patterns.Len(); n != 2 {
			t.Errorf("%d patterns remembered, want 2", n)
		}
	})
}

func TestURLSpacePatternNoAlloc(t *testing.T) {
	s := NewURLSpaces(URLSpaceConfig{})
	u := mustParse(t, "http://example.com/cal/2025/01/events?page=2&sort=asc")
	if n := testing.AllocsPerRun(100, func() { s.Pattern(u) }); n != 0 {
		t.Errorf("Pattern allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { s.Closed(s.Pattern(u)) }); n != 0 {
		t.Errorf("Closed allocates %v times, want 0", n)
	}
}

// FuzzURLSpacePattern checks that the pattern ignores digits and sees
// everything else: changing a digit never changes it, and its text keeps
// no digit outside the host and stands for the URL with its runs holding
// digits replaced.
func FuzzURLSpacePattern(f *testing.F) {
	f.Add("http://h/cal/2025/01")
	f.Add("http://h/item/9f86d081884c7d65?x=1&y=a2b")
	f.Add("http://h:80/p/%E3%81%82/1")
	f.Add("http://h/list?page=1&sort=asc#frag")
	s := NewURLSpaces(URLSpaceConfig{})
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		ps := PatternString(u)
		if rest := strings.TrimPrefix(ps, u.Host); strings.ContainsAny(rest, "0123456789") {
			t.Fatalf("PatternString(%q) = %q: a digit left", raw, ps)
		}
		v := *u
		v.Path = shiftDigits(u.Path)
		v.RawPath = shiftDigits(u.RawPath)
		v.RawQuery = shiftDigits(u.RawQuery)
		if s.Pattern(&v) != s.Pattern(u) || PatternString(&v) != ps {
			t.Fatalf("changing digits changed the pattern: %q (%q) and %q (%q)", u, ps, &v, PatternString(&v))
		}
		w := *u
		w.RawPath, w.Path = "", u.EscapedPath()+"x"
		if s.Pattern(&w) == s.Pattern(u) && PatternString(&w) != ps {
			t.Fatalf("Pattern and PatternString disagree on %q and %q", u, &w)
		}
	})
}

// shiftDigits replaces each ASCII digit d of s with (d+1) mod 10.
func shiftDigits(s string) string {
	b := []byte(s)
	for i, c := range b {
		if '0' <= c && c <= '9' {
			b[i] = '0' + (c-'0'+1)%10
		}
	}
	return string(b)
}
