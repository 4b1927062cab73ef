package crawl

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/fetch"
)

// errRedirectSeen stops a redirect to a URL the crawl already knows: that
// page is (or will be) recorded under its own URL.
var errRedirectSeen = errors.New("redirect target already seen")

// errRedirectScope stops a redirect that leaves the crawl's scope.
var errRedirectScope = errors.New("redirect target out of scope")

// failed reports whether a fetch that ended with status and err counts as
// failed: no usable response (a network error, or a 5xx after the retries).
// A 4xx is the site's answer, and a URL that robots.txt disallows, or whose
// address the guard refuses, was rightly not fetched.
func failed(status int, err error) bool {
	policy := errors.Is(err, fetch.ErrDisallowed) || errors.Is(err, fetch.ErrForbiddenAddress)
	return (status == 0 && err != nil && !policy) || status >= 500
}

// Error classes of storage.Page.ErrorClass (the schema's pages.error_class).
const (
	classTimeout           = "timeout"
	classTooLarge          = "too-large"
	classTruncated         = "truncated-body"
	classRedirectLoop      = "redirect-loop"
	classTooManyRedirects  = "too-many-redirects"
	classRedirectScope     = "redirect-out-of-scope"
	classRobots            = "robots"
	classRobotsUnavailable = "robots-unavailable"
	classAddress           = "address"
	classNetwork           = "network"
	classHTTP4xx           = "http-4xx"
	classHTTP5xx           = "http-5xx"
	classInvalidURL        = "invalid-url"
	classOther             = "other"
)

// errorClass sorts a fetch error into one of the classes above, so that
// `SELECT error_class, count(*) FROM pages GROUP BY 1` says what went wrong
// without parsing messages. The order matters: a robots.txt that timed out
// is robots-unavailable, not a timeout.
func errorClass(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, fetch.ErrDisallowed):
		return classRobots
	case errors.As(err, new(*fetch.RobotsUnavailableError)):
		return classRobotsUnavailable
	case errors.Is(err, fetch.ErrForbiddenAddress):
		return classAddress
	case errors.Is(err, fetch.ErrRedirectLoop):
		return classRedirectLoop
	case errors.Is(err, fetch.ErrTooManyRedirects):
		return classTooManyRedirects
	case errors.Is(err, errRedirectScope):
		return classRedirectScope
	case errors.Is(err, fetch.ErrTooLarge):
		return classTooLarge
	case errors.Is(err, dedupe.ErrInvalid), errors.Is(err, fetch.ErrUnsupportedScheme):
		return classInvalidURL
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return classTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return classTruncated
	}
	if se, ok := errors.AsType[*fetch.StatusError](err); ok {
		if se.Code >= 500 {
			return classHTTP5xx
		}
		return classHTTP4xx
	}
	if errors.As(err, &netErr) || errors.As(err, new(*net.OpError)) || errors.Is(err, io.EOF) {
		return classNetwork
	}
	return classOther
}
