package robots

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCrawlDelay(t *testing.T) {
	tests := []struct {
		name   string
		robots string
		agent  string
		want   time.Duration
		wantOK bool
	}{
		{"specific", "User-agent: Trawl\nCrawl-delay: 5\n", "Trawl", 5 * time.Second, true},
		{"agent case", "User-agent: trawl\nCrawl-delay: 5\n", "TRAWL", 5 * time.Second, true},
		{"fraction", "User-agent: Trawl\nCrawl-delay: 0.25\n", "Trawl", 250 * time.Millisecond, true},
		{"leading dot", "User-agent: Trawl\nCrawl-delay: .5\n", "Trawl", 500 * time.Millisecond, true},
		{"trailing dot", "User-agent: Trawl\nCrawl-delay: 2.\n", "Trawl", 2 * time.Second, true},
		{"zero", "User-agent: Trawl\nCrawl-delay: 0\n", "Trawl", 0, true},
		{"sub-nanosecond digits dropped", "User-agent: Trawl\nCrawl-delay: 1.0000000019\n", "Trawl", time.Second + 1, true},
		{"comment", "User-agent: Trawl\nCrawl-delay: 3 # be nice\n", "Trawl", 3 * time.Second, true},
		{"no colon", "User-agent: Trawl\nCrawl-delay 3\n", "Trawl", 3 * time.Second, true},
		{"typo", "User-agent: Trawl\ncrawldelay: 3\n", "Trawl", 3 * time.Second, true},
		{"huge saturates", "User-agent: Trawl\nCrawl-delay: 99999999999999999999\n", "Trawl", math.MaxInt64, true},
		{"huge with fraction saturates", "User-agent: Trawl\nCrawl-delay: 9223372036.9\n", "Trawl", math.MaxInt64, true},
		{"negative", "User-agent: Trawl\nCrawl-delay: -1\n", "Trawl", 0, false},
		{"exponent", "User-agent: Trawl\nCrawl-delay: 1e3\n", "Trawl", 0, false},
		{"unit", "User-agent: Trawl\nCrawl-delay: 10s\n", "Trawl", 0, false},
		{"two dots", "User-agent: Trawl\nCrawl-delay: 1.2.3\n", "Trawl", 0, false},
		{"dot only", "User-agent: Trawl\nCrawl-delay: .\n", "Trawl", 0, false},
		{"empty", "User-agent: Trawl\nCrawl-delay:\n", "Trawl", 0, false},
		{"invalid then valid", "User-agent: Trawl\nCrawl-delay: soon\nCrawl-delay: 4\n", "Trawl", 4 * time.Second, true},
		{"first wins", "User-agent: Trawl\nCrawl-delay: 1\nCrawl-delay: 9\n", "Trawl", time.Second, true},
		{"first group wins", "User-agent: Trawl\nCrawl-delay: 1\nDisallow: /a\nUser-agent: Trawl\nCrawl-delay: 9\n", "Trawl", time.Second, true},
		{"from a later group of the agent", "User-agent: Trawl\nDisallow: /a\nUser-agent: Trawl\nCrawl-delay: 9\n", "Trawl", 9 * time.Second, true},
		{"global", "User-agent: *\nCrawl-delay: 7\n", "Trawl", 7 * time.Second, true},
		{"specific group hides global", "User-agent: *\nCrawl-delay: 7\nDisallow: /x\nUser-agent: Trawl\nDisallow: /y\n", "Trawl", 0, false},
		{"other agent", "User-agent: Other\nCrawl-delay: 7\n", "Trawl", 0, false},
		// Crawl-delay must not change how groups are read (RFC 9309 §2.2.4):
		// it does not end the user-agent lines of its group.
		{"does not split the group", "User-agent: A\nCrawl-delay: 2\nUser-agent: Trawl\nDisallow: /\n", "Trawl", 2 * time.Second, true},
		{"before any group", "Crawl-delay: 3\nUser-agent: Trawl\nDisallow: /\n", "Trawl", 0, false},
		{"none", "User-agent: Trawl\nDisallow: /\n", "Trawl", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse([]byte(tc.robots)).CrawlDelay(tc.agent)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Parse(%q).CrawlDelay(%q) = %v, %v; want %v, %v", tc.robots, tc.agent, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestCrawlDelayDoesNotSplitGroup(t *testing.T) {
	d := Parse([]byte("User-agent: A\nCrawl-delay: 2\nUser-agent: Trawl\nDisallow: /private\n"))
	for _, agent := range []string{"A", "Trawl"} {
		if d.Allowed(agent, "/private") {
			t.Errorf("Allowed(%q, /private) = true, want false: both agents share the group", agent)
		}
	}
}

func TestSitemaps(t *testing.T) {
	tests := []struct {
		name   string
		robots string
		want   []string
	}{
		{"none", "User-agent: *\nDisallow: /\n", nil},
		{"in order regardless of group", "Sitemap: https://a.test/1.xml\n" +
			"User-agent: A\nSitemap: https://a.test/2.xml\nDisallow: /\n" +
			"User-agent: B\nsite-map: https://a.test/3.xml # comment\n" +
			"SITEMAP:https://a.test/4.xml\n",
			[]string{"https://a.test/1.xml", "https://a.test/2.xml", "https://a.test/3.xml", "https://a.test/4.xml"}},
		{"not escaped", "Sitemap: https://a.test/ツ.xml\n", []string{"https://a.test/ツ.xml"}},
		{"duplicates kept", "Sitemap: https://a.test/s\nSitemap: https://a.test/s\n", []string{"https://a.test/s", "https://a.test/s"}},
		{"empty skipped", "Sitemap:\nSitemap: \t \n", nil},
		{"crlf", "Sitemap: https://a.test/1\r\nSitemap: https://a.test/2\r\n", []string{"https://a.test/1", "https://a.test/2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse([]byte(tc.robots)).Sitemaps(); !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q).Sitemaps() = %q, want %q", tc.robots, got, tc.want)
			}
		})
	}
}

func TestSitemapsReturnsCopy(t *testing.T) {
	d := Parse([]byte("Sitemap: https://a.test/s\n"))
	d.Sitemaps()[0] = "changed"
	if got := d.Sitemaps(); got[0] != "https://a.test/s" {
		t.Errorf("after changing a returned slice, Sitemaps() = %q", got)
	}
}

func TestFixedVerdicts(t *testing.T) {
	var zero Data
	tests := []struct {
		name string
		d    *Data
		want bool // for every target but /robots.txt
	}{
		{"nil", nil, true},
		{"zero", &zero, true},
		{"AllowAll", AllowAll(), true},
		{"DisallowAll", DisallowAll(), false},
		{"empty file", Parse(nil), true},
	}
	targets := []string{"", "/", "/a", "/a?b", "http://x.test/a/b", "/robots.txt.bak", "/robots.txtx", "/x/robots.txt"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range targets {
				if got := tc.d.Allowed("Trawl", target); got != tc.want {
					t.Errorf("Allowed(Trawl, %q) = %v, want %v", target, got, tc.want)
				}
			}
			for _, target := range []string{"/robots.txt", "/robots.txt?x=1", "https://x.test/robots.txt#f"} {
				if !tc.d.Allowed("Trawl", target) {
					t.Errorf("Allowed(Trawl, %q) = false, want true", target)
				}
			}
			if d, ok := tc.d.CrawlDelay("Trawl"); d != 0 || ok {
				t.Errorf("CrawlDelay(Trawl) = %v, %v; want 0, false", d, ok)
			}
			if s := tc.d.Sitemaps(); s != nil {
				t.Errorf("Sitemaps() = %q, want nil", s)
			}
		})
	}
}

func TestRobotsTxtAlwaysAllowed(t *testing.T) {
	d := Parse([]byte("User-agent: *\nDisallow: /\nDisallow: /robots.txt$\n"))
	tests := []struct {
		target string
		want   bool
	}{
		{"/robots.txt", true},
		{"/robots.txt?v=2", true},
		{"http://a.test/robots.txt", true},
		{"/robots.txt/", false},
		{"/robots.txt;x", false},
		{"/Robots.txt", false},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			if got := d.Allowed("Trawl", tc.target); got != tc.want {
				t.Errorf("Allowed(Trawl, %q) = %v, want %v", tc.target, got, tc.want)
			}
		})
	}
}

func TestMaxSize(t *testing.T) {
	head := "User-agent: *\nDisallow: /early\n"
	pad := func(n int) string { // comment lines, n bytes in all
		return "#" + strings.Repeat("x", n-2) + "\n"
	}
	tests := []struct {
		name   string
		body   string
		target string
		want   bool
	}{
		{"rule inside the limit", head + pad(MaxSize-len(head)-len("Disallow: /late\n")) + "Disallow: /late\n", "/late", false},
		{"rule past the limit", head + pad(MaxSize-len(head)) + "Disallow: /late\n", "/late", true},
		{"rules before the limit still apply", head + pad(MaxSize-len(head)) + "Disallow: /late\n", "/early", false},
		// The limit cuts "Allow: /late-but-not-this" to "Allow: /late-b":
		// that line is dropped rather than allowing more than the site meant.
		{"line cut by the limit dropped", "User-agent: *\nDisallow: /\n" + pad(MaxSize-len("User-agent: *\nDisallow: /\n")-len("Allow: /late-b")) + "Allow: /late-but-not-this\n", "/late-b", false},
		{"line ending exactly at the limit kept", "User-agent: *\nDisallow: /\n" + pad(MaxSize-len("User-agent: *\nDisallow: /\n")-len("Allow: /late-b")) + "Allow: /late-b\nAllow: /x\n", "/late-b", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse([]byte(tc.body)).Allowed("Trawl", tc.target); got != tc.want {
				t.Errorf("Allowed(Trawl, %q) = %v, want %v (body %d bytes)", tc.target, got, tc.want, len(tc.body))
			}
		})
	}
}

func TestAllowedTargets(t *testing.T) {
	const robotstxt = "User-agent: Trawl\n" +
		"Disallow: /a/b\n" +
		"Disallow: /lower%2fhex\n" +
		"Disallow: /UPPER%2Fhex\n" +
		"Disallow: /q?x=1\n" +
		"Disallow: /params;p\n" +
		"Disallow: //twice\n"
	d := Parse([]byte(robotstxt))
	tests := []struct {
		target string
		want   bool
	}{
		{"/a/b", false},
		{"/a/b/c?d", false},
		{"/a%2Fb", true}, // %2F is not decoded to "/"
		{"/a/c", true},
		{"/lower%2Fhex", false}, // pattern %2f is upper-cased
		{"/lower%2fhex", false}, // and so is the target
		{"/UPPER%2fhex", false},
		{"/UPPER/hex", true},
		{"/q?x=1", false},
		{"/q?x=2", true},
		{"/q", true},
		{"/params;p", false},
		{"https://h.test/a/b#frag", false},
		{"https://h.test/q?x=1#frag", false},
		{"https://h.test:8080/a/b", false},
		{"https://h.test", true},
		{"https://h.test//twice", false},
		{"/a/b#f", false},
		{"#/a/b", true},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			if got := d.Allowed("Trawl", tc.target); got != tc.want {
				t.Errorf("Allowed(Trawl, %q) = %v, want %v", tc.target, got, tc.want)
			}
		})
	}
}

func TestAllowedURL(t *testing.T) {
	d := Parse([]byte("User-agent: Trawl\nDisallow: //twice\nDisallow: /q?x=1\nDisallow: /esc%2fx\nDisallow: /?$\nDisallow: /other\nDisallow: /robots\n"))
	tests := []struct {
		url  string
		want bool
	}{
		{"http://h.test//twice/more", false}, // as Allowed("//twice/more") would not be
		{"http://h.test/q?x=1", false},
		{"http://h.test/q?x=2", true},
		{"http://h.test/esc%2Fx", false},
		{"http://h.test/esc%2fx", false},
		{"http://h.test", true},
		{"http://h.test/", true},
		{"http://h.test/?", false}, // ForceQuery keeps the "?"
		{"http://h.test/robots.txt", true},
		{"http://h.test/other", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.AllowedURL("Trawl", u); got != tc.want {
				t.Errorf("AllowedURL(Trawl, %q) = %v, want %v", tc.url, got, tc.want)
			}
		})
	}
	if !d.AllowedURL("Trawl", nil) {
		t.Errorf("AllowedURL(Trawl, nil) = false, want true (nil is /)")
	}
}

func TestAgents(t *testing.T) {
	long := strings.Repeat("Bot", 40) // longer than groupsFor's stack buffer
	robotstxt := "User-agent: *\nDisallow: /\n\n" +
		"User-agent: Trawl/1.2 (+https://trawl.test)\nAllow: /trawl\n\n" +
		"User-agent: * not-just-star\nAllow: /global\n\n" +
		"User-agent: " + long + "\nAllow: /long\n\n" +
		"User-agent: ツ\nAllow: /\n\n" +
		"User-agent: *Foo\nAllow: /starfoo\n\n" +
		"useragent: typo-a\nAllow: /a\n\n" +
		"user agent: typo_b\nAllow: /b\n\n" +
		"User-agent typo-c\nAllow: /c\n\n" +
		"User-Agents: typo-d\nAllow: /d\n"
	d := Parse([]byte(robotstxt))
	tests := []struct {
		agent, target string
		want          bool
	}{
		{"Trawl", "/trawl", true},
		{"trawl", "/trawl", true},
		{"TRAWL", "/trawl", true},
		{"Trawl", "/x", true}, // the Trawl group hides the global Disallow: /
		{"Other", "/x", false},
		{"Trawl/1.2", "/trawl", false}, // an agent is a product token, not a header
		{"Trawl/1.2", "/global", true}, // so it gets the "*" groups
		{"Other", "/global", true},     // "* not-just-star" is still "*"
		{"Other", "/starfoo", false},   // "*Foo" names nobody
		{"", "/global", true},          // the empty agent gets "*"
		{"", "/", false},               // and nothing else
		{long, "/long", true},          // tokens longer than the stack buffer
		{strings.ToLower(long), "/long", true},
		{long + "x", "/long", false},
		{"typo-a", "/a", true},
		{"typo_b", "/b", true},
		{"typo-c", "/c", true},
		{"typo-d", "/d", true},
		{"\u212Arawl", "/trawl", false}, // KELVIN SIGN folds to k in Unicode, not in ASCII
	}
	for _, tc := range tests {
		t.Run(tc.agent+tc.target, func(t *testing.T) {
			if got := d.Allowed(tc.agent, tc.target); got != tc.want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", tc.agent, tc.target, got, tc.want)
			}
		})
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		robots string
		target string
		want   bool
	}{
		{"empty disallow allows all", "User-agent: *\nDisallow:\n", "/x", true},
		{"empty disallow still claims the agent", "User-agent: *\nDisallow: /\nUser-agent: Trawl\nDisallow:\n", "/x", true},
		{"group without rules still claims the agent", "User-agent: *\nDisallow: /\nUser-agent: Trawl\n", "/x", true},
		{"typo disalow", "User-agent: *\ndisalow: /x\n", "/x", false},
		{"typo dissallow", "User-agent: *\ndissallow: /x\n", "/x", false},
		{"typo dissalow", "User-agent: *\ndissalow: /x\n", "/x", false},
		{"typo diasllow", "User-agent: *\ndiasllow: /x\n", "/x", false},
		{"typo disallaw", "User-agent: *\ndisallaw: /x\n", "/x", false},
		{"missing colon with tab", "User-agent\t*\nDisallow\t/x\n", "/x", false},
		{"three words without colon ignored", "User-agent: *\nDisallow /x y\n", "/x", true},
		{"leading whitespace", "  User-agent: *\n\tDisallow: /x  \n", "/x", false},
		{"star in the middle", "User-agent: *\nDisallow: /a*c\n", "/abbbc", false},
		{"star may match nothing", "User-agent: *\nDisallow: /a*c\n", "/ac", false},
		{"stars in a row", "User-agent: *\nDisallow: /a**c$\n", "/abc", false},
		{"dollar not at end is literal", "User-agent: *\nDisallow: /a$b\n", "/a$b", false},
		{"dollar not at end does not anchor", "User-agent: *\nDisallow: /a$b\n", "/a", true},
		{"only dollar matches nothing", "User-agent: *\nDisallow: $\n", "/", true},
		{"star dollar matches everything", "User-agent: *\nDisallow: *$\n", "/anything", false},
		{"anchored after star needs the end", "User-agent: *\nDisallow: /*.gif$\n", "/a.gif?x", true},
		{"anchored after star", "User-agent: *\nDisallow: /*.gif$\n", "/a/b.gif", false},
		{"anchored tail not overlapping the prefix", "User-agent: *\nDisallow: /ab*b$\n", "/ab", true},
		{"greedy search finds a later occurrence", "User-agent: *\nDisallow: /*ab*abc$\n", "/xabyabab abc", false},
		{"runs between stars do not overlap", "User-agent: *\nDisallow: /*ab*abc$\n", "/xabc", true},
		{"greedy search, anchored match", "User-agent: *\nDisallow: /*ab*abc$\n", "/xababcabc", false},
		{"longer pattern wins over star", "User-agent: *\nAllow: /*.html\nDisallow: /private/\n", "/private/a.html", false},
		{"star counts in the length", "User-agent: *\nAllow: /a*\nDisallow: /a\n", "/abc", true},
		{"merged groups", "User-agent: Trawl\nDisallow: /a\n\nUser-agent: Other\nDisallow: /\n\nUser-agent: Trawl\nAllow: /a/b\n", "/a/b", true},
		{"merged groups, other rule", "User-agent: Trawl\nDisallow: /a\n\nUser-agent: Other\nDisallow: /\n\nUser-agent: Trawl\nAllow: /a/b\n", "/a/c", false},
		{"agent named twice in a group", "User-agent: Trawl\nUser-agent: trawl\nDisallow: /a\n", "/a", false},
		{"index.htm also allows the directory", "User-agent: *\nDisallow: /\nAllow: /d/index.htm\n", "/d/", true},
		{"index.html does not allow below the directory", "User-agent: *\nDisallow: /\nAllow: /d/index.html\n", "/d/x", false},
		{"index.html in a disallow is not special", "User-agent: *\nDisallow: /d/index.html\n", "/d/", true},
		{"non-ASCII pattern, escaped target", "User-agent: *\nDisallow: /é\n", "/%C3%A9", false},
		{"NUL ends the line", "User-agent: *\nDisallow: /a\x00/b\n", "/a", false},
		{"junk lines ignored", "\x00\xff\xfe garbage\n:::\n: /x\nUser-agent: *\nDisallow: /x\n", "/x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse([]byte(tc.robots)).Allowed("Trawl", tc.target); got != tc.want {
				t.Errorf("Parse(%q).Allowed(Trawl, %q) = %v, want %v", tc.robots, tc.target, got, tc.want)
			}
		})
	}
}

// TestScanKinds ports the line kinds of Google's reporting_robots_test.cc
// (LinesNumbersAreCountedCorrectly), where "Unused" lines are unknown here.
func TestScanKinds(t *testing.T) {
	const body = "User-Agent: foo\n" + // 1
		"Allow: /some/path\n" + // 2
		"User-Agent bar # no\n" + // 3
		"absolutely random line\n" + // 4
		"#so comment, much wow\n" + // 5
		"\n" + // 6
		"unicorns: /extinct\n" + // 7
		"noarchive: /some\n" + // 8
		"Disallow: /\n" + // 9
		"Error #and comment\n" + // 10
		"useragent: baz\n" + // 11
		"disallaw: /some\n" + // 12
		"site-map: https://e/s.xml #comment\n" + // 13
		"sitemap: https://e/t.xml\n" + // 14
		"Noarchive: /someCapital\n" + // 15
		"Crawl-delay: 1\n" // 16
	type emitted struct {
		line  int
		kind  keyKind
		value string
	}
	want := []emitted{
		{1, keyUserAgent, "foo"},
		{2, keyAllow, "/some/path"},
		{3, keyUserAgent, "bar"},
		{7, keyUnknown, "/extinct"},
		{8, keyUnknown, "/some"},
		{9, keyDisallow, "/"},
		{11, keyUserAgent, "baz"},
		{12, keyDisallow, "/some"},
		{13, keySitemap, "https://e/s.xml"},
		{14, keySitemap, "https://e/t.xml"},
		{15, keyUnknown, "/someCapital"},
		{16, keyCrawlDelay, "1"},
	}
	var got []emitted
	scan([]byte(body), func(line int, k keyKind, v []byte) {
		got = append(got, emitted{line, k, string(v)})
	})
	if !slices.Equal(got, want) {
		t.Errorf("scan emitted\n%v\nwant\n%v", got, want)
	}
}

// TestParseMemoryLinear checks that many agents sharing many rules do not
// multiply: a 500 KiB file must not become gigabytes.
func TestParseMemoryLinear(t *testing.T) {
	var b strings.Builder
	const agents, rules = 3000, 10000
	for range 2 { // two groups naming the same agents: they must be merged
		for i := range agents {
			b.WriteString("User-agent: bot-")
			for n := i; ; n /= 26 {
				b.WriteByte(byte('a' + n%26))
				if n < 26 {
					break
				}
			}
			b.WriteByte('\n')
		}
		for range rules / 2 {
			b.WriteString("Disallow: /a*b\n")
		}
	}
	d := Parse([]byte(b.String()))
	stored := 0
	for _, g := range d.groups {
		stored += len(g.rules)
	}
	refs := 0
	for _, gs := range d.agents {
		refs += len(gs)
	}
	if stored != rules || refs != 2*agents {
		t.Errorf("stored rules, group references = %d, %d; want %d, %d", stored, refs, rules, 2*agents)
	}
	if d.Allowed("bot-a", "/a/b") || !d.Allowed("bot-a", "/b") || !d.Allowed("other", "/a/b") {
		t.Errorf("verdicts wrong for a merged group")
	}
}

func TestAllowedDoesNotAllocate(t *testing.T) {
	d := Parse([]byte(benchRobots))
	for _, target := range []string{"/search/about", "https://www.example.com/a/b/c.pdf?x=1#f", "/groups/x/y/z"} {
		if n := testing.AllocsPerRun(100, func() { d.Allowed("Trawl", target) }); n != 0 {
			t.Errorf("Allowed(Trawl, %q) allocates %v times, want 0", target, n)
		}
	}
}
