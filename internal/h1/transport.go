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
// Anything else (https, a request body, credentials in the URL, a
// Connection or Upgrade header, req.Close) goes to the fallback
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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
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

// CloseIdleConnections closes the idle connections, the fallback's too.
// Connections in use now are closed when their exchange ends.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.nidle = make(map[string][]*conn), 0
	t.gen++ // the connections in use now are closed when their exchange ends
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	addr, ok := direct(req)
	if !ok || t.off {
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
	if u == nil || u.Scheme != "http" || u.User != nil || u.Host == "" || req.Close ||
		(req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != "") ||
		(req.Body != nil && req.Body != http.NoBody) || req.Header["Connection"] != nil || req.Header["Upgrade"] != nil ||
		strings.IndexByte(u.Host, '%') >= 0 { // an IPv6 zone: net/http's rules for it are not copied here
		return "", false
	}
	if u.Port() != "" {
		return u.Host, true
	}
	return net.JoinHostPort(u.Hostname(), "80"), true
}

// get returns an idle connection to addr, or dials one (always when fresh).
func (t *Transport) get(ctx context.Context, addr string, fresh bool) (*conn, bool, error) {
	if !fresh {
		now := t.now()
		t.mu.Lock()
		for cs := t.idle[addr]; len(cs) > 0; cs = t.idle[addr] {
			c := cs[len(cs)-1]
			cs[len(cs)-1] = nil
			t.idle[addr] = cs[:len(cs)-1]
			t.nidle--
			t.mu.Unlock()
			idle := now.Sub(c.idleAt)
			if (t.idleTimeout > 0 && idle > t.idleTimeout) || !aliveRaw(c.raw) {
				c.close()
				t.mu.Lock()
				continue
			}
			return c, true, nil
		}
		t.mu.Unlock()
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", addr, err)
	}
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	c := &conn{t: t, nc: nc, raw: rawOf(nc), addr: addr, gen: gen}
	c.br = bufio.NewReaderSize(c, 4<<10)
	return c, false, nil
}

// put keeps c for the next request to its address, or closes it when the
// pool is full or closed.
func (t *Transport) put(c *conn) {
	c.idleAt = t.now()
	t.mu.Lock()
	cs := t.idle[c.addr]
	if c.gen != t.gen || len(cs) >= t.maxIdlePerHost || (t.maxIdle > 0 && t.nidle >= t.maxIdle) {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle[c.addr] = append(cs, c)
	t.nidle++
	if t.sweep == nil && t.idleTimeout > 0 {
		t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
	}
	t.mu.Unlock()
}

// sweepIdle closes the connections idle for longer than the idle timeout,
// and runs again while some are idle.
func (t *Transport) sweepIdle() {
	now := t.now()
	var stale []*conn
	t.mu.Lock()
	for addr, cs := range t.idle {
		keep := cs[:0]
		for _, c := range cs { // oldest first: put appends
			if now.Sub(c.idleAt) > t.idleTimeout {
				stale = append(stale, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(cs[len(keep):])
		if len(keep) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = keep
		}
	}
	t.nidle -= len(stale)
	if t.nidle > 0 {
		t.sweep = time.AfterFunc(t.idleTimeout/2, t.sweepIdle)
	} else {
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

// conn is one keep-alive connection, used by one exchange at a time.
type conn struct {
	t      *Transport
	nc     net.Conn
	raw    syscall.RawConn // nc's file descriptor, for the check before reuse; nil if it has none
	addr   string
	gen    uint64        // the Transport's gen when it was dialled
	br     *bufio.Reader // reads from the conn itself, counting and limiting
	idleAt time.Time
	nread  int64 // bytes read in this exchange
	limit  int64 // bytes the reader may still take: the header limit while reading headers
}

// Read reads from the network connection within the current limit.
func (c *conn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	c.limit -= int64(n)
	return n, err
}

func (c *conn) close() { _ = c.nc.Close() }

// errHeaderTooLarge ends a response whose header exceeds the limit.
var errHeaderTooLarge = errors.New("h1: response header too large")

// aLongTimeAgo is a deadline in the past: it unblocks reads and writes.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes req, whose bytes are wire, on c and reads the response
// header. The body, when read to its end and closed, puts c back in the
// pool.
func (c *conn) exchange(ctx context.Context, req *http.Request, wire []byte) (*http.Response, error) {
	c.nread = 0
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	if _, err := c.nc.Write(wire); err != nil {
		stop()
		return nil, fmt.Errorf("write request: %w", err)
	}
	c.limit = c.t.maxHeaderBytes
	var resp *http.Response
	var err error
	for range 5 { // skips 1xx answers, as net/http does, a few at most
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			if errors.Is(err, errHeaderTooLarge) {
				err = fmt.Errorf("read response: header exceeds %d bytes", c.t.maxHeaderBytes)
			} else if c.nread == 0 && errors.Is(err, io.EOF) {
				err = fmt.Errorf("read response: server closed the connection: %w", err)
			} else {
				err = fmt.Errorf("read response: %w", err)
			}
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		c.limit = c.t.maxHeaderBytes
	}
	if resp.StatusCode < 200 {
		stop()
		return nil, errors.New("read response: too many 1xx answers")
	}
	c.limit = 1<<63 - 1
	b := &body{ctx: ctx, c: c, rc: resp.Body, stop: stop, keep: !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// body is a response body: read to its end and closed, it returns the
// connection to the pool; closed early, it closes the connection.
type body struct {
	ctx   context.Context
	c     *conn
	rc    io.ReadCloser
	stop  func() bool // unhooks the context's cancellation from the conn
	keep  bool        // the connection may be reused after this response
	ended atomic.Bool // finish ran: Close may race with Read
	eof   bool        // Read saw the end: read by Read only
}

var errBodyClosed = errors.New("h1: read on closed response body")

func (b *body) Read(p []byte) (int, error) {
	if b.ended.Load() {
		if b.eof {
			return 0, io.EOF
		}
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		b.finish(true)
	} else if err != nil {
		b.finish(false)
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr // the deadline set to cut the read is the context's doing
		}
	}
	return n, err
}

func (b *body) Close() error {
	b.finish(false)
	return nil
}

// finish ends the exchange: the connection goes back to the pool when the
// body was read to its end, may be kept, has no byte beyond the answer,
// and the context's hook had not fired.
func (b *body) finish(complete bool) {
	if !b.ended.CompareAndSwap(false, true) {
		return
	}
	unhooked := b.stop()
	if complete && b.keep && unhooked && b.c.br.Buffered() == 0 {
		b.c.t.put(b.c)
		return
	}
	b.c.close()
}

// appendRequest appends req's request line and header to dst, as net/http
// writes them, and checks the header as http.Transport does.
func appendRequest(dst []byte, req *http.Request) ([]byte, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) || !isASCII(host) {
		return dst, fmt.Errorf("h1: invalid Host header %q", host)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	ruri := req.URL.RequestURI()
	for i := range len(ruri) {
		if b := ruri[i]; b < ' ' || b == 0x7f {
			return dst, errors.New("net/http: can't write control character in Request.URL")
		}
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, ruri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	if _, ok := req.Header["User-Agent"]; !ok {
		dst = append(dst, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return dst, fmt.Errorf("net/http: invalid header field name %q", k)
		}
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Trailer" {
			continue // written from the request, or not at all, as net/http does
		}
		if k == "User-Agent" && len(vs) > 0 && vs[0] == "" {
			continue // an empty User-Agent means none
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return dst, fmt.Errorf("net/http: invalid header field value for %q", k)
			}
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, strings.Trim(v, " \t")...)
			dst = append(dst, "\r\n"...)
		}
	}
	return append(dst, "\r\n"...), nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
