package crawl

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/trawl/trawl/fetch"
)

// TestFailureText: why a fetch failed, in the few words the progress line,
// the log and the end summary use.
func TestFailureText(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	robots := func(cause error) error {
		return &fetch.RobotsUnavailableError{Host: "a.test", RetryAt: time.Now(), Err: cause}
	}
	for _, tt := range []struct {
		err         error
		cause, text string
	}{
		{robots(&fetch.StatusError{URL: "http://a.test/robots.txt", Code: 500}), "HTTP 500", "robots.txt unavailable (HTTP 500)"},
		{robots(refused), "connection refused", "robots.txt unavailable (connection refused)"},
		{robots(nil), "", "robots.txt unavailable"},
		{&fetch.StatusError{URL: "http://a.test/", Code: 503}, "HTTP 503", "HTTP 503"},
		{fmt.Errorf("fetch: %w", context.DeadlineExceeded), "timeout", "timeout"},
	} {
		if got := retryCause(tt.err); got != tt.cause {
			t.Errorf("retryCause(%v) = %q, want %q", tt.err, got, tt.cause)
		}
		if got := failureText(tt.err); got != tt.text {
			t.Errorf("failureText(%v) = %q, want %q", tt.err, got, tt.text)
		}
	}
}
