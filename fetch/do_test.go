package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestDoAsClient checks that a request sent to the transport directly
// behaves as http.Client.Do would: errors are *url.Error naming the URL
// without its password, a nil body becomes an empty one, and a client with
// a cookie jar still goes through http.Client.
func TestDoAsClient(t *testing.T) {
	boom := errors.New("boom")
	var sent *http.Request
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		if r.URL.Path == "/fail" {
			return nil, boom
		}
		return &http.Response{StatusCode: 204, Header: http.Header{}, Request: r}, nil
	})
	c := newTestClient(t, Config{}, rt)
	if c.rt == nil {
		t.Fatal("a client without jar or timeout does not send to its transport directly")
	}
	u, _ := url.Parse("http://user:secret@example.test:8080/fail?q=1")
	req, err := newRequest(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "example.test:8080" || req.URL.String() != u.String() || req.URL == u || req.URL.User == u.User {
		t.Fatalf("newRequest: host %q, URL %q (shared with the caller's: %v)", req.Host, req.URL, req.URL == u || req.URL.User == u.User)
	}
	_, err = c.do(req)
	var uerr *url.Error
	if !errors.As(err, &uerr) || !errors.Is(err, boom) || uerr.Op != "Get" || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "example.test:8080/fail") {
		t.Fatalf("do: error %v (%T), want a *url.Error naming the URL without its password", err, err)
	}
	u.Path = "/ok"
	req, _ = newRequest(context.Background(), u)
	resp, err := c.do(req)
	if err != nil || resp.Body == nil || sent != req {
		t.Fatalf("do: %v, body %v", err, resp)
	}
	jar, _ := cookiejar.New(nil)
	withJar, err := New(Config{}, &http.Client{Transport: rt, Jar: jar}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withJar.rt != nil {
		t.Fatal("a client with a cookie jar bypasses it")
	}
}
