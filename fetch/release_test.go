package fetch

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
)

// TestReleaseReusesBodies: bodies read into buffers given back by Release
// are each the page's own bytes, whatever size came before them, and
// Release leaves the Result without a body.
func TestReleaseReusesBodies(t *testing.T) {
	sizes := []int{5000, 100, 70000, 4096, 300 << 10, 1, 20000}
	pageOf := func(i int) []byte {
		return bytes.Repeat([]byte{byte('a' + i)}, sizes[i])
	}
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		return reply(r, 200, string(pageOf(i)), "Content-Type", "text/plain"), nil
	})
	c := newTestClient(t, Config{MaxBody: 1 << 20, IgnoreRobots: true}, rt)
	for round := range 3 {
		for i := range sizes {
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/p?i="+strconv.Itoa(i))})
			if err != nil {
				t.Fatalf("round %d page %d: %v", round, i, err)
			}
			if !bytes.Equal(res.Body, pageOf(i)) {
				t.Fatalf("round %d page %d: %d bytes, not the page's %d", round, i, len(res.Body), sizes[i])
			}
			res.Release()
			if res.Body != nil {
				t.Fatalf("Release left %d bytes of body", len(res.Body))
			}
		}
	}
	var nilResult *Result
	nilResult.Release() // a failed fetch's nil Result
}
