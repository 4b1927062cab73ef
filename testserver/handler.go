package testserver

import (
	"bytes"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP counts the request, waits Latency, then serves an override, the
// robots.txt, the root, a page, or 404.
func (h *host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !h.enter() {
		http.Error(w, "site closing", http.StatusServiceUnavailable)
		return
	}
	defer h.leave()
	s := h.site

	key := r.URL.Path // the path and query as received
	if r.URL.RawPath != "" || r.URL.RawQuery != "" || r.URL.ForceQuery || key == "" {
		key = r.URL.RequestURI()
	}
	page, isPage := h.count(key)
	s.total.Add(1)
	entry := -1
	if !s.cfg.NoLog {
		entry = s.logStart(Request{Host: h.addr, Path: key, Start: start, Agent: r.UserAgent()})
	}

	status := h.respond(w, r, key, page, isPage)

	if entry >= 0 {
		s.logEnd(entry, time.Now(), status)
	}
	if status == 0 {
		// Returning would send an empty 200; abort the response instead.
		panic(http.ErrAbortHandler)
	}
}

// enter registers a running handler and reports whether the host is still
// open.
func (h *host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.handlers.Add(1) // before Close sets closed, so never concurrent with Wait at zero
	h.inFlight++
	h.maxInFlight = max(h.maxInFlight, h.inFlight)
	return true
}

// leave ends what enter started.
func (h *host) leave() {
	h.mu.Lock()
	h.inFlight--
	h.mu.Unlock()
	h.handlers.Done()
}

// count adds one hit for key and returns the page number if key is exactly one
// of h's pages.
func (h *host) count(key string) (page int, ok bool) {
	if k, ok := h.pageSlot(key); ok {
		h.pageHits[k].Add(1)
		return h.index + k*len(h.site.hosts), true
	}
	h.mu.Lock()
	h.other[key]++
	h.mu.Unlock()
	return 0, false
}

// logStart appends an in-flight entry to the log and returns its index.
func (s *Site) logStart(r Request) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = append(s.log, r)
	return len(s.log) - 1
}

// logEnd completes the log entry at index i.
func (s *Site) logEnd(i int, end time.Time, status int) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log[i].End = end
	s.log[i].Status = status
}

// respond writes the response for key and returns its status, or 0 if the
// client went away during Latency.
func (h *host) respond(w http.ResponseWriter, r *http.Request, key string, page int, isPage bool) int {
	s := h.site
	if d := s.cfg.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client hung up or Close was called
			t.Stop()
			return 0
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	if ov, ok := h.override(key, r.URL.Path); ok {
		return writeOverride(w, ov)
	}
	if st, ok := h.respondMode(w, r, key); ok { // the opt-in modes: hostile.go, traps.go, sitemaps.go
		return st
	}
	switch {
	case isPage:
		return s.writePage(w, r, h, page)
	case key == "/":
		return s.writePage(w, r, h, -1)
	case strings.HasPrefix(key, PathChangedPrefix):
		if st, ok := h.serveChanged(w, r, key); ok {
			return st
		}
	case key == "/robots.txt" && s.cfg.Robots != "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(s.cfg.Robots)))
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, s.cfg.Robots)
		return http.StatusOK
	}
	http.NotFound(w, r)
	return http.StatusNotFound
}

// override returns the override for key, else for path, if it applies to this
// request: it counts the request against the override's Times on this host.
func (h *host) override(key, path string) (Response, bool) {
	ovs := h.site.cfg.Overrides
	if len(ovs) == 0 {
		return Response{}, false
	}
	ov, ok := ovs[key]
	if !ok {
		key = path
		if ov, ok = ovs[key]; !ok {
			return Response{}, false
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.overrideHits[key]++
	return ov, ov.Times == 0 || h.overrideHits[key] <= ov.Times
}

// writeOverride writes ov and returns its status.
func writeOverride(w http.ResponseWriter, ov Response) int {
	status := ov.Status
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range ov.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(ov.Body)))
	w.WriteHeader(status)
	io.WriteString(w, ov.Body)
	return status
}

// writePage writes the generated HTML of page i at its version, or of h's
// root if i < 0, and marks page i as served; with Validators on, it answers
// 304 instead when r's preconditions say so (conditional.go).
func (s *Site) writePage(w http.ResponseWriter, r *http.Request, h *host, i int) int {
	v := 0
	if i >= 0 {
		v = s.changes.version(i)
	}
	if s.cfg.Validators {
		key := i
		if i < 0 {
			key = -1 - h.index
		}
		etag, lm := s.validators(key, v)
		if notModified(w, r, etag, lm) {
			return s.writeNotModified(w)
		}
	}
	rb := s.bufs.Get().(*renderBuf)
	defer s.bufs.Put(rb)
	if i < 0 {
		s.renderRoot(rb, h.index)
		s.appendModeLinks(&rb.buf, h)
	} else {
		s.renderPage(rb, i)
		if v > 0 {
			appendChange(&rb.buf, i, v)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(rb.buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(rb.buf.Bytes())
	if r.Method == http.MethodGet {
		s.bodyBytes.Add(int64(rb.buf.Len()))
	}
	if i >= 0 {
		s.markServed(i)
	}
	return http.StatusOK
}

// markServed sets page i's bit and counts it the first time.
func (s *Site) markServed(i int) {
	bit := uint64(1) << (i % 64)
	if s.served[i/64].Or(bit)&bit == 0 {
		s.nServed.Add(1)
	}
}

// respondMode serves the paths of the opt-in modes (Hostile, RobotsMode,
// Traps, Sitemaps, Orphans) and reports whether key was one of them. With
// every mode off it returns false at once.
func (h *host) respondMode(w http.ResponseWriter, r *http.Request, key string) (int, bool) {
	cfg := &h.site.cfg
	path := r.URL.Path
	switch {
	case path == "/robots.txt" || path == PathRobotsReal:
		return h.serveRobots(w, r, key, path)
	case cfg.Hostile && strings.HasPrefix(path, "/hostile/"):
		return h.serveHostile(w, r, key)
	case cfg.RobotsMode != "" && strings.HasPrefix(path, RobotsDisallowed):
		return writeTinyPage(w, "Private", path), true
	case cfg.Traps && strings.HasPrefix(path, "/trap/"):
		return h.serveTrap(w, r)
	case cfg.Sitemaps && (path == PathSitemap || path == PathSitemapIndex || strings.HasPrefix(path, "/sitemaps/")):
		return h.serveSitemap(w, r)
	case cfg.Blog > 0 && strings.HasPrefix(path, PathBlog):
		return h.serveBlog(w, path)
	case cfg.Orphans > 0 && strings.HasPrefix(path, PathOrphanPrefix):
		return h.serveOrphan(w, path)
	case cfg.Wire && strings.HasPrefix(path, PathWire):
		return h.serveWire(w, r)
	}
	return 0, false
}

// appendModeLinks adds to a host's rendered root page the links of the modes
// that are on, just before its footer. It does nothing with every mode off,
// so the root stays byte for byte what it was.
func (s *Site) appendModeLinks(b *bytes.Buffer, h *host) {
	cfg := &s.cfg
	if !cfg.Hostile && !cfg.Traps && cfg.RobotsMode == "" && !cfg.Wire {
		return
	}
	b.Truncate(b.Len() - len(htmlFooter)) // render always ends with htmlFooter
	b.WriteString("<ul class=\"modes\">\n")
	link := func(href, text string) {
		b.WriteString("<li><a href=\"")
		b.WriteString(html.EscapeString(href))
		b.WriteString("\">")
		b.WriteString(html.EscapeString(text))
		b.WriteString("</a></li>\n")
	}
	if cfg.Hostile {
		for _, hp := range HostilePaths() {
			link(hp.Path, hp.Path)
		}
	}
	if cfg.Traps {
		for _, p := range TrapEntries() {
			link(p, p)
		}
	}
	if cfg.RobotsMode != "" {
		link(PathPrivate, "private")
	}
	if cfg.Wire {
		for _, p := range WirePaths() {
			link(p, p)
		}
	}
	b.WriteString("</ul>\n")
	b.WriteString(htmlFooter)
}
