package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/storage"
)

// ui holds the dashboard's page, script and style: hand-written, no
// external asset, so the page works offline.
//
//go:embed ui
var ui embed.FS

// maxStreams bounds the dashboard's concurrent event streams.
const maxStreams = 16

// dashboard serves the live page of one crawl file, and of its running
// crawl when it has one (controls, queues in memory, this run's counts).
type dashboard struct {
	src     *dashSource
	token   string // "" means none asked for (loopback only)
	log     *slog.Logger
	streams chan struct{} // one element per open event stream, up to maxStreams
	files   http.Handler
	quit    chan struct{} // closed when the server shuts down: event streams end
	once    sync.Once     // closes quit
}

// listenUI binds the dashboard's address for flag name. A non-loopback
// address needs a token: token when given, else a generated one, which is
// returned. A bad or busy address is a usage error.
func listenUI(name, addr, token string) (net.Listener, string, error) {
	if addr == "" {
		return nil, "", nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", usagef("%s %s: %v", name, addr, err)
	}
	if token == "" && !isLoopbackHost(host) {
		b := make([]byte, 16)
		rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails (Go 1.24+)
		token = hex.EncodeToString(b)
	}
	ln, err := listen(name, addr)
	if err != nil {
		return nil, "", err
	}
	return ln, token, nil
}

// isLoopbackHost reports whether host (a name or an IP, no port) is
// loopback: "localhost" or a loopback IP. "" (every interface) is not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dashboardURL is the address to open in a browser, token included.
func dashboardURL(ln net.Listener, token string) string {
	u := "http://" + ln.Addr().String() + "/"
	if token != "" {
		u += "?token=" + token
	}
	return u
}

// serveDashboard serves the dashboard of src on ln until the returned stop
// is called; a nil ln serves nothing.
func serveDashboard(ln net.Listener, token string, src *dashSource, log *slog.Logger) (stop func()) {
	if ln == nil {
		return func() {}
	}
	d := newDashboard(src, token, log)
	log.Info("serving the dashboard", "url", dashboardURL(ln, ""), "token", token != "")
	return serveHTTP(ln, d.handler(), "dashboard", log, d.shutdown)
}

// newDashboard returns the dashboard of src; token "" asks for none.
func newDashboard(src *dashSource, token string, log *slog.Logger) *dashboard {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	return &dashboard{src: src, token: token, log: log, streams: make(chan struct{}, maxStreams), files: http.FileServerFS(sub),
		quit: make(chan struct{})}
}

// shutdown ends the event streams, so that the server's Shutdown need not
// wait for them.
func (d *dashboard) shutdown() { d.once.Do(func() { close(d.quit) }) }

// handler routes the dashboard's requests, behind the token check.
func (d *dashboard) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", d.files)
	mux.HandleFunc("GET /api/events", d.events)
	mux.HandleFunc("GET /api/state", d.state)
	mux.HandleFunc("GET /api/pages", d.pages)
	mux.HandleFunc("GET /api/page", d.page)
	mux.HandleFunc("POST /api/control", d.control)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !d.allowed(r) {
			http.Error(w, "forbidden: this dashboard needs its token (?token=... as printed at start)", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// allowed reports whether r may see the dashboard: with a token, r carries
// it (query, header or cookie); without, r names a loopback host, so that a
// web page elsewhere cannot reach a loopback dashboard by DNS rebinding.
func (d *dashboard) allowed(r *http.Request) bool {
	if d.token == "" {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		return isLoopbackHost(host)
	}
	given := r.URL.Query().Get("token")
	if given == "" {
		given = r.Header.Get("X-Trawl-Token")
	}
	return subtle.ConstantTimeCompare([]byte(given), []byte(d.token)) == 1
}

// events streams a snapshot every second as Server-Sent Events until the
// client goes or the server shuts down.
func (d *dashboard) events(w http.ResponseWriter, r *http.Request) {
	select {
	case d.streams <- struct{}{}:
		defer func() { <-d.streams }()
	default:
		http.Error(w, "too many dashboards open", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		b, err := json.Marshal(d.src.snapshot(r.Context()))
		if err != nil {
			d.log.Warn("dashboard snapshot", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.quit:
			return
		case <-t.C:
		}
	}
}

// state returns one snapshot, for scripts and tests.
func (d *dashboard) state(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, d.src.snapshot(r.Context()))
}

// pages searches pages by URL or title.
func (d *dashboard) pages(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	ps, err := d.src.db.SearchPages(r.Context(), r.URL.Query().Get("q"), cmpOr(limit, 50))
	if err != nil {
		d.fail(w, err)
		return
	}
	writeJSON(w, ps)
}

// page returns one page with its links out and in.
func (d *dashboard) page(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		http.Error(w, "id: want a page id", http.StatusBadRequest)
		return
	}
	p, err := d.src.db.Page(r.Context(), id, 100)
	if errors.Is(err, storage.ErrNotFound) {
		http.Error(w, "no such page", http.StatusNotFound)
		return
	} else if err != nil {
		d.fail(w, err)
		return
	}
	writeJSON(w, p)
}

// controlRequest is the body of POST /api/control.
type controlRequest struct {
	Action string   `json:"action"` // pause, resume, stop or seeds
	Seeds  []string `json:"seeds"`  // with seeds: the URLs to add
}

// control pauses, resumes or stops the running crawl, or adds seeds. It
// asks for the X-Trawl-Control header, which a cross-site form cannot send.
func (d *dashboard) control(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Trawl-Control") != "1" {
		http.Error(w, "missing X-Trawl-Control header", http.StatusForbidden)
		return
	}
	e := d.src.engine
	if e == nil {
		http.Error(w, "no crawl runs in this process: start one with 'crawler crawl --ui ADDR'", http.StatusConflict)
		return
	}
	var req controlRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch req.Action {
	case "pause":
		e.Pause()
		writeJSON(w, map[string]string{"message": "paused: fetches in flight finish, no new one starts"})
	case "resume":
		e.Resume()
		writeJSON(w, map[string]string{"message": "resumed"})
	case "stop":
		e.Resume() // a paused crawl stops too
		d.src.stop(errStoppedFromDashboard)
		writeJSON(w, map[string]string{"message": "stopping: fetches in flight finish and are recorded"})
	case "seeds":
		if len(req.Seeds) == 0 || len(req.Seeds) > 1000 {
			http.Error(w, "seeds: give 1 to 1000 URLs", http.StatusBadRequest)
			return
		}
		n, err := e.AddSeeds(req.Seeds)
		switch {
		case errors.Is(err, crawl.ErrNotRunning):
			http.Error(w, "the crawl has ended", http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			writeJSON(w, map[string]any{"message": fmt.Sprintf("%d of %d seeds new, queued", n, len(req.Seeds)), "new": n})
		}
	default:
		http.Error(w, "action: want pause, resume, stop or seeds", http.StatusBadRequest)
	}
}

// errStoppedFromDashboard is the cause of a crawl stopped by the dashboard.
var errStoppedFromDashboard = fmt.Errorf("stopped from the dashboard: %w", context.Canceled)

func (d *dashboard) fail(w http.ResponseWriter, err error) {
	d.log.Warn("dashboard query", "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

// cmpOr returns v, or def when v is not positive.
func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
