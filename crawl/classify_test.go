package crawl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/fetch"
)

// timeoutErr is a net.Error that timed out, as http.Client's are.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorClass(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", fetch.ErrDisallowed), classRobots},
		{&fetch.RobotsUnavailableError{Host: "a", RetryAt: time.Now(), Err: timeoutErr{}}, classRobotsUnavailable},
		{&fetch.AddressError{}, classAddress},
		{&fetch.RedirectError{From: "a", To: "b", Err: fetch.ErrRedirectLoop}, classRedirectLoop},
		{fmt.Errorf("x: %w", fetch.ErrTooManyRedirects), classTooManyRedirects},
		{&fetch.RedirectError{From: "a", To: "b", Err: errRedirectScope}, classRedirectScope},
		{fmt.Errorf("x: %w", fetch.ErrTooLarge), classTooLarge},
		{fmt.Errorf("x: %w", dedupe.ErrInvalid), classInvalidURL},
		{fmt.Errorf("fetch: %w", context.DeadlineExceeded), classTimeout},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, classTimeout},
		{fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), classTruncated},
		{&fetch.StatusError{Code: 404}, classHTTP4xx},
		{&fetch.StatusError{Code: 503}, classHTTP5xx},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, classNetwork},
		{errors.New("something else"), classOther},
	}
	for _, tt := range tests {
		if got := errorClass(tt.err); got != tt.want {
			t.Errorf("errorClass(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
