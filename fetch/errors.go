package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrDisallowed is returned when robots.txt forbids the URL. It is not worth retrying.
var ErrDisallowed = errors.New("fetch: disallowed by robots.txt")

// ErrTooManyRedirects is returned, wrapped, when a fetch meets more than Config.MaxRedirects
// redirects.
var ErrTooManyRedirects = errors.New("fetch: too many redirects")

// ErrRedirectLoop is the Err of the *RedirectError returned when a redirect leads back to a
// URL already requested in the same fetch (compared as url.URL.String), detected at the
// first repeat. Fetch sends no cookies of its own, so a repeat cannot lead elsewhere the
// second time. It is not worth retrying.
var ErrRedirectLoop = errors.New("fetch: redirect loop")

// ErrTooLarge is returned, wrapped with the Content-Length and Config.MaxBody, when a
// response declares a Content-Length above Config.MaxBody: the body is not read (the
// connection is closed) and Fetch returns the Result without a body along with the error.
// It is not worth retrying. A body without an honest length is cut at MaxBody instead (see
// Result.Truncated).
var ErrTooLarge = errors.New("fetch: body too large")

// ErrHostBackoff matches every *BackoffError (errors.Is), for callers that need no data.
var ErrHostBackoff = errors.New("fetch: host backed off")

// ErrRateLimited is returned, wrapped, when Fetch would have to wait for the host's rate
// limiter past the context's deadline: skip the host for now (call Reserve first to avoid it).
var ErrRateLimited = errors.New("fetch: rate limit wait exceeds deadline")

// ErrUnsupportedScheme is returned, wrapped, for a URL or redirect target that is not http(s)
// or has no host.
var ErrUnsupportedScheme = errors.New("fetch: unsupported URL")

// StatusError reports a non-2xx final status. Fetch returns it together with the Result.
type StatusError struct {
	URL  string // the final URL, after redirects
	Code int    // the HTTP status code
	// RetryAfter is the response's Retry-After (capped by Config.MaxRetryAfter) on a 429 or 5xx
	// response; 0 when absent.
	RetryAfter time.Duration
}

// Error returns "fetch URL: status CODE".
func (e *StatusError) Error() string { return fmt.Sprintf("fetch %s: status %d", e.URL, e.Code) }

// RedirectError reports a redirect that was not followed because Request.Redirect or
// robots.txt refused it, the target is not a fetchable URL, or it leads back to a URL already
// requested (Err is ErrRedirectLoop).
type RedirectError struct {
	From string // the URL that answered with the redirect
	To   string // the redirect target, resolved against From when it parsed
	Err  error  // why it was not followed
}

// Error names both ends of the redirect and the reason it was not followed.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("fetch: redirect from %s to %s: %v", e.From, e.To, e.Err)
}

// Unwrap returns e.Err.
func (e *RedirectError) Unwrap() error { return e.Err }

// RobotsUnavailableError reports that the host's robots.txt could not be had (5xx, 429,
// network error, or the host is backed off), which disallows the whole host until RetryAt.
type RobotsUnavailableError struct {
	Host    string    // url.URL.Host
	RetryAt time.Time // when robots.txt will be fetched again
	Err     error     // why it could not be had (status, network error); nil when nothing was sent
}

// Error names the host, the cause and the retry time.
func (e *RobotsUnavailableError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("fetch: robots.txt for %s unavailable until %s: %v", e.Host, e.RetryAt.Format(time.RFC3339), e.Err)
	}
	return fmt.Sprintf("fetch: robots.txt for %s unavailable until %s", e.Host, e.RetryAt.Format(time.RFC3339))
}

// Unwrap returns the cause.
func (e *RobotsUnavailableError) Unwrap() error { return e.Err }

// BackoffError is returned, without anything sent, while the host is backed off after a
// 429 or 503 (see Client.Reserve). errors.Is(err, ErrHostBackoff) matches it.
type BackoffError struct {
	Host  string    // url.URL.Host
	Until time.Time // end of the backoff
}

// Error names the host and the end of its backoff.
func (e *BackoffError) Error() string {
	return fmt.Sprintf("fetch: host %s backed off until %s", e.Host, e.Until.Format(time.RFC3339))
}

// Is reports whether target is ErrHostBackoff.
func (e *BackoffError) Is(target error) bool { return target == ErrHostBackoff }

// RetryDelay reports whether err, returned by Fetch or Allowed on the attempt-th try (starting
// at 0), is worth retrying, and after how long. Retryable are network errors (timeouts,
// refused or reset connections, a body cut short), 5xx, 408 and 429 statuses, an unavailable
// robots.txt, a backed-off host, and ErrRateLimited. The delay is the error's own (Retry-After,
// backoff end, robots.txt retry time) when it has one, else an exponential backoff from 1s,
// doubling per attempt up to 5m, with equal jitter (between half of that and all of it).
func RetryDelay(err error, attempt int) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	if e, ok := errors.AsType[*BackoffError](err); ok {
		return max(time.Until(e.Until), 0), true
	}
	if e, ok := errors.AsType[*RobotsUnavailableError](err); ok {
		return max(time.Until(e.RetryAt), 0), true
	}
	if e, ok := errors.AsType[*StatusError](err); ok {
		if !retryableStatus(e.Code) {
			return 0, false
		}
		if e.RetryAfter > 0 {
			return e.RetryAfter, true
		}
		return backoff(attempt), true
	}
	if errors.Is(err, ErrRateLimited) || retryableNetwork(err) {
		return backoff(attempt), true
	}
	return 0, false
}

// retryableStatus reports whether a response with status code is worth retrying later.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// retryableNetwork reports whether err is a transport failure that may pass: a timeout, a
// refused, reset or aborted connection, or a connection closed early.
func retryableNetwork(err error) bool {
	// Policy refusals and our caller's cancellation are final.
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrDisallowed) ||
		errors.Is(err, ErrTooManyRedirects) || errors.Is(err, ErrRedirectLoop) ||
		errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupportedScheme) {
		return false
	}
	if _, ok := errors.AsType[*RedirectError](err); ok {
		return false
	}
	// A bad certificate will still be bad.
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return false
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return false
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return false
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return false
	}
	if e, ok := errors.AsType[*net.DNSError](err); ok {
		return e.IsTimeout || e.IsTemporary // not NXDOMAIN
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	if e, ok := errors.AsType[net.Error](err); ok && e.Timeout() {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	return false
}

// backoff returns the exponential backoff for attempt: 1s doubling per attempt, capped at
// 5m, with equal jitter.
func backoff(attempt int) time.Duration {
	const base, ceiling = time.Second, 5 * time.Minute
	d := ceiling
	if attempt < 0 {
		attempt = 0
	}
	if attempt < 9 { // 1s<<9 > 5m
		d = min(base<<attempt, ceiling)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter parses a Retry-After value, in seconds or as an HTTP-date, into a delay from
// now, capped at ceiling. ok is false when v is absent or malformed.
func parseRetryAfter(v string, now time.Time, ceiling time.Duration) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if n < 0 {
			return 0, false
		}
		if n > int64(ceiling/time.Second) {
			return ceiling, true
		}
		return min(time.Duration(n)*time.Second, ceiling), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), ceiling), true
}
