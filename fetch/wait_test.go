package fetch

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestHostWaitBackoff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Retry-After", "40")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL + "/p")
	if w := c.HostWait(u.Host); !w.BackoffUntil.IsZero() {
		t.Errorf("HostWait before any request = %+v, want nothing", w)
	}
	start := time.Now()
	if _, err := c.Fetch(t.Context(), Request{URL: u}); err == nil {
		t.Fatal("Fetch of a 429: nil error")
	}
	w := c.HostWait(u.Host)
	if d := w.BackoffUntil.Sub(start); d < 39*time.Second || d > 41*time.Second+time.Since(start) {
		t.Errorf("HostWait after a 429 with Retry-After 40: backoff until %v (%v after the request), want 40 s", w.BackoffUntil, d)
	}
}
