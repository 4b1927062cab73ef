package dedupe

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Already canonical.
		{"canonical root", "http://example.com/", "http://example.com/"},
		{"canonical https path query", "https://example.com/a/b?x=1&y=2", "https://example.com/a/b?x=1&y=2"},

		// Scheme and host case.
		{"upper scheme", "HTTP://example.com/", "http://example.com/"},
		{"mixed scheme https", "hTtPs://example.com/", "https://example.com/"},
		{"upper host", "http://WWW.Example.COM/", "http://www.example.com/"},
		{"path case kept", "http://example.com/A/B", "http://example.com/A/B"},

		// Host forms.
		{"trailing dot", "http://example.com./", "http://example.com/"},
		{"underscore host", "http://my_host.example.com/", "http://my_host.example.com/"},
		{"double hyphen label", "https://r3---sn-abc.googlevideo.com/x", "https://r3---sn-abc.googlevideo.com/x"},
		{"ipv4", "http://192.168.0.1/", "http://192.168.0.1/"},
		{"escaped host", "http://%65xample.com/", "http://example.com/"},
		{"escaped upper host", "http://%45XAMPLE.com/", "http://example.com/"},
		{"idn", "http://bücher.example/", "http://xn--bcher-kva.example/"},
		{"idn upper", "http://BÜCHER.example/", "http://xn--bcher-kva.example/"},
		{"idn escaped", "http://b%C3%BCcher.example/", "http://xn--bcher-kva.example/"},
		{"idn punycode kept", "http://xn--bcher-kva.example/", "http://xn--bcher-kva.example/"},
		{"idn punycode upper", "http://XN--BCHER-KVA.example/", "http://xn--bcher-kva.example/"},
		{"idn fullwidth", "http://ｅｘａｍｐｌｅ.com/", "http://example.com/"},
		{"idn ideographic dot", "http://example。com/", "http://example.com/"},
		{"idn sharp s nontransitional", "http://straße.example/", "http://xn--strae-oqa.example/"},
		{"ipv6", "http://[2001:DB8::1]/", "http://[2001:db8::1]/"},
		{"ipv6 compressed", "http://[2001:db8:0:0:0:0:0:1]/", "http://[2001:db8::1]/"},
		{"ipv6 port", "http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"ipv6 default port", "https://[::1]:443/", "https://[::1]/"},
		{"ipv4 mapped ipv6", "http://[::FFFF:1.2.3.4]/", "http://[::ffff:1.2.3.4]/"},

		// Userinfo.
		{"userinfo dropped", "http://user:pass@example.com/", "http://example.com/"},
		{"user dropped", "http://user@example.com/", "http://example.com/"},
		{"at in userinfo", "http://a@b@example.com/", "http://example.com/"},
		{"empty userinfo", "http://@example.com/", "http://example.com/"},

		// Ports.
		{"http default port", "http://example.com:80/", "http://example.com/"},
		{"https default port", "https://example.com:443/", "https://example.com/"},
		{"http on 443 kept", "http://example.com:443/", "http://example.com:443/"},
		{"https on 80 kept", "https://example.com:80/", "https://example.com:80/"},
		{"other port", "http://example.com:8080/", "http://example.com:8080/"},
		{"leading zeros port", "http://example.com:0080/", "http://example.com/"},
		{"leading zeros other port", "http://example.com:08080/", "http://example.com:8080/"},
		{"max port", "http://example.com:65535/", "http://example.com:65535/"},
		{"empty port", "http://example.com:/", "http://example.com/"},

		// Paths.
		{"empty path", "http://example.com", "http://example.com/"},
		{"empty path query", "http://example.com?q=1", "http://example.com/?q=1"},
		{"empty path fragment", "http://example.com#top", "http://example.com/"},
		{"dot", "http://example.com/a/./b", "http://example.com/a/b"},
		{"dot dot", "http://example.com/a/b/../c", "http://example.com/a/c"},
		{"rfc example", "http://h/a/b/c/./../../g", "http://h/a/g"},
		{"trailing dot segment", "http://a/b/.", "http://a/b/"},
		{"trailing dot dot segment", "http://a/b/c/..", "http://a/b/"},
		{"dot dot above root", "http://a/../../x", "http://a/x"},
		{"only dot dot", "http://a/..", "http://a/"},
		{"only dot", "http://a/.", "http://a/"},
		{"dot slash", "http://a/./", "http://a/"},
		{"dot dot pops empty segment", "http://a/b//../c", "http://a/b/c"},
		{"double slash kept", "http://a//b", "http://a//b"},
		{"dots in name kept", "http://a/.../..b/c..", "http://a/.../..b/c.."},
		{"encoded dot dot kept", "http://a/b/%2e%2E/c", "http://a/b/%2E%2E/c"},
		{"half encoded dot dot kept", "http://a/b/.%2e/c", "http://a/b/.%2E/c"},
		{"encoded dot kept", "http://a/b/%2e/c", "http://a/b/%2E/c"},
		{"encoded dot in name decoded", "http://a/index%2Ehtml", "http://a/index.html"},
		{"encoded triple dot decoded", "http://a/%2e%2e%2e", "http://a/..."},
		{"encoded slash kept", "http://a/b%2fc/../d", "http://a/d"},

		// Percent-encoding.
		{"unreserved decoded", "http://a/%7Euser/%41%62%2D%5F%30", "http://a/~user/Ab-_0"},
		{"reserved kept upper", "http://a/%2f%3a%3F%23%25", "http://a/%2F%3A%3F%23%25"},
		{"space escaped", "http://a/b c", "http://a/b%20c"},
		{"plus in path kept", "http://a/b+c", "http://a/b+c"},
		{"non-ascii path", "http://a/über", "http://a/%C3%BCber"},
		{"bad utf8 path", "http://a/\xff", "http://a/%FF"},
		{"delete char", "http://a/b%7f", "http://a/b%7F"},
		{"must escape set", "http://a/\"<>\\^`{|}", "http://a/%22%3C%3E%5C%5E%60%7B%7C%7D"},
		{"sub-delims kept", "http://a/!$&'()*+,;=:@[]", "http://a/!$&'()*+,;=:@[]"},
		{"invalid escape", "http://a/%zz", "http://a/%25zz"},
		{"truncated escape", "http://a/%4", "http://a/%254"},
		{"lone percent", "http://a/%", "http://a/%25"},
		{"percent before escape", "http://a/%%41", "http://a/%25A"},
		{"escaped percent kept", "http://a/%2541", "http://a/%2541"},
		{"lower hex upper-cased", "http://a/%c3%bc", "http://a/%C3%BC"},

		// Queries.
		{"query order kept", "http://a/?b=2&a=1", "http://a/?b=2&a=1"},
		{"query plus kept", "http://a/?q=a+b", "http://a/?q=a+b"},
		{"query space escaped", "http://a/?q=a b", "http://a/?q=a%20b"},
		{"query unreserved decoded", "http://a/?q=%41%2d", "http://a/?q=A-"},
		{"query reserved upper", "http://a/?q=%2f%3d%26", "http://a/?q=%2F%3D%26"},
		{"query invalid escape", "http://a/?q=100%", "http://a/?q=100%25"},
		{"query dots not resolved", "http://a/?p=/x/../y", "http://a/?p=/x/../y"},
		{"query question mark kept", "http://a/?a?b", "http://a/?a?b"},
		{"query encoded dot decoded", "http://a/?%2e%2e", "http://a/?.."},
		{"empty query dropped", "http://a/b?", "http://a/b"},
		{"empty query with fragment", "http://a/b?#f", "http://a/b"},
		{"query non-ascii", "http://a/?q=straße", "http://a/?q=stra%C3%9Fe"},
		{"query empty pairs kept", "http://a/?&&", "http://a/?&&"},

		// Fragments.
		{"fragment dropped", "http://a/b#frag", "http://a/b"},
		{"fragment after query", "http://a/b?q=1#frag", "http://a/b?q=1"},
		{"empty fragment", "http://a/b#", "http://a/b"},
		{"hash in fragment", "http://a/b#x#y", "http://a/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.in)
			if err != nil {
				t.Fatalf("Canonical(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Canonical(%q) = %q, want %q", tt.in, got, tt.want)
			}
			again, err := Canonical(got)
			if err != nil || again != got {
				t.Fatalf("Canonical(%q) = %q, %v; want it unchanged", got, again, err)
			}
		})
	}
}

func TestCanonicalInvalid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string // in the error message
	}{
		{"empty", "", "relative URL"},
		{"relative path", "a/b", "relative URL"},
		{"absolute path", "/a/b", "relative URL"},
		{"scheme relative", "//example.com/", "relative URL"},
		{"query only", "?q=1", "relative URL"},
		{"leading space", " http://example.com/", "bad scheme"},
		{"digit scheme", "1http://example.com/", "bad scheme"},
		{"ftp", "ftp://example.com/", `unsupported scheme "ftp"`},
		{"mailto", "mailto:a@example.com", `unsupported scheme "mailto"`},
		{"javascript", "javascript:alert(1)", `unsupported scheme "javascript"`},
		{"data", "data:text/html,hi", `unsupported scheme "data"`},
		{"no authority", "http:example.com", "no host"},
		{"one slash", "http:/example.com", "no host"},
		{"empty host", "http:///path", "empty host"},
		{"empty host port", "http://:80/", "empty host"},
		{"userinfo only", "http://user@/", "empty host"},
		{"dot host", "http://./", "empty host"},
		{"two trailing dots", "http://example.com../", "empty label"},
		{"empty label", "http://a..b/", "empty label"},
		{"leading dot", "http://.a/", "empty label"},
		{"space in host", "http://exa mple.com/", "bad character"},
		{"backslash in host", "http://example.com\\x/", "bad character"},
		{"escaped slash in host", "http://a%2Fb/", "bad character"},
		{"escaped percent in host", "http://a%25b/", "bad character"},
		{"bad escape in host", "http://a%zz/", "bad escape"},
		{"label too long", "http://" + strings.Repeat("a", 64) + ".com/", "longer than 63"},
		{"host too long", "http://" + strings.Repeat("a.", 127) + "com/", "longer than 253"},
		{"bad idn", "http://xn--zz.example/", "bad IDN"},
		{"idn with underscore", "http://a_b.bücher.example/", "bad IDN"},
		{"host not utf8", "http://0\xff0/", "not UTF-8"},
		{"escaped host not utf8", "http://b%FCcher.example/", "not UTF-8"},
		{"idn unstable mapping", "http://ℵa.example/", "not stable"},
		{"idn bidi", "http://\u05d0a.example/", "bad IDN"},
		{"non-numeric port", "http://example.com:http/", "bad port"},
		{"port zero", "http://example.com:0/", "bad port"},
		{"port too big", "http://example.com:65536/", "bad port"},
		{"port huge", "http://example.com:99999999999999999999/", "bad port"},
		{"negative port", "http://example.com:-1/", "bad port"},
		{"two colons", "http://example.com:80:80/", "bad port"},
		{"unbracketed ipv6", "http://::1/", "empty host"},
		{"unclosed ipv6", "http://[::1/", "unclosed"},
		{"bad ipv6", "http://[::g]/", "bad IPv6"},
		{"ipv4 in brackets", "http://[1.2.3.4]/", "bad IPv6"},
		{"ipv6 zone", "http://[fe80::1%25eth0]/", "bad IPv6"},
		{"ipvfuture", "http://[v1.x]/", "bad IPv6"},
		{"junk after ipv6", "http://[::1]x/", "bad port"},
		{"newline", "http://example.com/a\nb", "control character"},
		{"tab", "http://example.com/\t", "control character"},
		{"nul", "http://exa\x00mple.com/", "control character"},
		{"del", "http://example.com/\x7f", "control character"},
		{"too long", "http://example.com/" + strings.Repeat("a", MaxLen), "longer than"},
		{"too long once escaped", "http://example.com/" + strings.Repeat(" ", MaxLen/3), "once escaped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.in)
			if err == nil {
				t.Fatalf("Canonical(%q) = %q, want error containing %q", tt.in, got, tt.reason)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Canonical(%q) error %v does not wrap ErrInvalid", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Canonical(%q) error %q, want it to say %q", tt.in, err, tt.reason)
			}
			if got != "" {
				t.Errorf("Canonical(%q) = %q with error, want \"\"", tt.in, got)
			}
		})
	}
}

func TestCanonicalErrorRedactsAndClips(t *testing.T) {
	tests := []struct {
		name, in, not, want string
	}{
		{"password", "ftp://alice:s3cret@example.com/", "s3cret", `"ftp://xxxxx@example.com/"`},
		{"password bad port", "http://alice:s3cret@example.com:x/", "s3cret", `"http://xxxxx@example.com:x/"`},
		{"long", "ftp://example.com/" + strings.Repeat("z", 10_000), strings.Repeat("z", 300), `zzz..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Canonical(tt.in)
			if err == nil {
				t.Fatalf("Canonical(%q) succeeded, want error", tt.in)
			}
			if msg := err.Error(); strings.Contains(msg, tt.not) || !strings.Contains(msg, tt.want) {
				t.Errorf("Canonical error = %q, want it to contain %q and not %q", msg, tt.want, tt.not)
			}
		})
	}
}

// TestCanonicalIDNStable checks idempotence over a sample of all code points in
// a host, where the fuzzer rarely goes: IDNA mapping can produce a name that
// IDNA rejects (see "idn unstable mapping").
func TestCanonicalIDNStable(t *testing.T) {
	const step = 89 // a prime: the sample drifts through every block
	accepted := 0
	for r := rune(0x80); r <= unicode.MaxRune; r += step {
		for _, in := range []string{
			"http://" + string(r) + "a.example/",
			"http://a" + string(r) + string(r) + ".example/",
			"http://" + string(r) + "/",
		} {
			out, err := Canonical(in)
			if err != nil {
				continue
			}
			accepted++
			if again, err := Canonical(out); err != nil || again != out {
				t.Errorf("Canonical(%q) = %q, but Canonical(%q) = %q, %v", in, out, out, again, err)
			}
		}
	}
	if accepted < 1000 {
		t.Errorf("only %d IDN hosts accepted; is IDNA rejecting everything?", accepted)
	}
}

// TestCanonicalNoAlloc checks the promise made to the hot path: a URL that is
// already canonical is returned as is.
func TestCanonicalNoAlloc(t *testing.T) {
	const in = "https://www.example.org/path/to/page.html;v=1?ref=x&id=42"
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Canonical(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Canonical(%q) allocates %v times, want 0", in, allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := Canonical("HTTP://Example.COM:80/a/./b/../c?x=%7e#frag"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("Canonical of a short ASCII URL allocates %v times, want 1", allocs)
	}
}

func TestCanonicalURL(t *testing.T) {
	tests := []struct {
		name string
		u    *url.URL
		want string
	}{
		{"parsed", mustParse(t, "HTTP://user:pw@Example.COM:80/a/../b?q=1#f"), "http://example.com/b?q=1"},
		{"built path needs escaping", &url.URL{Scheme: "https", Host: "example.com", Path: "/a b/ü?#"}, "https://example.com/a%20b/%C3%BC%3F%23"},
		{"built non-ascii host", &url.URL{Scheme: "http", Host: "bücher.example", Path: "/"}, "http://xn--bcher-kva.example/"},
		{"raw path kept", mustParse(t, "http://a/x%2Fy"), "http://a/x%2Fy"},
		{"parsed space and bang", mustParse(t, "http://a/x y!"), "http://a/x%20y!"},
		{"parsed encoded dots kept", mustParse(t, "http://a/b/%2e%2e/c"), "http://a/b/%2E%2E/c"},
		{"built literal percent", &url.URL{Scheme: "http", Host: "a", Path: "/100%/%41"}, "http://a/100%25/%2541"},
		{"built relative path", &url.URL{Scheme: "http", Host: "a", Path: "b/./c"}, "http://a/b/c"},
		{"built dots resolved", &url.URL{Scheme: "http", Host: "a", Path: "/b/../c"}, "http://a/c"},
		{"stale raw path ignored", &url.URL{Scheme: "http", Host: "a", Path: "/new", RawPath: "/old"}, "http://a/new"},
		{"raw path with query ignored", &url.URL{Scheme: "http", Host: "a", Path: "/a?b", RawPath: "/a?b"}, "http://a/a%3Fb"},
		{"raw path without slash", &url.URL{Scheme: "http", Host: "a", Path: "b!", RawPath: "b%21"}, "http://a/b%21"},
		{"raw query kept", &url.URL{Scheme: "http", Host: "a", RawQuery: "q=a+b&%7e"}, "http://a/?q=a+b&~"},
		{"force query", &url.URL{Scheme: "http", Host: "a", Path: "/", ForceQuery: true}, "http://a/"},
		{"fragment", &url.URL{Scheme: "http", Host: "a", Fragment: "x"}, "http://a/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := *tt.u
			got, err := CanonicalURL(tt.u)
			if err != nil {
				t.Fatalf("CanonicalURL(%q) error: %v", tt.u, err)
			}
			if got.String() != tt.want {
				t.Errorf("CanonicalURL(%q) = %q, want %q", tt.u, got, tt.want)
			}
			if *tt.u != before {
				t.Errorf("CanonicalURL modified its argument: %#v, was %#v", tt.u, before)
			}
			if got == tt.u {
				t.Errorf("CanonicalURL returned its argument")
			}
		})
	}
}

func TestCanonicalURLInvalid(t *testing.T) {
	tests := []struct {
		name string
		u    *url.URL
	}{
		{"nil", nil},
		{"relative", mustParse(t, "/a/b")},
		{"opaque", mustParse(t, "http:a/b")},
		{"no host", &url.URL{Scheme: "https", Path: "/x"}},
		{"ftp", mustParse(t, "ftp://example.com/")},
		{"zone", mustParse(t, "http://[fe80::1%25eth0]/")},
		{"no scheme", &url.URL{Host: "example.com", Path: "/"}},
		{"slash in host", &url.URL{Scheme: "http", Host: "a/b", Path: "/"}},
		{"at in host", &url.URL{Scheme: "http", Host: "evil@a", Path: "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalURL(tt.u)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("CanonicalURL(%v) = %v, %v; want an error wrapping ErrInvalid", tt.u, got, err)
			}
		})
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkCanonical checks the properties every result of Canonical must have.
func checkCanonical(t *testing.T, in, out string) {
	t.Helper()
	again, err := Canonical(out)
	if err != nil {
		t.Fatalf("Canonical(%q) = %q, but Canonical(%q) error: %v", in, out, out, err)
	}
	if again != out {
		t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %q", in, out, out, again)
	}
	u, err := url.Parse(out)
	if err != nil {
		t.Fatalf("Canonical(%q) = %q, which url.Parse rejects: %v", in, out, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		t.Fatalf("Canonical(%q) = %q, scheme %q", in, out, u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		t.Fatalf("Canonical(%q) = %q, parsed as %#v", in, out, u)
	}
	if strings.Contains(out, "#") || u.Fragment != "" {
		t.Fatalf("Canonical(%q) = %q, has a fragment", in, out)
	}
	if s := u.String(); s != out {
		t.Fatalf("Canonical(%q) = %q, but url.Parse prints it as %q", in, out, s)
	}
	if len(out) > MaxLen {
		t.Fatalf("Canonical(%q) is %d bytes long", in, len(out))
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range benchURLs() {
		f.Add(s)
	}
	for _, s := range []string{
		"http://a/b/%2e%2E/../c", "http://a/.%2e/..", "HTTP://[::FFFF:1.2.3.4]:0443/", "http://x%C3%9F.de/",
		"http://a/%%%zz%4", "https://u:p@h:/?#", "http://a/?%2e", "http://xn--bcher-kva.EXAMPLE./",
	} {
		f.Add(s)
	}
	for _, s := range []string{
		"http://a/x;jsessionid=1?utm_source=x&a=1", "http://a/b/..;c=1?a&&B=2", "http://a/%2e.;d=1;c;e?a=1&",
		"http://a/.;c?b", "http://a/x;%64=1?%61=2",
	} {
		f.Add(s)
	}
	rules := fuzzCanonicalizers(f)
	f.Fuzz(func(t *testing.T, in string) {
		for _, c := range rules {
			checkStripped(t, c, in)
		}
		checkStripped(t, defaultCanonicalizer, in)
		out, err := Canonical(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Canonical(%q) error %v does not wrap ErrInvalid", in, err)
			}
			return
		}
		checkCanonical(t, in, out)

		// Where url.Parse accepts the input too, CanonicalURL must agree.
		u, perr := url.Parse(in)
		if perr != nil {
			return
		}
		cu, key, err := defaultCanonicalizer.CanonicalURLKey(u)
		if err != nil {
			return // url.String may print a URL differently (say, an Opaque one)
		}
		if key != cu.String() {
			t.Fatalf("CanonicalURLKey(%q): key %q, but the URL prints %q", u, key, cu)
		}
		if want, err := url.Parse(key); err != nil || !reflect.DeepEqual(cu, want) {
			t.Fatalf("CanonicalURLKey(%q) = %#v, but url.Parse(%q) = %#v, %v", u, cu, key, want, err)
		}
		if cu.String() != out && !parseForgotEscapes(defaultCanonicalizer, u, out) {
			t.Fatalf("CanonicalURL(%q) = %q, but Canonical(%q) = %q", u, cu, in, out)
		}
	})
}

// parseForgotEscapes reports whether CanonicalURL(u) may differ from out,
// the canonical form of the string u was parsed from, because url.Parse
// forgot how that string escaped its path. url.Parse drops RawPath when the
// path is written as Go would escape it, and Go escapes sub-delimiters such as
// '!' that Canonical keeps: "/a%21" and "/a!" parse to the same *url.URL,
// which CanonicalURL reads as "/a!". So out may be the canonical form of the
// escaped reading, u.String(), instead.
func parseForgotEscapes(c *Canonicalizer, u *url.URL, out string) bool {
	if u.RawPath != "" {
		return false
	}
	escaped, err := c.Canonical(u.String())
	return err == nil && escaped == out
}

// benchURLs returns typical link shapes, from already canonical to messy.
func benchURLs() []string {
	return []string{
		"https://example.com/",
		"https://www.example.org/path/to/page.html?utm_source=x&id=42",
		"HTTP://Example.COM:80/a/./b/../c?x=1#frag",
		"https://user:pass@example.com/private/",
		"https://cdn.example.net/static/js/app.min.js?v=1.2.3",
		"https://example.com/search?q=hello+world&lang=en",
		"https://example.com/%7euser/%2fdocs/a%20b/",
		"https://example.com/path with spaces/and|pipes",
		"http://[2001:DB8::1]:8080/index.html",
		"https://bücher.example/über?q=straße",
	}
}

func BenchmarkCanonical(b *testing.B) {
	for i, s := range benchURLs() {
		b.Run(fmt.Sprint(i), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Canonical(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	all := benchURLs()
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range all {
				if _, err := Canonical(s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkCanonicalURL(b *testing.B) {
	u, err := url.Parse("HTTP://Example.COM:80/a/./b/../c?x=1#frag")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CanonicalURL(u); err != nil {
			b.Fatal(err)
		}
	}
}
