package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"
)

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
	for n1xx := 0; ; n1xx++ { // skips up to 5 informational (1xx) answers, as net/http does
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
		if code := resp.StatusCode; code < 100 || code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
		if n1xx == 5 {
			stop()
			return nil, errors.New("read response: too many 1xx answers")
		}
		c.limit = c.t.maxHeaderBytes
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
