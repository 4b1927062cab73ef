package fetch

import (
	"net/http"
	"testing"
)

// TestDenied: Denied answers from the robots.txt verdict already cached, and
// only then: it sends nothing, denies nothing it has not read, and nothing
// while robots.txt is unavailable or ignored.
func TestDenied(t *testing.T) {
	var log hitLog
	srv := robotsServer(t, &log, 0, testRobots)
	c := newTestClient(t, Config{}, nil)
	private, open := mustURL(t, srv.URL+"/private/x"), mustURL(t, srv.URL+"/private/ok")
	if c.Denied(private) {
		t.Error("Denied before robots.txt was read = true, want false")
	}
	if got := log.count("", "/robots.txt"); got != 0 {
		t.Fatalf("Denied fetched robots.txt %d times, want never", got)
	}
	if err := c.Allowed(t.Context(), open); err != nil {
		t.Fatalf("Allowed(%s) = %v", open, err)
	}
	if !c.Denied(private) || c.Denied(open) {
		t.Errorf("Denied(%s), Denied(%s) = %v, %v; want true, false", private.Path, open.Path, c.Denied(private), c.Denied(open))
	}
	if other := mustURL(t, "https"+srv.URL[len("http"):]+"/private/x"); c.Denied(other) {
		t.Error("Denied for another scheme's robots.txt, not read = true, want false")
	}
	if got := log.count("", "/robots.txt"); got != 1 {
		t.Errorf("robots.txt fetched %d times, want once", got)
	}

	ignoring := newTestClient(t, Config{IgnoreRobots: true}, nil)
	_ = ignoring.Allowed(t.Context(), private)
	if ignoring.Denied(private) {
		t.Error("Denied with IgnoreRobots = true, want false")
	}

	down := robotsServer(t, &log, http.StatusServiceUnavailable, "User-agent: *\nDisallow: /\n")
	u := mustURL(t, down.URL+"/page")
	if err := c.Allowed(t.Context(), u); err == nil {
		t.Fatal("Allowed with robots.txt answering 503 = nil, want unavailable")
	}
	if c.Denied(u) {
		t.Error("Denied while robots.txt is unavailable = true, want false: it is asked again later")
	}
}
