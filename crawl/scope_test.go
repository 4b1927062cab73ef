package crawl

import (
	"net/url"
	"regexp"
	"testing"
)

func TestScope(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	seeds := []string{"https://www.example.co.uk/", "http://127.0.0.1:8080/"}
	tests := []struct {
		name, mode, url  string
		include, exclude []string
		want             bool
	}{
		{"host same", ScopeHost, "https://www.example.co.uk/a", nil, nil, true},
		{"host other subdomain", ScopeHost, "https://shop.example.co.uk/a", nil, nil, false},
		{"host other port", ScopeHost, "http://127.0.0.1:8081/", nil, nil, false},
		{"host loopback seed", ScopeHost, "http://127.0.0.1:8080/x", nil, nil, true},
		{"domain subdomain", ScopeDomain, "https://shop.example.co.uk/a", nil, nil, true},
		{"domain other registrable under same suffix", ScopeDomain, "https://other.co.uk/", nil, nil, false},
		{"domain ip other port", ScopeDomain, "http://127.0.0.1:9/", nil, nil, true},
		{"all", ScopeAll, "https://anything.test/", nil, nil, true},
		{"exclude wins", ScopeHost, "https://www.example.co.uk/private/x", nil, []string{"/private/"}, false},
		{"include required", ScopeHost, "https://www.example.co.uk/blog/1", []string{"/docs/"}, nil, false},
		{"include matches", ScopeHost, "https://www.example.co.uk/docs/1", []string{"/blog/", "/docs/"}, nil, true},
		{"include and exclude", ScopeHost, "https://www.example.co.uk/docs/old", []string{"/docs/"}, []string{"old$"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inc, exc []*regexp.Regexp
			for _, p := range tt.include {
				inc = append(inc, regexp.MustCompile(p))
			}
			for _, p := range tt.exclude {
				exc = append(exc, regexp.MustCompile(p))
			}
			s, err := newScope(tt.mode, inc, exc)
			if err != nil {
				t.Fatal(err)
			}
			for _, seed := range seeds {
				s.addSeed(mustURL(seed))
			}
			if got := s.allows(mustURL(tt.url), tt.url); got != tt.want {
				t.Fatalf("allows(%q) in %s scope = %v, want %v", tt.url, tt.mode, got, tt.want)
			}
		})
	}
	if _, err := newScope("planet", nil, nil); err == nil {
		t.Fatal("newScope(planet) succeeded, want error")
	}
}
