package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"
)

// Archive keeps every HTTP exchange the Client makes (pages, redirect hops, robots.txt) as
// the bytes that crossed the wire (Config.Archive). The WARC writer in cmd/crawler is one.
type Archive interface {
	// Archive stores ex and returns where its response went. It is called once per exchange,
	// concurrently from the Client's fetches, after the response was read; ex and its
	// captures are valid only during the call.
	Archive(ctx context.Context, ex *Exchange) (Location, error)
}

// Exchange is one request and its response as they crossed the connection.
type Exchange struct {
	URL      *url.URL  // the URL requested
	Date     time.Time // when the request was sent
	IP       string    // the server's address ("127.0.0.1"), "" when unknown
	Status   int       // the response's status code
	Request  *Capture  // the request bytes as written: request line, headers
	Response *Capture  // the response bytes as read: status line, headers as received, the body as sent (chunked, compressed)
	// Truncated says why Response lacks the end of the response, in WARC-Truncated's words;
	// "" when it is whole. TruncatedLength: the body was longer than Config.MaxBody (or
	// declined unread by its Content-Length), or a redirect's body was not read whole;
	// TruncatedTime: the body was not done by Config.Timeout; TruncatedDisconnect: the
	// connection failed before the body ended; TruncatedUnspecified: the body's encoding
	// failed to decode, and the rest was not read (both make the fetch fail).
	Truncated string
	// Prior is Request.Prior when the response is a 304 Not Modified: where the archive
	// keeps the capture it revalidated. Zero otherwise.
	Prior Location
}

// Why an Exchange's Response lacks the end of the response (the values of WARC-Truncated).
const (
	TruncatedLength      = "length"
	TruncatedTime        = "time"
	TruncatedDisconnect  = "disconnect"
	TruncatedUnspecified = "unspecified"
)

// Location is where an Archive stored an exchange's response: a file and the offset of its
// record in it.
type Location struct {
	File   string // the file (a name the Archive gives it), "" when nothing was stored
	Offset int64  // the offset of the response's record in File
}

// captureMemory is how many bytes a Capture holds in memory before it spools to a
// temporary file.
const captureMemory = 256 << 10

// Capture holds the bytes of one direction of an exchange, in memory up to captureMemory
// and in a temporary file beyond, to at most a limit; more is counted as cut.
type Capture struct {
	limit int64
	mem   bytes.Buffer
	file  *os.File // nil until the capture outgrows captureMemory
	n     int64    // bytes kept
	cut   bool     // bytes past limit were dropped
	err   error    // the first error spooling to file
}

func newCapture(limit int64) *Capture { return &Capture{limit: limit} }

// write keeps p, or as much of it as the limit allows.
func (c *Capture) write(p []byte) {
	if room := c.limit - c.n; int64(len(p)) > room {
		p, c.cut = p[:max(room, 0)], true
	}
	if len(p) == 0 || c.err != nil {
		return
	}
	c.n += int64(len(p))
	if c.file == nil && c.mem.Len()+len(p) <= captureMemory {
		c.mem.Write(p)
		return
	}
	if c.file == nil {
		f, err := os.CreateTemp("", "trawl-capture-*")
		if err != nil {
			c.err = fmt.Errorf("spool capture: %w", err)
			return
		}
		c.file = f
		if _, err := f.Write(c.mem.Bytes()); err != nil {
			c.err = fmt.Errorf("spool capture: %w", err)
			return
		}
		c.mem = bytes.Buffer{}
	}
	if _, err := c.file.Write(p); err != nil {
		c.err = fmt.Errorf("spool capture: %w", err)
	}
}

// Len returns the number of bytes captured.
func (c *Capture) Len() int64 { return c.n }

// Cut reports that more bytes crossed the wire than the capture kept.
func (c *Capture) Cut() bool { return c.cut }

// Reader returns the captured bytes from the start.
func (c *Capture) Reader() (io.Reader, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.file == nil {
		return bytes.NewReader(c.mem.Bytes()), nil
	}
	return io.NewSectionReader(c.file, 0, c.n), nil
}

// Bytes returns the captured bytes, reading them back from the spool file if need be.
func (c *Capture) Bytes() ([]byte, error) {
	r, err := c.Reader()
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// close removes the spool file, if any.
func (c *Capture) close() {
	if c.file != nil {
		_ = c.file.Close()
		_ = os.Remove(c.file.Name())
		c.file = nil
	}
}

// recConn is a connection of a Transport that archives (Config.Archive): while an exchange
// is attached, the bytes written are its request and the bytes read its response. An HTTP/1.1
// connection carries one exchange at a time, so each exchange is a byte range of it.
type recConn struct {
	net.Conn
	mu sync.Mutex
	ex *wire // the exchange attached; nil between exchanges
}

// wire is an exchange being captured.
type wire struct {
	req, resp *Capture
	conn      *recConn // the connection it was attached to; nil until GotConn
	date      time.Time
	prior     Location // Request.Prior, for a 304
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.ex != nil {
			c.ex.resp.write(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.mu.Lock()
		if c.ex != nil {
			c.ex.req.write(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// attach makes c carry w. A request the Transport retries on another connection starts its
// captures afresh.
func (c *recConn) attach(w *wire) {
	if old := w.conn; old != nil && old != c {
		old.detach(w)
		limReq, limResp := w.req.limit, w.resp.limit
		w.req.close()
		w.resp.close()
		w.req, w.resp = newCapture(limReq), newCapture(limResp)
	}
	c.mu.Lock()
	c.ex, w.conn = w, c
	c.mu.Unlock()
}

func (c *recConn) detach(w *wire) {
	c.mu.Lock()
	if c.ex == w {
		c.ex = nil
	}
	c.mu.Unlock()
}

// newWire returns an exchange to capture when the Client archives, else nil.
func (c *Client) newWire(prior Location) *wire {
	if c.cfg.Archive == nil {
		return nil
	}
	// The response may be compressed: decodeBody reads up to twice MaxBody of it.
	return &wire{req: newCapture(1 << 20), resp: newCapture(2*c.cfg.MaxBody + 1<<20), date: time.Now(), prior: prior}
}

// capturing returns ctx with a trace that attaches w to the connection the request gets.
func (w *wire) capturing(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if rc, ok := info.Conn.(*recConn); ok {
				rc.attach(w)
			}
		},
	})
}

// finish detaches w from its connection and returns it as an Exchange, or nil when no
// connection of ours carried it (a Transport that is not NewTransport's).
func (w *wire) finish(u *url.URL, status int, truncated string) *Exchange {
	if w.conn == nil {
		return nil
	}
	w.conn.detach(w)
	if truncated == "" && w.resp.Cut() {
		truncated = TruncatedLength
	}
	ex := &Exchange{URL: u, Date: w.date, Status: status, Request: w.req, Response: w.resp, Truncated: truncated}
	if status == http.StatusNotModified {
		ex.Prior = w.prior
	}
	if ap, ok := w.conn.RemoteAddr().(*net.TCPAddr); ok {
		ex.IP = ap.IP.String()
	}
	return ex
}

func (w *wire) close() {
	if w == nil {
		return
	}
	if w.conn != nil {
		w.conn.detach(w)
	}
	w.req.close()
	w.resp.close()
}

// archiving wraps tr's dialling so that its connections can be captured: plain connections
// as dialled, TLS ones after the handshake (so that what is captured is HTTP), and HTTP/1.1
// only (an HTTP/2 connection interleaves exchanges).
func archiving(tr *http.Transport, cfg Config) {
	dial := tr.DialContext
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no HTTP/2
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: conn}, nil
	}
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		tc := &tls.Config{ServerName: host, NextProtos: []string{"http/1.1"}}
		if tr.TLSClientConfig != nil {
			tc = tr.TLSClientConfig.Clone()
			tc.NextProtos = []string{"http/1.1"}
			if tc.ServerName == "" {
				tc.ServerName = host
			}
		}
		tconn := tls.Client(conn, tc)
		hctx, cancel := context.WithTimeout(ctx, cfg.TLSTimeout)
		defer cancel()
		if err := tconn.HandshakeContext(hctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		return &recConn{Conn: tconn}, nil
	}
}

// archive hands the exchange w carried to the Config.Archive, if any, and frees its captures.
// truncated is why the response lacks its end (Exchange.Truncated), "" when it does not.
func (c *Client) archive(ctx context.Context, w *wire, u *url.URL, status int, truncated string) (Location, error) {
	if w == nil {
		return Location{}, nil
	}
	defer w.close()
	ex := w.finish(u, status, truncated)
	if ex == nil {
		return Location{}, nil
	}
	loc, err := c.cfg.Archive.Archive(ctx, ex)
	if err != nil {
		return Location{}, fmt.Errorf("archive %s: %w", u, err)
	}
	return loc, nil
}

// lengthCut returns TruncatedLength when a body was cut at a size limit, else "".
func lengthCut(cut bool) string {
	if cut {
		return TruncatedLength
	}
	return ""
}

// cutReason returns why a body whose read failed with err lacks its end: the time limit
// when ctx's deadline passed, the connection when it ended or failed before the body did,
// else (an encoding that does not decode) unspecified.
func cutReason(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return TruncatedTime
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.As(err, &ne):
		return TruncatedDisconnect
	}
	return TruncatedUnspecified
}
