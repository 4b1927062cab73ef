package testserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
)

// PathWire is the prefix of the wire mode's paths (SiteConfig.Wire).
const PathWire = "/wire/"

// WirePaths are the paths the wire mode serves: the same kind of page plain (with a
// Content-Length), chunked, gzip-encoded, and gzip-encoded in chunks.
func WirePaths() []string {
	return []string{PathWire + "plain", PathWire + "chunked", PathWire + "gzip", PathWire + "gzip-chunked"}
}

// WireBytes returns the bytes the wire mode wrote for path on host ("127.0.0.1:port", as in
// Hosts) the last time it was requested there, status line to the end of the body, or nil
// if it was not.
func (s *Site) WireBytes(host, path string) []byte {
	h, ok := s.byAddr[host]
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wire[path]
}

// serveWire writes the response for a wire path itself, on the hijacked connection, so that
// the bytes are exactly known, keeps a copy, and closes the connection.
func (h *host) serveWire(w http.ResponseWriter, r *http.Request) (int, bool) {
	kind := strings.TrimPrefix(r.URL.Path, PathWire)
	var body bytes.Buffer
	fmt.Fprintf(&body, "<!doctype html><html lang=\"en\"><head><title>Wire %s</title></head><body><main><h1>Wire %s</h1>\n", kind, kind)
	for i := range 40 {
		fmt.Fprintf(&body, "<p>Paragraph %d of the %s response: wirefaithful bytes as they were sent.</p>\n", i, kind)
	}
	body.WriteString("</main></body></html>\n")
	payload := body.Bytes()
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX-Wire: " + kind + "\r\nConnection: close\r\n"
	gz := strings.HasPrefix(kind, "gzip")
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(payload)
		_ = zw.Close()
		payload = z.Bytes()
		head += "Content-Encoding: gzip\r\n"
	}
	var out bytes.Buffer
	switch kind {
	case "plain", "gzip":
		fmt.Fprintf(&out, "%sContent-Length: %d\r\n\r\n", head, len(payload))
		out.Write(payload)
	case "chunked", "gzip-chunked":
		out.WriteString(head + "Transfer-Encoding: chunked\r\n\r\n")
		for len(payload) > 0 {
			n := min(len(payload), 700)
			fmt.Fprintf(&out, "%x\r\n", n)
			out.Write(payload[:n])
			out.WriteString("\r\n")
			payload = payload[n:]
		}
		out.WriteString("0\r\n\r\n")
	default:
		http.NotFound(w, r)
		return http.StatusNotFound, true
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return http.StatusInternalServerError, true
	}
	defer conn.Close()
	n, _ := conn.Write(out.Bytes())
	h.mu.Lock()
	if h.wire == nil {
		h.wire = map[string][]byte{}
	}
	h.wire[r.URL.Path] = out.Bytes()[:n]
	h.mu.Unlock()
	return http.StatusOK, true
}
