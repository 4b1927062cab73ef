package extract

import (
	"net/url"
	"reflect"
	"testing"
)

// checkResolveSimple fails t unless resolveSimple(base, v) gives what
// parseRef and resolve give, or declines.
func checkResolveSimple(t *testing.T, base *url.URL, v string) bool {
	t.Helper()
	got, relative, ok := resolveSimple(base, []byte(v))
	if !ok {
		return false
	}
	ref := parseRef([]byte(v))
	if ref == nil {
		if got != nil || relative {
			t.Fatalf("resolveSimple(%s, %q) = %v, %v, but parseRef refuses it", base, v, got, relative)
		}
		return true
	}
	if relative != (ref.Scheme == "") {
		t.Fatalf("resolveSimple(%s, %q): relative %v, ref %#v", base, v, relative, ref)
	}
	want := resolve(base, ref)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resolveSimple(%s, %q) = %#v, resolve = %#v", base, v, got, want)
	}
	return true
}

func TestResolveSimple(t *testing.T) {
	base, _ := url.Parse("http://example.com:8080/docs/guide/intro.html?lang=en#top")
	accepted := []string{
		"/p/17", "p/17", "page-2.html?x=1", "?page=2", "?", "#section", "#", " /a/b \n", "a/b:c", "/a:b",
		"http://other.example/x?y#z", "https://h:443", "http://h?q", "./", "", "javascript:void(0)", "mailto:x@y", "a:b",
		" data:text/plain,x", "JavaScript:%zz",
	}
	declined := []string{
		"./x", "../x", "/a/../b", "//h/p", "HTTP://h/", "java\tscript:x", "/a b", "/a%20b", "/a\tb", "#%41", "http://h/./x",
		"/é", "1a:b",
	}
	for _, v := range accepted {
		if !checkResolveSimple(t, base, v) && v != "./" && v != "" {
			t.Errorf("resolveSimple(%q) declined a plain reference", v)
		}
	}
	for _, v := range declined {
		if checkResolveSimple(t, base, v) {
			t.Errorf("resolveSimple(%q) accepted what it should leave to parseRef", v)
		}
	}
	// A base with an escaped path, user info or a dot segment leaves relative references to resolve.
	for _, b := range []string{"http://h/a%20b/c", "http://u:p@h/a/", "http://h/a/../b/"} {
		bu, _ := url.Parse(b)
		if checkResolveSimple(t, bu, "x") {
			t.Errorf("resolveSimple(%s, x) accepted a base it should leave to resolve", b)
		}
	}
}

func FuzzResolveSimple(f *testing.F) {
	for _, s := range [][2]string{
		{"http://example.com/docs/a.html", "/p/17"}, {"https://h:1/a/b/", "c?d=e#f"}, {"http://h", "?q"},
		{"http://h/a?b", "#c"}, {"http://h/a/", "http://i/j?k"}, {"http://h/", " x/y "}, {"http://h/a/b", "b:c/d"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, b, v string) {
		base, err := url.Parse(b)
		if err != nil {
			return
		}
		checkResolveSimple(t, base, v)
	})
}
