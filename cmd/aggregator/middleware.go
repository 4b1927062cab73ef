package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// requestID takes the client's X-Request-ID when it is valid and makes one
// otherwise. Either way the ID is in the request's header, where the handler
// and the access log read it, and in the response's.
func (s *service) requestID(c *gin.Context) {
	h := c.Request.Header
	v := h[hdrRequestID]
	if len(v) != 1 || !validRequestID(v[0]) {
		v = []string{s.ids.next()}
		h[hdrRequestID] = v
	}
	c.Writer.Header()[hdrRequestID] = v
	c.Next()
}

// validRequestID reports whether a client's request ID is safe to log and
// pass on: 1 to 128 letters, digits and "-_.:+/=".
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := range len(id) {
		switch ch := id[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case ch == '-', ch == '_', ch == '.', ch == ':', ch == '+', ch == '/', ch == '=':
		default:
			return false
		}
	}
	return true
}

// idSource makes request IDs unique to this process: a random prefix and a
// counter, "9f2c41d0-1a". It is safe for concurrent use.
type idSource struct {
	prefix [9]byte // 8 hex digits and '-'; set once by newService
	n      atomic.Uint64
}

func (s *idSource) next() string {
	var arr [32]byte
	b := append(arr[:0], s.prefix[:]...)
	b = strconv.AppendUint(b, s.n.Add(1), 36)
	return string(b)
}

// accessLog writes one JSON line per request: method, path, route, status,
// elapsed, request_id and, on endpoints, complete. Partial and failed
// answers log at Warn, /healthz and /metrics at Debug.
func (s *service) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	r := c.Request
	status := c.Writer.Status()
	route := c.FullPath()
	completed := c.Writer.Header()[hdrCompleted]
	level := slog.LevelInfo
	switch {
	case status >= 500 || len(completed) == 1 && completed[0] == "false":
		level = slog.LevelWarn
	case route == healthPath || route == metricsPath:
		level = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	if len(completed) == 1 {
		s.log.LogAttrs(ctx, level, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
			slog.Int("status", status), slog.Duration("elapsed", time.Since(start)),
			slog.String("request_id", r.Header[hdrRequestID][0]), slog.Bool("complete", completed[0] == "true"))
		return
	}
	s.log.LogAttrs(ctx, level, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
		slog.Int("status", status), slog.Duration("elapsed", time.Since(start)),
		slog.String("request_id", r.Header[hdrRequestID][0]))
}

// recovery turns a panic in a handler into a logged 500 with a JSON body.
func (s *service) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { //nolint:errorlint // a sentinel value, not a wrapped error
			panic(v) // net/http's way to abort a response: let it
		}
		r := c.Request
		s.log.LogAttrs(r.Context(), slog.LevelError, "panic",
			slog.Any("panic", v), slog.String("path", r.URL.Path),
			slog.String("request_id", r.Header[hdrRequestID][0]), slog.String("stack", string(debug.Stack())))
		c.Abort()
		if !c.Writer.Written() {
			s.writeJSON(c, http.StatusInternalServerError, errorJSON("internal error"), nil)
		}
	}()
	c.Next()
}

// limitBody refuses request bodies over server.max_body_bytes with 413. No
// endpoint uses a body, so one of unknown length is read here, through the
// cap, and dropped.
func (s *service) limitBody(c *gin.Context) {
	r := c.Request
	max := s.cfg.MaxBodyBytes
	switch {
	case r.ContentLength > max:
		c.Abort()
		s.writeJSON(c, http.StatusRequestEntityTooLarge, s.tooLarge, nil)
		return
	case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
		r.Body = http.MaxBytesReader(c.Writer, r.Body, max)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			c.Abort()
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				s.writeJSON(c, http.StatusRequestEntityTooLarge, s.tooLarge, nil)
			} else {
				s.writeJSON(c, http.StatusBadRequest, errorJSON("read request body: "+err.Error()), nil)
			}
			return
		}
	}
	c.Next()
}

// logWriter buffers log lines so that a request's access log costs no
// system call; flushEvery and Flush write them out. It is safe for
// concurrent use.
type logWriter struct {
	mu sync.Mutex // guards w
	w  *bufio.Writer
}

func newLogWriter(out io.Writer) *logWriter {
	return &logWriter{w: bufio.NewWriterSize(out, 64<<10)}
}

// Write buffers p (one log record), writing out what was buffered first when
// p does not fit.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.w.Available() && l.w.Buffered() > 0 {
		if err := l.w.Flush(); err != nil {
			return 0, err
		}
	}
	return l.w.Write(p)
}

// Flush writes out what is buffered.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// flushEvery flushes every interval until stop is closed, then once more.
func (l *logWriter) flushEvery(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush() //nolint:errcheck // stderr: nowhere to report it
		case <-stop:
			l.Flush() //nolint:errcheck // as above
			return
		}
	}
}
