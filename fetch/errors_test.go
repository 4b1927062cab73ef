package fetch

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestRetryDelay(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "http://a.test/", Err: err} }
	tests := []struct {
		name      string
		err       error
		retryable bool
		delay     time.Duration             // exact delay; 0: the backoff of attempt 0 (0.5s..1s)
		at        func(now time.Time) error // if set, builds err at the test's start
	}{
		{"nil", nil, false, 0, nil},
		{"500", &StatusError{Code: 500}, true, 0, nil},
		{"502", &StatusError{Code: 502}, true, 0, nil},
		{"503 with Retry-After", &StatusError{Code: 503, RetryAfter: 7 * time.Second}, true, 7 * time.Second, nil},
		{"504", &StatusError{Code: 504}, true, 0, nil},
		{"408", &StatusError{Code: 408}, true, 0, nil},
		{"429", &StatusError{Code: 429}, true, 0, nil},
		{"429 with Retry-After", fmt.Errorf("crawl: %w", &StatusError{Code: 429, RetryAfter: time.Minute}), true, time.Minute, nil},
		{"404", &StatusError{Code: 404}, false, 0, nil},
		{"403", &StatusError{Code: 403}, false, 0, nil},
		{"400", &StatusError{Code: 400}, false, 0, nil},
		{"304", &StatusError{Code: 304}, false, 0, nil},
		{"connection refused", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true, 0, nil},
		{"connection reset", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true, 0, nil},
		{"EOF mid-body", fmt.Errorf("read body of http://a.test/: %w", io.ErrUnexpectedEOF), true, 0, nil},
		{"EOF before response", urlErr(io.EOF), true, 0, nil},
		{"timeout", urlErr(context.DeadlineExceeded), true, 0, nil},
		{"dns timeout", urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "timeout", Name: "a.test", IsTimeout: true}}), true, 0, nil},
		{"no such host", urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "a.test", IsNotFound: true}}), false, 0, nil},
		{"bad certificate", urlErr(x509.UnknownAuthorityError{}), false, 0, nil},
		{"canceled", urlErr(context.Canceled), false, 0, nil},
		{"disallowed", ErrDisallowed, false, 0, nil},
		{"too many redirects", fmt.Errorf("x: %w", ErrTooManyRedirects), false, 0, nil},
		{"redirect refused", &RedirectError{From: "a", To: "b", Err: errors.New("out of scope")}, false, 0, nil},
		{"redirect loop", &RedirectError{From: "a", To: "b", Err: ErrRedirectLoop}, false, 0, nil},
		{"redirect loop wrapped", fmt.Errorf("crawl: %w", ErrRedirectLoop), false, 0, nil},
		{"too large", fmt.Errorf("fetch http://a.test/: %w: Content-Length 2, MaxBody 1", ErrTooLarge), false, 0, nil},
		{"too large joined with a network error", errors.Join(ErrTooLarge, io.ErrUnexpectedEOF), false, 0, nil},
		{"header timeout", urlErr(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), true, 0, nil},
		{"body timeout", fmt.Errorf("read body of http://a.test/: timeout: %w", context.DeadlineExceeded), true, 0, nil},
		{"unsupported scheme", fmt.Errorf("x: %w", ErrUnsupportedScheme), false, 0, nil},
		{"rate limited", fmt.Errorf("wait: %w", ErrRateLimited), true, 0, nil},
		{"backed off", nil, true, 3 * time.Second, func(now time.Time) error {
			return &BackoffError{Host: "a.test", Until: now.Add(3 * time.Second)}
		}},
		{"robots unavailable", nil, true, time.Minute, func(now time.Time) error {
			return &RobotsUnavailableError{Host: "a.test", RetryAt: now.Add(time.Minute)}
		}},
		{"backoff over", nil, true, 0, func(now time.Time) error {
			return &BackoffError{Host: "a.test", Until: now.Add(-time.Second)}
		}},
		{"other", errors.New("something else"), false, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { // a still clock for the time-based cases
				if tt.at != nil {
					tt.err = tt.at(time.Now())
				}
				d, ok := RetryDelay(tt.err, 0)
				if ok != tt.retryable {
					t.Fatalf("RetryDelay(%v) retryable = %v, want %v", tt.err, ok, tt.retryable)
				}
				switch {
				case !ok:
				case tt.delay != 0 && d != tt.delay:
					t.Errorf("RetryDelay(%v) = %v, want %v", tt.err, d, tt.delay)
				case tt.delay == 0 && tt.at != nil && d != 0:
					t.Errorf("RetryDelay(%v) = %v, want 0", tt.err, d)
				case tt.delay == 0 && tt.at == nil && (d < 500*time.Millisecond || d > time.Second):
					t.Errorf("RetryDelay(%v) = %v, want the attempt-0 backoff in [0.5s, 1s]", tt.err, d)
				}
			})
		})
	}
}

func TestBackoffGrowth(t *testing.T) {
	for attempt := -1; attempt <= 64; attempt++ {
		ceiling := 5 * time.Minute
		if attempt < 9 {
			ceiling = min(time.Second<<max(attempt, 0), ceiling)
		}
		var lo, hi time.Duration = ceiling, 0
		for range 200 {
			d, ok := RetryDelay(&StatusError{Code: 500}, attempt)
			if !ok {
				t.Fatalf("500 not retryable")
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < ceiling/2 || hi > ceiling {
			t.Errorf("attempt %d: delays in [%v, %v], want within [%v, %v]", attempt, lo, hi, ceiling/2, ceiling)
		}
		if hi == lo {
			t.Errorf("attempt %d: 200 delays all %v, want jitter", attempt, lo)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"2", 2 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"86400", 10 * time.Minute, true},
		{"99999999999999999999999", 10 * time.Minute, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), 10 * time.Minute, true},
		{"Monday, 06-May-30 07:08:39 GMT", 30 * time.Second, true}, // RFC 850
		{"Mon May  6 07:08:39 2030", 30 * time.Second, true},       // ANSI C
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now, 10*time.Minute)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAllowedLeaderLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		release := make(chan struct{}) // closed by the test
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			select {
			case <-release:
				return reply(r, http.StatusOK, "User-agent: *\nDisallow: /no\n"), nil
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		})
		c := newTestClient(t, Config{}, rt)
		u := mustURL(t, "http://a.test/yes")

		leaderCtx, cancel := context.WithCancel(t.Context())
		leaderErr := make(chan error, 1)
		go func() { leaderErr <- c.Allowed(leaderCtx, u) }()
		synctest.Wait() // the leader's robots.txt request is in flight
		otherErr := make(chan error, 1)
		go func() { otherErr <- c.Allowed(t.Context(), u) }()
		synctest.Wait() // the other caller waits on the same flight
		if got := log.count("", "/robots.txt"); got != 1 {
			t.Fatalf("%d robots.txt requests in flight, want 1", got)
		}
		cancel()
		if err := <-leaderErr; !errors.Is(err, context.Canceled) {
			t.Errorf("leader's Allowed = %v, want context.Canceled", err)
		}
		synctest.Wait()
		close(release)
		if err := <-otherErr; err != nil {
			t.Errorf("other caller's Allowed = %v, want nil: the leader leaving is not the host's fault", err)
		}
		if got := log.count("", "/robots.txt"); got != 2 {
			t.Errorf("%d robots.txt requests, want 2", got)
		}
		if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/no")); !errors.Is(err, ErrDisallowed) {
			t.Errorf("Allowed(/no) = %v, want ErrDisallowed from the cache", err)
		}
	})
}
