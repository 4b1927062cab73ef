package dedupe

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalStripsDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"utm only", "http://a/p?utm_source=x&utm_medium=y", "http://a/p"},
		{"utm prefix upper", "http://a/p?UTM_Campaign=x&id=1", "http://a/p?id=1"},
		{"utm escaped name", "http://a/p?utm%5Fsource=x&id=1", "http://a/p?id=1"},
		{"order kept", "http://a/p?b=2&gclid=z&a=1&fbclid=q&c=3", "http://a/p?b=2&a=1&c=3"},
		{"first removed", "http://a/p?gclid=z&a=1", "http://a/p?a=1"},
		{"last removed", "http://a/p?a=1&msclkid=z", "http://a/p?a=1"},
		{"no value", "http://a/p?fbclid&a=1", "http://a/p?a=1"},
		{"empty value", "http://a/p?a=1&fbclid=", "http://a/p?a=1"},
		{"repeated", "http://a/p?_ga=1&_ga=2&x=3&_gl=4", "http://a/p?x=3"},
		{"session ids", "http://a/p?PHPSESSID=abc&JSESSIONID=d&ASPSESSIONIDQQ=e&cfid=1&cftoken=2&zenid=z&osCsid=o&sessionid=s&q=1",
			"http://a/p?q=1"},
		{"empty pairs kept when nothing stripped", "http://a/p?&&", "http://a/p?&&"},
		{"empty pair left", "http://a/p?utm_source=x&&a=1", "http://a/p?&a=1"},
		{"only empties left", "http://a/p?utm_source=x&", "http://a/p"},
		{"fragment dropped too", "http://a/p?yclid=1#top", "http://a/p"},
		{"similar names kept", "http://a/p?utm=1&xgclid=2&gclid_x=3&sid2=4&sessionid2=5", "http://a/p?utm=1&xgclid=2&gclid_x=3&sid2=4&sessionid2=5"},
		{"query sid", "http://a/p?sid=4&q=1", "http://a/p?q=1"},
		{"escaped separator kept", "http://a/p?a=1%26gclid=2", "http://a/p?a=1%26gclid=2"},
		{"value named like a rule kept", "http://a/p?q=gclid", "http://a/p?q=gclid"},
		{"plus in name kept", "http://a/p?utm+source=1", "http://a/p?utm+source=1"},

		{"path jsessionid", "http://a/shop/item.jsp;jsessionid=0A1B2C?x=1", "http://a/shop/item.jsp?x=1"},
		{"path jsessionid upper", "http://a/x;JSESSIONID=0A1B", "http://a/x"},
		{"path phpsessid and sid", "http://a/x;phpsessid=1;sid=2", "http://a/x"},
		{"path other params kept", "http://a/x;v=1;jsessionid=2;w=3", "http://a/x;v=1;w=3"},
		{"path param alone", "http://a/b/;jsessionid=1", "http://a/b/"},
		{"path root", "http://a/;jsessionid=1", "http://a/"},
		{"path not last segment kept", "http://a/x;jsessionid=1/y", "http://a/x;jsessionid=1/y"},
		{"path escaped semicolon kept", "http://a/x%3Bjsessionid=1", "http://a/x%3Bjsessionid=1"},
		{"path escaped name", "http://a/x;%6Asessionid=1", "http://a/x"},
		{"path dot dot left", "http://a/b/c/..;jsessionid=1", "http://a/b/"},
		{"path dot left", "http://a/b/c/.;jsessionid=1", "http://a/b/c/"},
		{"path escaped dot dot left", "http://a/b/c/%2E%2E;jsessionid=1", "http://a/b/"},
		{"path and query", "http://a/x;jsessionid=1?jsessionid=2&a=b", "http://a/x?a=b"},
		{"path query-only name kept", "http://a/x;gclid=1", "http://a/x;gclid=1"},
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
			checkCanonical(t, tt.in, got)
			u := mustParse(t, tt.in)
			cu, err := CanonicalURL(u)
			if err != nil {
				t.Fatalf("CanonicalURL(%q) error: %v", u, err)
			}
			if cu.String() != tt.want {
				t.Fatalf("CanonicalURL(%q) = %q, want %q", u, cu, tt.want)
			}
		})
	}
}

func TestCanonicalizer(t *testing.T) {
	tests := []struct {
		name  string
		strip []string
		in    string
		want  string
	}{
		{"nil list strips nothing", nil, "http://a/x;jsessionid=1?utm_source=x&gclid=2", "http://a/x;jsessionid=1?utm_source=x&gclid=2"},
		{"empty list strips nothing", []string{}, "http://a/p?utm_source=x", "http://a/p?utm_source=x"},
		{"exact", []string{"Ref"}, "http://a/p?ref=1&REF=2&referrer=3", "http://a/p?referrer=3"},
		{"prefix", []string{"x-*"}, "http://a/p?x-a=1&X-b=2&x=3&xx-=4", "http://a/p?x=3&xx-=4"},
		{"path only", []string{";s"}, "http://a/p;s=1?s=2", "http://a/p?s=2"},
		{"path prefix", []string{";s*"}, "http://a/p;sa=1;t=2;SB", "http://a/p;t=2"},
		{"query sid opt in", []string{"sid"}, "http://a/p;sid=1?sid=2", "http://a/p;sid=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCanonicalizer(tt.strip)
			if err != nil {
				t.Fatalf("NewCanonicalizer(%q) error: %v", tt.strip, err)
			}
			got, err := c.Canonical(tt.in)
			if err != nil {
				t.Fatalf("Canonical(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Canonical(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again, err := c.Canonical(got); err != nil || again != got {
				t.Fatalf("Canonical(%q) = %q, %v; want it unchanged", got, again, err)
			}
			cu, err := c.CanonicalURL(mustParse(t, tt.in))
			if err != nil || cu.String() != tt.want {
				t.Fatalf("CanonicalURL(%q) = %v, %v; want %q", tt.in, cu, err, tt.want)
			}
		})
	}

	var zero Canonicalizer
	const in = "http://a/x;jsessionid=1?utm_source=x"
	if got, err := zero.Canonical(in); err != nil || got != in {
		t.Errorf("zero Canonicalizer: Canonical(%q) = %q, %v; want it unchanged", in, got, err)
	}
	if _, err := zero.Canonical("ftp://a/"); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero Canonicalizer: Canonical(ftp) error %v, want ErrInvalid", err)
	}
}

func TestNewCanonicalizerInvalid(t *testing.T) {
	for _, strip := range [][]string{{""}, {"*"}, {";"}, {";*"}, {"a b"}, {"a=b"}, {"a&b"}, {"a*b"}, {"ok", "%41"}, {"ü"}} {
		if _, err := NewCanonicalizer(strip); err == nil {
			t.Errorf("NewCanonicalizer(%q) succeeded, want an error", strip)
		}
	}
}

func TestDefaultStripParamsValid(t *testing.T) {
	if _, err := NewCanonicalizer(DefaultStripParams); err != nil {
		t.Fatal(err)
	}
	for _, rule := range DefaultStripParams {
		if rule != strings.ToLower(rule) {
			t.Errorf("DefaultStripParams has %q: write names in lower case", rule)
		}
	}
}

// TestCanonicalizerNoAlloc checks that stripping keeps the hot path's promise:
// an already canonical URL costs nothing, whatever the rules.
func TestCanonicalizerNoAlloc(t *testing.T) {
	c, err := NewCanonicalizer(append([]string{"sid", "x*"}, DefaultStripParams...))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"https://www.example.org/path/to/page.html;v=1?ref=x&id=42&UTM=1",
		"https://www.example.org/a;b=c;d=e",
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := c.Canonical(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Canonical(%q) allocates %v times, want 0", in, allocs)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Canonical("https://example.org/p;jsessionid=1?utm_source=x&id=42"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("Canonical of a short URL with tracking allocates %v times, want 1", allocs)
	}
}

// fuzzCanonicalizers are the rule sets FuzzCanonical checks besides the
// default: none, and short names that random input hits often.
func fuzzCanonicalizers(t testing.TB) []*Canonicalizer {
	var rules []*Canonicalizer
	for _, strip := range [][]string{nil, {"a", "B*", ";c", ";d*", ".", "~"}} {
		c, err := NewCanonicalizer(strip)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, c)
	}
	return rules
}

// checkStripped checks what FuzzCanonical asks of any Canonicalizer: its
// results are fixed points, canonical without stripping too (stripping only
// removes), and agree with CanonicalURL.
func checkStripped(t *testing.T, c *Canonicalizer, in string) {
	t.Helper()
	out, err := c.Canonical(in)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Canonical(%q) error %v does not wrap ErrInvalid", in, err)
		}
		return
	}
	if again, err := c.Canonical(out); err != nil || again != out {
		t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %q, %v", in, out, out, again, err)
	}
	var none Canonicalizer
	if plain, err := none.Canonical(out); err != nil || plain != out {
		t.Fatalf("Canonical(%q) = %q, which is not canonical without stripping: %q, %v", in, out, plain, err)
	}
	if u, err := url.Parse(out); err != nil || u.String() != out {
		t.Fatalf("Canonical(%q) = %q, which url.Parse reads as %v, %v", in, out, u, err)
	}
	if u, err := url.Parse(in); err == nil {
		if cu, err := c.CanonicalURL(u); err == nil && cu.String() != out && !parseForgotEscapes(c, u, out) {
			t.Fatalf("CanonicalURL(%q) = %q, but Canonical(%q) = %q", u, cu, in, out)
		}
	}
}
