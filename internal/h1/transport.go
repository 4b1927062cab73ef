// Package h1 is an HTTP/1.1 client transport that runs each exchange on the
// caller's goroutine.
//
// net/http's Transport gives every connection a reader and a writer
// goroutine, and hands each request and response between them and the
// caller over channels: four goroutine switches and a dozen allocations per
// call on top of the two system calls. For a gateway that makes three
// upstream calls per request over loopback or a LAN, that machinery was
// half of its CPU (see docs/performance.md). Here the caller writes the
// request and reads the response itself, on a pooled keep-alive connection;
// net/http still parses the response (http.ReadResponse), so the framing
// rules (Content-Length, chunked, trailers, HTTP/1.0, Connection: close) are
// the standard library's.
//
// Only plain-http GET and HEAD requests without a body are sent this way.
// Anything else (https, a request body, a ContentLength, TransferEncoding
// or Trailer, credentials in the URL, a Connection or Upgrade header,
// req.Close) goes to the fallback
// *http.Transport, which also serves as the source of the settings used
// here: its dialer, its idle connection limits and timeout, and its
// MaxResponseHeaderBytes. A fallback with settings this transport does not
// apply (a proxy, MaxConnsPerHost, ResponseHeaderTimeout, keep-alives off,
// compression on) sends every request itself. httptrace hooks are not
// called for the requests sent here.
//
// Without a reader goroutine, what the server does to a connection idle in
// the pool is noticed when the connection is next taken: a non-blocking
// peek before each reuse finds a close, and bytes nobody asked for (say, a
// 408 sent on an idle connection, or more body than the Content-Length
// said), which would otherwise be read as the next request's answer; such
// a connection is closed. (net/http's reader goroutine does the same while
// the connection is idle; the peek costs a system call per reuse, about 6 %
// of the aggregator's CPU per request.) A request that fails on a kept
// connection before any byte of an answer, the server having closed it
// after the peek, is sent again on a new one, as net/http does for GET and
// HEAD.
package h1

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Transport is an http.RoundTripper; see the package documentation. It is
// safe for concurrent use. The zero value is not usable: use New.
type Transport struct {
	fallback       *http.Transport
	off            bool // the fallback has settings not applied here: it sends every request
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdlePerHost int
	maxIdle        int
	idleTimeout    time.Duration
	maxHeaderBytes int64
	now            func() time.Time

	bufs sync.Pool // *[]byte: requests being written

	mu    sync.Mutex // guards idle, nidle, sweep, gen
	idle  map[string][]*conn
	nidle int
	sweep *time.Timer // closes connections idle too long; nil while none is idle
	gen   uint64      // one more at each CloseIdleConnections: older connections are not kept
}

// New returns a Transport that takes its settings from fallback and sends
// what it does not handle itself to fallback. fallback must not be nil.
func New(fallback *http.Transport) *Transport {
	t := &Transport{
		fallback:       fallback,
		dial:           fallback.DialContext,
		maxIdlePerHost: fallback.MaxIdleConnsPerHost,
		maxIdle:        fallback.MaxIdleConns,
		idleTimeout:    fallback.IdleConnTimeout,
		maxHeaderBytes: fallback.MaxResponseHeaderBytes,
		now:            time.Now,
		idle:           make(map[string][]*conn),
	}
	t.off = fallback.Proxy != nil || fallback.MaxConnsPerHost > 0 || fallback.ResponseHeaderTimeout > 0 ||
		fallback.DisableKeepAlives || !fallback.DisableCompression
	if t.dial == nil {
		t.dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	if t.maxIdlePerHost <= 0 {
		t.maxIdlePerHost = http.DefaultMaxIdleConnsPerHost
	}
	if t.maxHeaderBytes <= 0 {
		t.maxHeaderBytes = 1 << 20 // net/http's default is 10 MB; a gateway's upstream needs far less
	}
	return t
}

// Fallback returns the transport that sends what this one does not.
func (t *Transport) Fallback() *http.Transport { return t.fallback }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.off {
		return t.fallback.RoundTrip(req)
	}
	addr, ok := direct(req)
	if !ok {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bp, _ := t.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	wire, err := appendRequest((*bp)[:0], req)
	*bp = wire
	if cap(wire) <= maxPooledRequest {
		defer t.bufs.Put(bp) // the request is written before RoundTrip returns
	}
	if err != nil {
		return nil, err
	}
	for fresh := false; ; fresh = true {
		c, reused, err := t.get(ctx, addr, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := c.exchange(ctx, req, wire)
		if err == nil {
			return resp, nil
		}
		c.close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		// A kept connection the server closed while it was idle fails
		// before any byte of an answer: the request, a GET or HEAD
		// without a body, is sent again once on a new connection, as
		// net/http does.
		if !reused || c.nread > 0 {
			return nil, err
		}
	}
}

// maxPooledRequest caps the request buffers kept for reuse.
const maxPooledRequest = 16 << 10

// direct reports whether req is one this transport sends, and the address
// to dial.
func direct(req *http.Request) (string, bool) {
	u := req.URL
	switch {
	case u == nil || u.Scheme != "http" || u.User != nil || u.Host == "",
		strings.IndexByte(u.Host, '%') >= 0: // an IPv6 zone: net/http's rules for it are not copied here
		return "", false
	case req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != "",
		req.Body != nil && req.Body != http.NoBody, req.ContentLength != 0,
		len(req.TransferEncoding) > 0, req.Trailer != nil:
		return "", false // a body, or the framing of one
	case req.Close, req.Header["Connection"] != nil, req.Header["Upgrade"] != nil:
		return "", false // the connection's own fate
	}
	if u.Port() != "" {
		return u.Host, true
	}
	return net.JoinHostPort(u.Hostname(), "80"), true
}
