package robots

import "testing"

// TestRFC9309PercentEncoding checks every example of RFC 9309's percent-encoding
// tables: section 2.2.2's Table 1 (a rule as written in robots.txt, the URI path it
// must match) and section 2.2.3's Table 3 (an escaped '*' or '$' in a rule is that
// character, not a wildcard or an end anchor), each as an Allow rule under
// "Disallow: /", so that a match allows and no match disallows; then the cases on
// either side of each rule that pin what it means.
func TestRFC9309PercentEncoding(t *testing.T) {
	tests := []struct {
		name, rule, uri string
		match           bool
	}{
		// Table 1: Path, Encoded Path, Path to Match.
		{"table 1 plain query", "/foo/bar?baz=quz", "/foo/bar?baz=quz", true},
		{"table 1 URL in query", "/foo/bar?baz=https://foo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar", true},
		{"table 1 UTF-8", "/foo/bar/ツ", "/foo/bar/%E3%83%84", true},
		{"table 1 escaped UTF-8", "/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84", true},
		{"table 1 escaped unreserved", "/foo/bar/%62%61%7A", "/foo/bar/baz", true},
		// Table 3: Percent-encoded Pattern, URI.
		{"table 3 escaped star", "/path/file-with-a-%2A.html", "/path/file-with-a-*.html", true},
		{"table 3 escaped dollar", "/path/foo-%24", "/path/foo-$", true},

		// The same equivalences read the other way, and with the URI escaped too.
		{"URL in query, rule escaped", "/foo/bar?baz=https%3A%2F%2Ffoo.bar", "/foo/bar?baz=https://foo.bar", true},
		{"URL in query, both escaped", "/foo/bar?baz=https%3a%2f%2ffoo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar", true},
		{"unreserved, both escaped", "/foo/bar/%62%61%7A", "/foo/bar/%62%61%7a", true},
		{"unreserved, URI escaped", "/foo/bar/baz", "/foo/bar/%62a%7A", true},
		{"unreserved marks", "/a-b.c_d~e", "/a%2Db%2Ec%5Fd%7Ee", true},
		{"lower-case UTF-8 escape", "/foo/bar/%e3%83%84", "/foo/bar/%E3%83%84", true},
		{"escaped star in URI", "/path/file-with-a-%2A.html", "/path/file-with-a-%2a.html", true},
		{"plain dollar mid-rule, URI escaped", "/path/foo-$x", "/path/foo-%24x", true}, // a plain '$' is special only at the end
		{"escaped dollar mid-rule", "/path/foo-%24x", "/path/foo-$x", true},
		{"escaped star with a wildcard", "/a*/%2A$", "/a/b/*", true},

		// What the rules do not match.
		{"escaped star is no wildcard", "/path/file-with-a-%2A.html", "/path/file-with-a-x.html", false},
		{"escaped star is no wildcard, empty", "/path/file-with-a-%2A.html", "/path/file-with-a-.html", false},
		{"escaped dollar is no anchor", "/path/foo-%24", "/path/foo-", false},
		{"escaped dollar is a prefix", "/path/foo-%24", "/path/foo-$/more", true},
		{"UTF-8 not escaped in URI", "/foo/bar/%E3%83%84", "/foo/bar/ツ", false},
		{"escaped slash in path", "/a/b", "/a%2Fb", false},
		{"escaped slash in rule path", "/a%2Fb", "/a/b", false},
		{"escaped percent", "/a%2541", "/aA", false},
		{"escaped percent, both", "/a%2541", "/a%2541", true},
		{"escaped ampersand in query", "/q?a=1&b=2", "/q?a=1%26b=2", false},
		{"escaped equals in query", "/q?a=1", "/q?a%3D1", false},
		{"escaped slash in query", "/q?next=/a/b", "/q?next=%2Fa%2Fb", true},
		{"query after a wildcard", "/*?u=https%3A%2F%2Fx", "/p/q?u=https://x", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Parse([]byte("User-agent: *\nDisallow: /\nAllow: " + tc.rule + "\n"))
			if got := d.Allowed("Trawl", tc.uri); got != tc.match {
				t.Errorf("Allow: %s; Allowed(Trawl, %q) = %v, want %v", tc.rule, tc.uri, got, tc.match)
			}
			// The same verdict as a Disallow under "Allow: /": the match does not
			// depend on the rule's kind.
			d = Parse([]byte("User-agent: *\nAllow: /\nDisallow: " + tc.rule + "\n"))
			if got := d.Allowed("Trawl", tc.uri); got == tc.match {
				t.Errorf("Disallow: %s; Allowed(Trawl, %q) = %v, want %v", tc.rule, tc.uri, got, !tc.match)
			}
		})
	}
}

// TestNormEscapes pins the comparison form: what is decoded, what is kept.
func TestNormEscapes(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"/plain?a=b", "/plain?a=b"},
		{"/%62%61%7a", "/baz"},
		{"/%2f%2F%3a", "/%2F%2F%3A"},
		{"/?%2f%2F%3a%40", "/?//:@"},
		{"/%3F?%3F", "/%3F??"},
		{"/%2a%24?%2a%24", "/*$?*$"},
		{"/%25%2541", "/%25%2541"},
		{"/%e3%83%84", "/%E3%83%84"},
		{"/%26%3D?%26%3d%2B%3B", "/%26%3D?%26%3D%2B%3B"},
		{"/%zz%4", "/%25zz%254"},
		{"/%41%", "/A%25"},
		{"/%0%610", "/%250a0"},
		{"/%0a0", "/%0A0"},
	}
	for _, tc := range tests {
		if got, _ := normEscapes(tc.in, false); got != tc.want {
			t.Errorf("normEscapes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAllowedEscapesNoAlloc: a target with no escape to change is matched without
// allocating, as before escapes were decoded.
func TestAllowedEscapesNoAlloc(t *testing.T) {
	d := Parse([]byte("User-agent: *\nDisallow: /a%2Ab\nDisallow: /*/%62%61%7A$\nAllow: /x?u=https://h\n"))
	for _, target := range []string{"/search/about", "/a/b/c?d=e&f=g", "/foo/%E3%83%84/bar", "/a%2Fb"} {
		if n := testing.AllocsPerRun(100, func() { d.Allowed("Trawl", target) }); n != 0 {
			t.Errorf("Allowed(Trawl, %q) allocates %v times, want 0", target, n)
		}
	}
}
