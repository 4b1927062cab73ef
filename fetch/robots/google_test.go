package robots

// This file ports every test of Google's robots_test.cc
// (github.com/google/robotstxt, commit c8ac4b1d93183ddcab30d09415356bf52550c6a5),
// which targets RFC 9309 (the REP I-D at the time). Each Go test names the C++
// test it ports. Google's IsUserAgentAllowed(robotstxt, useragent, url) maps to
// Parse(robotstxt).Allowed(useragent, url). Tests of Google's parse callbacks
// (RobotsParseHandler) are ported against scan, which plays that role here.

import (
	"fmt"
	"strings"
	"testing"
)

// allowedCase is one EXPECT_TRUE/EXPECT_FALSE(IsUserAgentAllowed(robots, agent, url)).
type allowedCase struct {
	robots string
	agent  string
	url    string
	want   bool
}

// runAllowed runs one subtest per case.
func runAllowed(t *testing.T, cases []allowedCase) {
	t.Helper()
	for i, tc := range cases {
		name := fmt.Sprintf("%d/%s/%s", i, tc.agent, tc.url)
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			if got := Parse([]byte(tc.robots)).Allowed(tc.agent, tc.url); got != tc.want {
				t.Errorf("Parse(%q).Allowed(%q, %q) = %v, want %v", shorten(tc.robots), tc.agent, shorten(tc.url), got, tc.want)
			}
		})
	}
}

// shorten keeps failure messages about very long inputs readable.
func shorten(s string) string {
	if len(s) <= 200 {
		return s
	}
	return s[:100] + "..." + s[len(s)-100:]
}

// GoogleOnly_SystemTest.
func TestGoogleOnlySystemTest(t *testing.T) {
	const robotstxt = "user-agent: FooBot\n" +
		"disallow: /\n"
	runAllowed(t, []allowedCase{
		// Empty robots.txt: everything allowed.
		{"", "FooBot", "", true},
		// Empty user-agent to be matched: everything allowed.
		{robotstxt, "", "", true},
		// Empty url: implicitly disallowed, see method comment for
		// GetPathParamsQuery in robots.cc.
		{robotstxt, "FooBot", "", false},
		// All params empty: same as robots.txt empty, everything allowed.
		{"", "", "", true},
	})
}

// ID_LineSyntax_Line: rules are colon separated name-value pairs; Google also
// accepts a missing colon ("disallow /").
func TestIDLineSyntaxLine(t *testing.T) {
	const (
		correct = "user-agent: FooBot\n" +
			"disallow: /\n"
		incorrect = "foo: FooBot\n" +
			"bar: /\n"
		incorrectAccepted = "user-agent FooBot\n" +
			"disallow /\n"
		url = "http://foo.bar/x/y"
	)
	runAllowed(t, []allowedCase{
		{correct, "FooBot", url, false},
		{incorrect, "FooBot", url, true},
		{incorrectAccepted, "FooBot", url, false},
	})
}

// ID_LineSyntax_Groups: a group is one or more user-agent lines followed by
// rules; groups for the same agent are combined; rules outside groups are ignored.
func TestIDLineSyntaxGroups(t *testing.T) {
	const robotstxt = "allow: /foo/bar/\n" +
		"\n" +
		"user-agent: FooBot\n" +
		"disallow: /\n" +
		"allow: /x/\n" +
		"user-agent: BarBot\n" +
		"disallow: /\n" +
		"allow: /y/\n" +
		"\n" +
		"\n" +
		"allow: /w/\n" +
		"user-agent: BazBot\n" +
		"\n" +
		"user-agent: FooBot\n" +
		"allow: /z/\n" +
		"disallow: /\n"
	const (
		urlW   = "http://foo.bar/w/a"
		urlX   = "http://foo.bar/x/b"
		urlY   = "http://foo.bar/y/c"
		urlZ   = "http://foo.bar/z/d"
		urlFoo = "http://foo.bar/foo/bar/"
	)
	runAllowed(t, []allowedCase{
		{robotstxt, "FooBot", urlX, true},
		{robotstxt, "FooBot", urlZ, true},
		{robotstxt, "FooBot", urlY, false},
		{robotstxt, "BarBot", urlY, true},
		{robotstxt, "BarBot", urlW, true},
		{robotstxt, "BarBot", urlZ, false},
		{robotstxt, "BazBot", urlZ, true},
		// Lines with rules outside groups are ignored.
		{robotstxt, "FooBot", urlFoo, false},
		{robotstxt, "BarBot", urlFoo, false},
		{robotstxt, "BazBot", urlFoo, false},
	})
}

// ID_LineSyntax_Groups_OtherRules: a group is not closed by lines that are not
// Allow or Disallow rules.
func TestIDLineSyntaxGroupsOtherRules(t *testing.T) {
	const (
		sitemap = "User-agent: BarBot\n" +
			"Sitemap: https://foo.bar/sitemap\n" +
			"User-agent: *\n" +
			"Disallow: /\n"
		unknown = "User-agent: FooBot\n" +
			"Invalid-Unknown-Line: unknown\n" +
			"User-agent: *\n" +
			"Disallow: /\n"
		url = "http://foo.bar/"
	)
	runAllowed(t, []allowedCase{
		{sitemap, "FooBot", url, false},
		{sitemap, "BarBot", url, false},
		{unknown, "FooBot", url, false},
		{unknown, "BarBot", url, false},
	})
}

// ID_REPLineNamesCaseInsensitive.
func TestIDREPLineNamesCaseInsensitive(t *testing.T) {
	const (
		upper = "USER-AGENT: FooBot\n" +
			"ALLOW: /x/\n" +
			"DISALLOW: /\n"
		lower = "user-agent: FooBot\n" +
			"allow: /x/\n" +
			"disallow: /\n"
		camel = "uSeR-aGeNt: FooBot\n" +
			"AlLoW: /x/\n" +
			"dIsAlLoW: /\n"
		urlAllowed    = "http://foo.bar/x/y"
		urlDisallowed = "http://foo.bar/a/b"
	)
	runAllowed(t, []allowedCase{
		{upper, "FooBot", urlAllowed, true},
		{lower, "FooBot", urlAllowed, true},
		{camel, "FooBot", urlAllowed, true},
		{upper, "FooBot", urlDisallowed, false},
		{lower, "FooBot", urlDisallowed, false},
		{camel, "FooBot", urlDisallowed, false},
	})
}

// ID_VerifyValidUserAgentsToObey: RobotsMatcher::IsValidUserAgentToObey is ValidAgent.
func TestIDVerifyValidUserAgentsToObey(t *testing.T) {
	tests := []struct {
		agent string
		want  bool
	}{
		{"Foobot", true},
		{"Foobot-Bar", true},
		{"Foo_Bar", true},
		{"", false}, // absl::string_view() and "" are both the empty string here
		{"ツ", false},
		{"Foobot*", false},
		{" Foobot ", false},
		{"Foobot/2.1", false},
		{"Foobot Bar", false},
	}
	for _, tc := range tests {
		t.Run(tc.agent, func(t *testing.T) {
			if got := ValidAgent(tc.agent); got != tc.want {
				t.Errorf("ValidAgent(%q) = %v, want %v", tc.agent, got, tc.want)
			}
		})
	}
}

// ID_UserAgentValueCaseInsensitive.
func TestIDUserAgentValueCaseInsensitive(t *testing.T) {
	const (
		upper = "User-Agent: FOO BAR\n" +
			"Allow: /x/\n" +
			"Disallow: /\n"
		lower = "User-Agent: foo bar\n" +
			"Allow: /x/\n" +
			"Disallow: /\n"
		camel = "User-Agent: FoO bAr\n" +
			"Allow: /x/\n" +
			"Disallow: /\n"
		urlAllowed    = "http://foo.bar/x/y"
		urlDisallowed = "http://foo.bar/a/b"
	)
	runAllowed(t, []allowedCase{
		{upper, "Foo", urlAllowed, true},
		{lower, "Foo", urlAllowed, true},
		{camel, "Foo", urlAllowed, true},
		{upper, "Foo", urlDisallowed, false},
		{lower, "Foo", urlDisallowed, false},
		{camel, "Foo", urlDisallowed, false},
		{upper, "foo", urlAllowed, true},
		{lower, "foo", urlAllowed, true},
		{camel, "foo", urlAllowed, true},
		{upper, "foo", urlDisallowed, false},
		{lower, "foo", urlDisallowed, false},
		{camel, "foo", urlDisallowed, false},
	})
}

// GoogleOnly_AcceptUserAgentUpToFirstSpace: "User-Agent: Foo Bar" names "Foo";
// the agent "Foo Bar" is not a valid product token and so gets the "*" group.
func TestGoogleOnlyAcceptUserAgentUpToFirstSpace(t *testing.T) {
	if ValidAgent("Foobot Bar") {
		t.Errorf(`ValidAgent("Foobot Bar") = true, want false`)
	}
	const robotstxt = "User-Agent: *\n" +
		"Disallow: /\n" +
		"User-Agent: Foo Bar\n" +
		"Allow: /x/\n" +
		"Disallow: /\n"
	const url = "http://foo.bar/x/y"
	runAllowed(t, []allowedCase{
		{robotstxt, "Foo", url, true},
		{robotstxt, "Foo Bar", url, false},
	})
}

// ID_GlobalGroups_Secondary: without a group for the agent, the "*" group
// applies; without either, everything is allowed.
func TestIDGlobalGroupsSecondary(t *testing.T) {
	const (
		empty  = ""
		global = "user-agent: *\n" +
			"allow: /\n" +
			"user-agent: FooBot\n" +
			"disallow: /\n"
		onlySpecific = "user-agent: FooBot\n" +
			"allow: /\n" +
			"user-agent: BarBot\n" +
			"disallow: /\n" +
			"user-agent: BazBot\n" +
			"disallow: /\n"
		url = "http://foo.bar/x/y"
	)
	runAllowed(t, []allowedCase{
		{empty, "FooBot", url, true},
		{global, "FooBot", url, false},
		{global, "BarBot", url, true},
		{onlySpecific, "QuxBot", url, true},
	})
}

// ID_AllowDisallow_Value_CaseSensitive: patterns match paths case-sensitively.
func TestIDAllowDisallowValueCaseSensitive(t *testing.T) {
	const (
		lowercaseURL = "user-agent: FooBot\n" +
			"disallow: /x/\n"
		uppercaseURL = "user-agent: FooBot\n" +
			"disallow: /X/\n"
		url = "http://foo.bar/x/y"
	)
	runAllowed(t, []allowedCase{
		{lowercaseURL, "FooBot", url, false},
		{uppercaseURL, "FooBot", url, true},
	})
}

// ID_LongestMatch: the most specific (longest) match wins; between equally
// long Allow and Disallow matches, Allow wins.
func TestIDLongestMatch(t *testing.T) {
	const url = "http://foo.bar/x/page.html"
	runAllowed(t, []allowedCase{
		{"user-agent: FooBot\n" +
			"disallow: /x/page.html\n" +
			"allow: /x/\n", "FooBot", url, false},

		{"user-agent: FooBot\n" +
			"allow: /x/page.html\n" +
			"disallow: /x/\n", "FooBot", url, true},
		{"user-agent: FooBot\n" +
			"allow: /x/page.html\n" +
			"disallow: /x/\n", "FooBot", "http://foo.bar/x/", false},

		// In case of equivalent disallow and allow patterns for the same
		// user-agent, allow is used.
		{"user-agent: FooBot\n" +
			"disallow: \n" +
			"allow: \n", "FooBot", url, true},

		// In case of equivalent disallow and allow patterns for the same
		// user-agent, allow is used.
		{"user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /\n", "FooBot", url, true},

		{"user-agent: FooBot\n" +
			"disallow: /x\n" +
			"allow: /x/\n", "FooBot", "http://foo.bar/x", false},
		{"user-agent: FooBot\n" +
			"disallow: /x\n" +
			"allow: /x/\n", "FooBot", "http://foo.bar/x/", true},

		// In case of equivalent disallow and allow patterns for the same
		// user-agent, allow is used.
		{"user-agent: FooBot\n" +
			"disallow: /x/page.html\n" +
			"allow: /x/page.html\n", "FooBot", url, true},

		// Longest match wins.
		{"user-agent: FooBot\n" +
			"allow: /page\n" +
			"disallow: /*.html\n", "FooBot", "http://foo.bar/page.html", false},
		{"user-agent: FooBot\n" +
			"allow: /page\n" +
			"disallow: /*.html\n", "FooBot", "http://foo.bar/page", true},

		// Longest match wins.
		{"user-agent: FooBot\n" +
			"allow: /x/page.\n" +
			"disallow: /*.html\n", "FooBot", url, true},
		{"user-agent: FooBot\n" +
			"allow: /x/page.\n" +
			"disallow: /*.html\n", "FooBot", "http://foo.bar/x/y.html", false},

		// Most specific group for FooBot allows implicitly /x/page.
		{"User-agent: *\n" +
			"Disallow: /x/\n" +
			"User-agent: FooBot\n" +
			"Disallow: /y/\n", "FooBot", "http://foo.bar/x/page", true},
		{"User-agent: *\n" +
			"Disallow: /x/\n" +
			"User-agent: FooBot\n" +
			"Disallow: /y/\n", "FooBot", "http://foo.bar/y/page", false},
	})
}

// ID_Encoding: octets outside US-ASCII in patterns are percent-encoded before
// comparison; URLs are expected to be percent-encoded by the caller already.
func TestIDEncoding(t *testing.T) {
	const (
		query = "User-agent: FooBot\n" +
			"Disallow: /\n" +
			"Allow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n"
		raw = "User-agent: FooBot\n" +
			"Disallow: /\n" +
			"Allow: /foo/bar/ツ\n"
		escaped = "User-agent: FooBot\n" +
			"Disallow: /\n" +
			"Allow: /foo/bar/%E3%83%84\n"
		unreserved = "User-agent: FooBot\n" +
			"Disallow: /\n" +
			"Allow: /foo/bar/%62%61%7A\n"
	)
	runAllowed(t, []allowedCase{
		// /foo/bar?baz=http://foo.bar stays unencoded.
		{query, "FooBot", "http://foo.bar/foo/bar?qux=taz&baz=http://foo.bar?tar&par", true},

		// 3 byte character: /foo/bar/ツ -> /foo/bar/%E3%83%84
		{raw, "FooBot", "http://foo.bar/foo/bar/%E3%83%84", true},
		// The parser encodes the 3-byte character, but the URL is not %-encoded.
		{raw, "FooBot", "http://foo.bar/foo/bar/ツ", false},

		// Percent encoded 3 byte character: /foo/bar/%E3%83%84 -> /foo/bar/%E3%83%84
		{escaped, "FooBot", "http://foo.bar/foo/bar/%E3%83%84", true},
		{escaped, "FooBot", "http://foo.bar/foo/bar/ツ", false},

		// Percent encoded unreserved US-ASCII: /foo/bar/%62%61%7A -> NULL
		// This is illegal according to RFC3986 and while it may work here due
		// to simple string matching, it should not be relied on.
		//
		// Trawl departs from Google here: RFC 9309 section 2.2.2 (its table's
		// last row) says the rule /foo/bar/%62%61%7A matches /foo/bar/baz, and
		// Google's own comment says not to rely on the opposite.
		{unreserved, "FooBot", "http://foo.bar/foo/bar/baz", true},
		{unreserved, "FooBot", "http://foo.bar/foo/bar/%62%61%7A", true},
	})
}

// ID_SpecialCharacters: '#' starts a comment, '$' ends a pattern, '*' matches
// any run of characters.
func TestIDSpecialCharacters(t *testing.T) {
	const (
		star = "User-agent: FooBot\n" +
			"Disallow: /foo/bar/quz\n" +
			"Allow: /foo/*/qux\n"
		dollar = "User-agent: FooBot\n" +
			"Disallow: /foo/bar$\n" +
			"Allow: /foo/bar/qux\n"
		hash = "User-agent: FooBot\n" +
			"# Disallow: /\n" +
			"Disallow: /foo/quz#qux\n" +
			"Allow: /\n"
	)
	runAllowed(t, []allowedCase{
		{star, "FooBot", "http://foo.bar/foo/bar/quz", false},
		{star, "FooBot", "http://foo.bar/foo/quz", true},
		{star, "FooBot", "http://foo.bar/foo//quz", true},
		{star, "FooBot", "http://foo.bar/foo/bax/quz", true},

		{dollar, "FooBot", "http://foo.bar/foo/bar", false},
		{dollar, "FooBot", "http://foo.bar/foo/bar/qux", true},
		{dollar, "FooBot", "http://foo.bar/foo/bar/", true},
		{dollar, "FooBot", "http://foo.bar/foo/bar/baz", true},

		{hash, "FooBot", "http://foo.bar/foo/bar", true},
		{hash, "FooBot", "http://foo.bar/foo/quz", false},
	})
}

// GoogleOnly_IndexHTMLisDirectory: an allowed ".../index.html" also allows ".../".
func TestGoogleOnlyIndexHTMLisDirectory(t *testing.T) {
	const robotstxt = "User-Agent: *\n" +
		"Allow: /allowed-slash/index.html\n" +
		"Disallow: /\n"
	runAllowed(t, []allowedCase{
		// If index.html is allowed, we interpret this as / being allowed too.
		{robotstxt, "foobot", "http://foo.com/allowed-slash/", true},
		// Does not exatly match.
		{robotstxt, "foobot", "http://foo.com/allowed-slash/index.htm", false},
		// Exact match.
		{robotstxt, "foobot", "http://foo.com/allowed-slash/index.html", true},
		{robotstxt, "foobot", "http://foo.com/anyother-url", false},
	})
}

// GoogleOnly_LineTooLong: bytes of a line past 2083*8-1 are ignored.
func TestGoogleOnlyLineTooLong(t *testing.T) {
	const (
		eolLen     = len("\n")
		maxLineLen = 2083 * 8
		allow      = "allow: "
		disallow   = "disallow: "
	)

	// Disallow rule pattern matches the URL after being cut off at kMaxLineLen.
	longline := "/x/"
	maxLength := maxLineLen - len(longline) - len(disallow) + eolLen
	longline += strings.Repeat("a", maxLength-len(longline))
	cutDisallow := "user-agent: FooBot\n" + disallow + longline + "/qux\n"

	robotstxt := "user-agent: FooBot\n" +
		"disallow: /\n"
	longlineA, longlineB := "/x/", "/x/"
	maxLength = maxLineLen - len(longlineA) - len(allow) + eolLen
	longlineA += strings.Repeat("a", maxLength-len(longlineA))
	longlineB += strings.Repeat("b", maxLength-len(longlineB))
	cutAllow := robotstxt + allow + longlineA + "/qux\n" + allow + longlineB + "/qux\n"

	runAllowed(t, []allowedCase{
		// Matches nothing, so URL is allowed.
		{cutDisallow, "FooBot", "http://foo.bar/fux", true},
		// Matches cut off disallow rule.
		{cutDisallow, "FooBot", "http://foo.bar" + longline + "/fux", false},

		// URL matches the disallow rule.
		{cutAllow, "FooBot", "http://foo.bar/", false},
		// Matches the allow rule exactly.
		{cutAllow, "FooBot", "http://foo.bar" + longlineA + "/qux", true},
		// Matches cut off allow rule.
		{cutAllow, "FooBot", "http://foo.bar" + longlineB + "/fux", true},
	})
}

// GoogleOnly_DocumentationChecks: the examples of
// https://developers.google.com/search/reference/robots_txt, sections "URL
// matching based on path values" and "Order of precedence for group-member records".
func TestGoogleOnlyDocumentationChecks(t *testing.T) {
	const (
		fish = "user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /fish\n"
		fishStar = "user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /fish*\n"
		fishSlash = "user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /fish/\n"
		php = "user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /*.php\n"
		phpDollar = "user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /*.php$\n"
		fishPHP = "user-agent: FooBot\n" +
			"disallow: /\n" +
			"allow: /fish*.php\n"
	)
	runAllowed(t, []allowedCase{
		{fish, "FooBot", "http://foo.bar/bar", false},
		{fish, "FooBot", "http://foo.bar/fish", true},
		{fish, "FooBot", "http://foo.bar/fish.html", true},
		{fish, "FooBot", "http://foo.bar/fish/salmon.html", true},
		{fish, "FooBot", "http://foo.bar/fishheads", true},
		{fish, "FooBot", "http://foo.bar/fishheads/yummy.html", true},
		{fish, "FooBot", "http://foo.bar/fish.html?id=anything", true},
		{fish, "FooBot", "http://foo.bar/Fish.asp", false},
		{fish, "FooBot", "http://foo.bar/catfish", false},
		{fish, "FooBot", "http://foo.bar/?id=fish", false},

		// "/fish*" equals "/fish"
		{fishStar, "FooBot", "http://foo.bar/bar", false},
		{fishStar, "FooBot", "http://foo.bar/fish", true},
		{fishStar, "FooBot", "http://foo.bar/fish.html", true},
		{fishStar, "FooBot", "http://foo.bar/fish/salmon.html", true},
		{fishStar, "FooBot", "http://foo.bar/fishheads", true},
		{fishStar, "FooBot", "http://foo.bar/fishheads/yummy.html", true},
		{fishStar, "FooBot", "http://foo.bar/fish.html?id=anything", true},
		{fishStar, "FooBot", "http://foo.bar/Fish.bar", false},
		{fishStar, "FooBot", "http://foo.bar/catfish", false},
		{fishStar, "FooBot", "http://foo.bar/?id=fish", false},

		// "/fish/" does not equal "/fish"
		{fishSlash, "FooBot", "http://foo.bar/bar", false},
		{fishSlash, "FooBot", "http://foo.bar/fish/", true},
		{fishSlash, "FooBot", "http://foo.bar/fish/salmon", true},
		{fishSlash, "FooBot", "http://foo.bar/fish/?salmon", true},
		{fishSlash, "FooBot", "http://foo.bar/fish/salmon.html", true},
		{fishSlash, "FooBot", "http://foo.bar/fish/?id=anything", true},
		{fishSlash, "FooBot", "http://foo.bar/fish", false},
		{fishSlash, "FooBot", "http://foo.bar/fish.html", false},
		{fishSlash, "FooBot", "http://foo.bar/Fish/Salmon.html", false},

		// "/*.php"
		{php, "FooBot", "http://foo.bar/bar", false},
		{php, "FooBot", "http://foo.bar/filename.php", true},
		{php, "FooBot", "http://foo.bar/folder/filename.php", true},
		{php, "FooBot", "http://foo.bar/folder/filename.php?parameters", true},
		{php, "FooBot", "http://foo.bar//folder/any.php.file.html", true},
		{php, "FooBot", "http://foo.bar/filename.php/", true},
		{php, "FooBot", "http://foo.bar/index?f=filename.php/", true},
		{php, "FooBot", "http://foo.bar/php/", false},
		{php, "FooBot", "http://foo.bar/index?php", false},
		{php, "FooBot", "http://foo.bar/windows.PHP", false},

		// "/*.php$"
		{phpDollar, "FooBot", "http://foo.bar/bar", false},
		{phpDollar, "FooBot", "http://foo.bar/filename.php", true},
		{phpDollar, "FooBot", "http://foo.bar/folder/filename.php", true},
		{phpDollar, "FooBot", "http://foo.bar/filename.php?parameters", false},
		{phpDollar, "FooBot", "http://foo.bar/filename.php/", false},
		{phpDollar, "FooBot", "http://foo.bar/filename.php5", false},
		{phpDollar, "FooBot", "http://foo.bar/php/", false},
		{phpDollar, "FooBot", "http://foo.bar/filename?php", false},
		{phpDollar, "FooBot", "http://foo.bar/aaaphpaaa", false},
		{phpDollar, "FooBot", "http://foo.bar//windows.PHP", false},

		// "/fish*.php"
		{fishPHP, "FooBot", "http://foo.bar/bar", false},
		{fishPHP, "FooBot", "http://foo.bar/fish.php", true},
		{fishPHP, "FooBot", "http://foo.bar/fishheads/catfish.php?parameters", true},
		{fishPHP, "FooBot", "http://foo.bar/Fish.PHP", false},

		// Section "Order of precedence for group-member records".
		{"user-agent: FooBot\n" +
			"allow: /p\n" +
			"disallow: /\n", "FooBot", "http://example.com/page", true},
		{"user-agent: FooBot\n" +
			"allow: /folder\n" +
			"disallow: /folder\n", "FooBot", "http://example.com/folder/page", true},
		{"user-agent: FooBot\n" +
			"allow: /page\n" +
			"disallow: /*.htm\n", "FooBot", "http://example.com/page.htm", false},
		{"user-agent: FooBot\n" +
			"allow: /$\n" +
			"disallow: /\n", "FooBot", "http://example.com/", true},
		{"user-agent: FooBot\n" +
			"allow: /$\n" +
			"disallow: /\n", "FooBot", "http://example.com/page.html", false},
	})
}

// statsReporter is Google's RobotsStatsReporter: it counts the directives that
// scan emits and remembers the last line and the sitemap.
type statsReporter struct {
	t        *testing.T
	lastLine int
	valid    int
	unknown  int
	sitemap  string
}

// parse is googlebot::ParseRobotsTxt(body, &report): it resets the counts and scans body.
func (r *statsReporter) parse(body string) {
	r.lastLine, r.valid, r.unknown, r.sitemap = 0, 0, 0, ""
	scan([]byte(body), func(line int, k keyKind, value []byte) {
		if k == keyUnknown {
			r.lastLine = line
			r.unknown++
			return
		}
		if line < r.lastLine {
			r.t.Errorf("line %d reported after line %d", line, r.lastLine)
		}
		r.lastLine = line
		r.valid++
		if k == keySitemap {
			r.sitemap += string(value)
		}
	})
}

// ID_LinesNumbersAreCountedCorrectly: LF, CRLF and CR line endings are all
// supported, mixed too, with or without a final line ending.
func TestIDLinesNumbersAreCountedCorrectly(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"unix", "User-Agent: foo\n" +
			"Allow: /some/path\n" +
			"User-Agent: bar\n" +
			"\n" +
			"\n" +
			"Disallow: /\n"},
		{"dos", "User-Agent: foo\r\n" +
			"Allow: /some/path\r\n" +
			"User-Agent: bar\r\n" +
			"\r\n" +
			"\r\n" +
			"Disallow: /\r\n"},
		{"mac", "User-Agent: foo\r" +
			"Allow: /some/path\r" +
			"User-Agent: bar\r" +
			"\r" +
			"\r" +
			"Disallow: /\r"},
		{"no final newline", "User-Agent: foo\n" +
			"Allow: /some/path\n" +
			"User-Agent: bar\n" +
			"\n" +
			"\n" +
			"Disallow: /"},
		{"mixed", "User-Agent: foo\n" +
			"Allow: /some/path\r\n" +
			"User-Agent: bar\n" +
			"\r\n" +
			"\n" +
			"Disallow: /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := statsReporter{t: t}
			r.parse(tc.body)
			if r.valid != 4 || r.lastLine != 6 {
				t.Errorf("valid directives, last line = %d, %d; want 4, 6", r.valid, r.lastLine)
			}
			// And what that means for matching: bar is disallowed, foo is not.
			d := Parse([]byte(tc.body))
			if !d.Allowed("foo", "/x") || d.Allowed("bar", "/x") {
				t.Errorf("Allowed(foo, /x), Allowed(bar, /x) = %v, %v; want true, false",
					d.Allowed("foo", "/x"), d.Allowed("bar", "/x"))
			}
		})
	}
}

// ID_UTF8ByteOrderMarkIsSkipped: a BOM, or the start of one, at the start of
// the file is skipped; anywhere else it makes its line unparseable.
func TestIDUTF8ByteOrderMarkIsSkipped(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		valid        int
		unknown      int
		fooDisallows bool // the same file with Allow replaced by Disallow blocks foo
	}{
		{"full BOM", "\xEF\xBB\xBF" +
			"User-Agent: foo\n" +
			"Allow: /AnyValue\n", 2, 0, true},
		// We allow as well partial ByteOrderMarks.
		{"partial 2 BOM", "\xEF\xBB" +
			"User-Agent: foo\n" +
			"Allow: /AnyValue\n", 2, 0, true},
		{"partial 1 BOM", "\xEF" +
			"User-Agent: foo\n" +
			"Allow: /AnyValue\n", 2, 0, true},
		// If the BOM is not the right sequence, the first line looks like
		// garbage that is skipped (we essentially see "\x11\xBFUser-Agent").
		{"broken BOM", "\xEF\x11\xBF" +
			"User-Agent: foo\n" +
			"Allow: /AnyValue\n", 1, 1, false},
		// Some other messed up file: BOMs only valid in the beginning of the file.
		{"BOM in the middle", "User-Agent: foo\n" +
			"\xEF\xBB\xBF" +
			"Allow: /AnyValue\n", 1, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := statsReporter{t: t}
			r.parse(tc.body)
			if r.valid != tc.valid || r.unknown != tc.unknown {
				t.Errorf("valid, unknown directives = %d, %d; want %d, %d", r.valid, r.unknown, tc.valid, tc.unknown)
			}
			d := Parse([]byte(strings.Replace(tc.body, "Allow:", "Disallow:", 1)))
			if got := !d.Allowed("foo", "/AnyValue"); got != tc.fooDisallows {
				t.Errorf("with Disallow: disallowed(foo, /AnyValue) = %v, want %v", got, tc.fooDisallows)
			}
		})
	}
}

// ID_NonStandardLineExample_Sitemap: a Sitemap line may appear anywhere.
func TestIDNonStandardLineExampleSitemap(t *testing.T) {
	const (
		sitemapLoc = "http://foo.bar/sitemap.xml"
		rest       = "User-Agent: foo\n" +
			"Allow: /some/path\n" +
			"User-Agent: bar\n" +
			"\n" +
			"\n"
	)
	tests := []struct {
		name string
		body string
	}{
		{"at the end", rest + "Sitemap: " + sitemapLoc + "\n"},
		{"at the start", "Sitemap: " + sitemapLoc + "\n" + rest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := statsReporter{t: t}
			r.parse(tc.body)
			if r.sitemap != sitemapLoc {
				t.Errorf("scan sitemap = %q, want %q", r.sitemap, sitemapLoc)
			}
			if got := Parse([]byte(tc.body)).Sitemaps(); len(got) != 1 || got[0] != sitemapLoc {
				t.Errorf("Sitemaps() = %q, want [%q]", got, sitemapLoc)
			}
		})
	}
}

// TestGetPathParamsQuery: only URLs that are already correctly escaped.
func TestGetPathParamsQuery(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", "/"},
		{"http://www.example.com", "/"},
		{"http://www.example.com/", "/"},
		{"http://www.example.com/a", "/a"},
		{"http://www.example.com/a/", "/a/"},
		{"http://www.example.com/a/b?c=http://d.e/", "/a/b?c=http://d.e/"},
		{"http://www.example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"},
		{"example.com", "/"},
		{"example.com/", "/"},
		{"example.com/a", "/a"},
		{"example.com/a/", "/a/"},
		{"example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"},
		{"a", "/"},
		{"a/", "/"},
		{"/a", "/a"},
		{"a/b", "/b"},
		{"example.com?a", "/?a"},
		{"example.com/a;b#c", "/a;b"},
		{"//a/b/c", "/b/c"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			if got := pathParamsQuery(tc.url); got != tc.want {
				t.Errorf("pathParamsQuery(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}

// TestMaybeEscapePattern.
func TestMaybeEscapePattern(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"http://www.example.com", "http://www.example.com"},
		{"/a/b/c", "/a/b/c"},
		{"á", "%C3%A1"},
		{"%aa", "%AA"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			if got := escapePattern([]byte(tc.pattern)); got != tc.want {
				t.Errorf("escapePattern(%q) = %q, want %q", tc.pattern, got, tc.want)
			}
		})
	}
}
