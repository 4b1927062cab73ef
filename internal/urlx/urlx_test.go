package urlx

import (
	"net/url"
	"reflect"
	"testing"
)

// checkParse fails t unless ParseSimple(s) is url.Parse(s) or declines s.
func checkParse(t *testing.T, s string) bool {
	t.Helper()
	got, ok := ParseSimple(s)
	if !ok {
		return false
	}
	want, err := url.Parse(s)
	if err != nil {
		t.Fatalf("ParseSimple(%q) accepted what url.Parse refuses: %v", s, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseSimple(%q) = %#v, url.Parse = %#v", s, got, want)
	}
	if got.String() != s {
		t.Fatalf("ParseSimple(%q).String() = %q", s, got.String())
	}
	return true
}

func TestParseSimple(t *testing.T) {
	accepted := []string{
		"http://example.com", "http://example.com/", "https://a.b-c.example:8443/docs/page-2?x=1&y=%2F",
		"http://127.0.0.1:41234/p/17", "http://h/a:b@c;d=e", "http://h?q", "http://h/?", "http://h/a//b/./../c",
		"http://h/~user/$&+,;=", "http://h/p?q=a?b/c;d",
	}
	for _, s := range accepted {
		if !checkParse(t, s) {
			t.Errorf("ParseSimple(%q) declined a plain URL", s)
		}
	}
	declined := []string{
		"", "http://", "http:///p", "HTTP://h/", "http://H/", "ftp://h/", "http://u@h/", "http://h:/", "http://h:x/",
		"http://[::1]/", "http://h/a b", "http://h/a%20b", "http://h/a!b", "http://h/p#f", "http://h/p?a b", "http://h/p?a#b",
		"http://h\x00/", "//h/p", "/p", "http://h/é",
	}
	for _, s := range declined {
		if checkParse(t, s) {
			t.Errorf("ParseSimple(%q) accepted what it should leave to url.Parse", s)
		}
	}
}

func FuzzParseSimple(f *testing.F) {
	for _, s := range []string{"http://example.com/docs/page-2?x=1", "https://h:80", "http://h?", "http://a.b/c/../d?e=%zz", "http://1.2.3.4:5/~x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkParse(t, s) })
}
