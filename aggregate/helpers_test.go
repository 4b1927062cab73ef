package aggregate

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// roundTripFunc is an in-memory http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// jsonResponse makes a 200 application/json response with body.
func jsonResponse(r *http.Request, body string) *http.Response {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// staticClient answers every request with the body registered for its
// URL path, or 404.
func staticClient(bodies map[string]string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			return &http.Response{StatusCode: 404, Body: http.NoBody, Request: r, Header: http.Header{}}, nil
		}
		return jsonResponse(r, body), nil
	})}
}

// mustNew compiles ep or fails the test.
func mustNew(t testing.TB, ep Endpoint, client *http.Client) *Aggregator {
	t.Helper()
	a, err := New(ep, client, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// outcomes renders the reports compactly: "a=ok b=timeout".
func outcomes(r *Result) string {
	var b []byte
	for i, br := range r.Backends {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(append(append(b, br.Name...), '='), br.Outcome...)
	}
	return string(b)
}
