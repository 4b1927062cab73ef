package robots

import (
	"bytes"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzAllowed checks that a group that disallows "/" for the agent, and has
// only more Disallow lines, disallows every target but /robots.txt, whatever
// the target and the other patterns; and that verdicts on arbitrary files are
// deterministic.
func FuzzAllowed(f *testing.F) {
	f.Add("User-agent: *\nAllow: /\n", "Trawl", "/a?b#c", "/x*\n/y$")
	f.Add("User-agent: trawl\nAllow: /robots\n", "TRAWL", "http://h.test/robots.txt", "")
	f.Add("", "Foo-Bar_Bot", "//host/robots.txt", "*\n$\n\xe3\x83\x84")
	f.Add("Disallow: /\n", "a", "?q", "%2f\r#x\x00y")
	f.Add("User-agent: a\nDisallow: /\n", "a", "example.com/robots.txt?x", "/index.html")
	f.Fuzz(func(t *testing.T, body, agent, target, extra string) {
		d := Parse([]byte(body))
		first := d.Allowed(agent, target)
		if again := Parse([]byte(body)).Allowed(agent, target); again != first {
			t.Fatalf("Allowed(%q, %q) on the same file = %v, then %v", agent, target, first, again)
		}
		if !d.Allowed(agent, "/robots.txt") {
			t.Fatalf("Allowed(%q, /robots.txt) = false", agent)
		}
		if !ValidAgent(agent) {
			return
		}
		var rb strings.Builder
		rb.WriteString("User-agent: " + agent + "\nDisallow: /\n")
		for line := range strings.FieldsFuncSeq(extra, func(r rune) bool { return r == '\n' || r == '\r' }) {
			rb.WriteString("Disallow: " + line + "\n") // whatever line holds, this is a Disallow line
		}
		blocked := Parse([]byte(rb.String()))
		want := isRobotsTxt(pathParamsQuery(target))
		for _, a := range []string{agent, strings.ToUpper(agent), strings.ToLower(agent)} {
			if got := blocked.Allowed(a, target); got != want {
				t.Fatalf("Parse(%q).Allowed(%q, %q) = %v, want %v", rb.String(), a, target, got, want)
			}
		}
	})
}

// FuzzParse checks that Parse does not depend on the kind of line ending or
// on a leading byte order mark, only reports valid lower-case agent tokens,
// and always allows /robots.txt.
func FuzzParse(f *testing.F) {
	f.Add([]byte("User-agent: *\r\nDisallow: /a\r\nAllow: /a/b$\r\nCrawl-delay: 1.5\r\nSitemap: https://h.test/s.xml\r\n"))
	f.Add([]byte("\xEF\xBB\xBFuser-agent: FooBot\rdisallow /\r\rUser-Agent: * x\nallow: /index.html#c\n"))
	f.Add([]byte("useragent: a\nuser agent: b\ndisalow: /x\ndissallow /y\nsite-map: s\n\x00\n#\n:\n"))
	f.Add([]byte("Disallow: /\nUser-agent: Trawl/1.0\nUser-agent: trawl\nDisallow: /%e3%83%84*ツ$\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d := Parse(body)
		if again := Parse(body); !reflect.DeepEqual(d, again) {
			t.Fatalf("Parse(%q) is not deterministic", body)
		}
		if lf := Parse(bytes.ReplaceAll(body, []byte("\r"), []byte("\n"))); !reflect.DeepEqual(d, lf) {
			t.Fatalf("Parse(%q) differs once CR is replaced by LF", body)
		}
		if (len(body) == 0 || body[0] != 0xEF) && len(body)+3 <= MaxSize {
			if bom := Parse(append([]byte("\xEF\xBB\xBF"), body...)); !reflect.DeepEqual(d, bom) {
				t.Fatalf("Parse(%q) differs with a byte order mark", body)
			}
		}
		for agent := range d.agents {
			if !ValidAgent(agent) || agent != strings.ToLower(agent) {
				t.Fatalf("Parse(%q) has agent %q", body, agent)
			}
		}
		if n := len(d.Sitemaps()); n > bytes.Count(body, []byte("\n"))+bytes.Count(body, []byte("\r"))+1 {
			t.Fatalf("Parse(%q) has %d sitemaps, more than lines", body, n)
		}
		for _, agent := range []string{"*", "Trawl", ""} {
			if !d.Allowed(agent, "/robots.txt") {
				t.Fatalf("Parse(%q).Allowed(%q, /robots.txt) = false", body, agent)
			}
			if delay, ok := d.CrawlDelay(agent); delay < 0 || (!ok && delay != 0) {
				t.Fatalf("Parse(%q).CrawlDelay(%q) = %v, %v", body, agent, delay, ok)
			}
		}
	})
}

// FuzzMatch checks rule.match against googleMatches, a direct port of
// Google's RobotsMatchStrategy::Matches, on the same escaped pattern read as
// RFC 9309 compares it: its plain '*' and final '$' special, its literal runs
// and the path in normEscapes form (so "%2A" is a literal '*').
func FuzzMatch(f *testing.F) {
	f.Add("/a*b$", "/aXb")
	f.Add("/*ab*abc$", "/xababcabc")
	f.Add("*$", "/")
	f.Add("$$", "/$")
	f.Add("/a$b", "/a$b")
	f.Add("/**", "/")
	f.Add("/foo/bar/%62%61%7A", "/foo/bar/baz")
	f.Add("/foo/bar?baz=https://foo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar")
	f.Add("/path/file-with-a-%2A.html", "/path/file-with-a-*.html")
	f.Add("/path/foo-%24", "/path/foo-$")
	f.Add("/%2a*%24$", "/**$")
	f.Add("/*?u=%3a*%2F$", "/x?u=:y/")
	f.Add("/a%2541", "/a%41")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		p := escapePattern([]byte(pattern))
		if p == "" {
			return
		}
		r := compile(p, false)
		norm, _ := normEscapes(path, false)
		if got, want := r.match(norm), googleMatches(norm, patternTokens(p)); got != want {
			t.Fatalf("match(%q, %q) = %v, Google's Matches = %v", p, norm, got, want)
		}
	})
}

// FuzzNormEscapes checks normEscapes' properties: it is idempotent, it changes
// nothing but escapes (a string without '%' comes back as it was), and it
// decodes an escape only to its own octet.
func FuzzNormEscapes(f *testing.F) {
	f.Add("/foo/bar/%62%61%7a?baz=https%3A%2f%2Ffoo.bar")
	f.Add("/%25%2541%e3%83%84%zz%4")
	f.Add("/%3F?%3F%26%3D%2A%24")
	f.Fuzz(func(t *testing.T, s string) {
		once, _ := normEscapes(s, false)
		if twice, _ := normEscapes(once, false); twice != once {
			t.Fatalf("normEscapes(%q) = %q, then %q", s, once, twice)
		}
		if !strings.Contains(s, "%") && once != s {
			t.Fatalf("normEscapes(%q) = %q, want it unchanged", s, once)
		}
		if dec, err := url.PathUnescape(s); err == nil {
			if want, err := url.PathUnescape(once); err == nil && want != dec {
				t.Fatalf("normEscapes(%q) = %q: decodes to %q, want %q", s, once, want, dec)
			}
		}
	})
}

// Tokens of patternTokens beside octets 0 to 255.
const (
	tokStar = -1 // a plain '*': any run of octets
	tokEnd  = -2 // a plain final '$': the end of the path
)

// patternTokens reads an escaped pattern as the matcher does: a plain '*' is
// tokStar, a plain final '$' tokEnd, and the runs between them are octets in
// normEscapes form, a run being in the query once the pattern's '?' was read.
func patternTokens(p string) []int {
	end := strings.HasSuffix(p, "$")
	if end {
		p = p[:len(p)-1]
	}
	var toks []int
	query := false
	for i, run := range strings.Split(p, "*") {
		if i > 0 {
			toks = append(toks, tokStar)
		}
		run, query = normEscapes(run, query)
		for j := 0; j < len(run); j++ {
			toks = append(toks, int(run[j]))
		}
	}
	if end {
		toks = append(toks, tokEnd)
	}
	return toks
}

// googleMatches is Google's RobotsMatchStrategy::Matches over pattern tokens,
// kept simple: pos holds the path offsets that the pattern read so far can end
// at.
func googleMatches(path string, pattern []int) bool {
	pos := []int{0}
	for _, c := range pattern {
		if c == tokEnd {
			return pos[len(pos)-1] == len(path)
		}
		if c == tokStar {
			start := pos[0]
			pos = pos[:0]
			for p := start; p <= len(path); p++ {
				pos = append(pos, p)
			}
			continue
		}
		next := pos[:0]
		for _, p := range pos {
			if p < len(path) && int(path[p]) == c {
				next = append(next, p+1)
			}
		}
		pos = next
		if len(pos) == 0 {
			return false
		}
	}
	return true
}

// benchRobots is a robots.txt of the size and shape of a large site's.
const benchRobots = `# robots.txt for www.example.com
User-agent: *
Disallow: /search
Allow: /search/about
Allow: /search/static
Allow: /search/howsearchworks
Disallow: /sdch
Disallow: /groups
Disallow: /index.html?
Disallow: /?
Allow: /?hl=
Disallow: /?hl=*&
Allow: /?hl=*&gws_rd=ssl$
Disallow: /?hl=*&*&gws_rd=ssl
Allow: /?gws_rd=ssl$
Allow: /?pt1=true$
Disallow: /imgres
Disallow: /u/
Disallow: /preferences
Disallow: /setprefs
Disallow: /default
Disallow: /m?
Disallow: /m/
Allow: /m/finance
Disallow: /wml?
Disallow: /wml/?
Disallow: /wml/search?
Disallow: /xhtml?
Disallow: /xhtml/?
Disallow: /xhtml/search?
Disallow: /xml?
Disallow: /imode?
Disallow: /*.pdf$
Disallow: /*/private/*
Crawl-delay: 1

User-agent: AdsBot-Google
Disallow: /maps/api/js/

User-agent: Twitterbot
Allow: /imgres

Sitemap: https://www.example.com/sitemap.xml
`

func BenchmarkAllowed(b *testing.B) {
	d := Parse([]byte(benchRobots))
	benchmarks := []struct {
		name, agent, target string
	}{
		{"path", "Trawl", "/search/about"},
		{"full URL", "Trawl", "https://www.example.com/a/b/c.pdf?x=1#f"},
		{"wildcards miss", "Trawl", "/products/widgets/blue/large/index.html?color=blue&size=l"},
		{"specific agent", "twitterbot", "/imgres?q=1"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d.Allowed(bm.agent, bm.target)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	body := []byte(benchRobots)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		Parse(body)
	}
}
