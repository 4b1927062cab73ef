package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// readyTimeout bounds how long a testserver may take to print "ready".
	readyTimeout = 2 * time.Minute
	// seedQuiet is how long stdout must stay silent after "ready" before the
	// seed list is taken as complete. The seeds are written before "ready",
	// so they are already in the pipe; this only bounds an empty read.
	seedQuiet = 200 * time.Millisecond
	// stopTimeout bounds how long a testserver may take to exit after SIGINT
	// before it is killed.
	stopTimeout = 30 * time.Second
	// keepLines is how many of the last stderr lines of a child are kept for
	// totals and error messages.
	keepLines = 200
	// sampleEvery is the testserver's -sample interval: how finely its record
	// of pages served over time, and so each rate window's ends, are timed.
	sampleEvery = "5ms"
)

// serverArgs returns cmd/testserver's command line for cfg.
func serverArgs(cfg config) []string {
	return []string{
		"-hosts", strconv.Itoa(cfg.Hosts),
		"-pages", strconv.Itoa(cfg.Pages),
		"-links", strconv.Itoa(cfg.Links),
		"-size", "4096",
		"-cross", "0.1",
		"-seed", "1",
		"-sample", sampleEvery,
	}
}

// server is a running testserver process. Start it with startServer and end
// it with stop (or kill, on a failed start).
type server struct {
	cmd    *exec.Cmd
	stdout *os.File // read end of the stdout pipe; closed by the drain goroutine
	log    *lineLog // the server's stderr
	seeds  []string
	// curve is the record of pages served over time that cmd/testserver
	// prints on stdout with -sample (nil from a server that prints none). It
	// is appended to by the drain goroutine and read only after drained is
	// closed.
	curve []point

	exited  chan struct{} // closed by the goroutine that waits for cmd
	waitErr error         // cmd.Wait's result; read only after exited is closed
	drained chan struct{} // closed by the goroutine that drains stdout, at EOF
}

// startServer starts bin with args and returns once it has printed its seeds
// and "ready".
func startServer(ctx context.Context, bin string, args []string) (*server, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("testserver stdout pipe: %w", err)
	}
	s := &server{
		cmd:     exec.Command(bin, args...), // stopped with SIGINT by stop, not by ctx
		stdout:  r,
		log:     newLineLog(keepLines),
		exited:  make(chan struct{}),
		drained: make(chan struct{}),
	}
	s.cmd.Stdout = w // the child writes into the pipe directly: no copying goroutine
	s.cmd.Stderr = s.log
	s.cmd.WaitDelay = 5 * time.Second
	if err := s.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start testserver: %w", err)
	}
	w.Close() // the child holds its own copy; EOF comes when it exits
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-s.log.ready:
	case <-s.exited:
		s.closeStdout()
		return nil, fmt.Errorf("testserver exited before ready: %v%s", s.waitErr, s.log.tail(10))
	case <-timer.C:
		s.kill()
		return nil, fmt.Errorf("testserver not ready after %v%s", readyTimeout, s.log.tail(10))
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}

	out, err := readAvailable(r, seedQuiet)
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("read testserver seeds: %w", err)
	}
	s.curve = parseCurve(out, nil) // no crawler has started yet, but be sure
	go func() {
		s.curve = readCurve(r, s.curve)
		close(s.drained)
	}()
	s.seeds = parseSeeds(out)
	if len(s.seeds) == 0 {
		s.stop()
		return nil, fmt.Errorf("testserver printed no seed URL on stdout before ready (got %q)", truncate(out, 200))
	}
	return s, nil
}

// readAvailable reads r until EOF or until it stays empty for quiet.
func readAvailable(r *os.File, quiet time.Duration) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		if err := r.SetReadDeadline(time.Now().Add(quiet)); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		out.Write(buf[:n])
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return out.Bytes(), r.SetReadDeadline(time.Time{})
		case errors.Is(err, io.EOF):
			return out.Bytes(), nil
		case err != nil:
			return nil, err
		}
	}
}

// closeStdout closes the read end of stdout when no drain goroutine owns it.
func (s *server) closeStdout() {
	s.stdout.Close()
}

// kill ends a server that failed to start and waits for it.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
	s.closeStdout()
}

// stop interrupts the server, waits for it to exit (killing it after
// stopTimeout) and returns the totals from its last stderr lines.
func (s *server) stop() (totals, error) {
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.cmd.Process.Kill()
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	killed := false
	select {
	case <-s.exited:
	case <-timer.C:
		s.cmd.Process.Kill()
		killed = true
		<-s.exited
	}
	<-s.drained
	s.stdout.Close()
	t, err := parseTotals(s.log.lines())
	if killed {
		err = errors.Join(fmt.Errorf("testserver did not exit within %v of SIGINT; killed", stopTimeout), err)
	}
	if err != nil {
		return t, fmt.Errorf("%w%s", err, s.log.tail(10))
	}
	return t, nil
}

// parseSeeds returns the absolute http(s) URLs among the lines of out, in
// order. Other lines are ignored.
func parseSeeds(out []byte) []string {
	var seeds []string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		u, err := url.Parse(line)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		seeds = append(seeds, line)
	}
	return seeds
}

// parseCurve appends the sample lines of out to curve.
func parseCurve(out []byte, curve []point) []point {
	for line := range strings.Lines(string(out)) {
		if p, ok := parsePoint(line); ok {
			curve = append(curve, p)
		}
	}
	return curve
}

// readCurve appends the sample lines read from r until EOF to curve. It
// always reads to EOF, so that a chatty server never blocks on a full pipe.
func readCurve(r io.Reader, curve []point) []point {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if p, ok := parsePoint(sc.Text()); ok {
			curve = append(curve, p)
		}
	}
	io.Copy(io.Discard, r) // after a line too long for the scanner
	return curve
}

// totals is what the testserver reports when it stops.
type totals struct {
	Hits       int64 // requests of any path, robots.txt included
	Pages      int64 // distinct pages served with status 200
	Duplicates int64 // URLs (host and path) requested more than once, robots.txt excepted
}

// parseTotals finds the last line of the form "hits=N pages=N duplicates=N"
// (other key=value fields and a log prefix are allowed) and parses it.
func parseTotals(lines []string) (totals, error) {
	for i := len(lines) - 1; i >= 0; i-- {
		kv := map[string]int64{}
		for _, f := range strings.Fields(lines[i]) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if n, err := strconv.ParseInt(strings.Trim(v, `",`), 10, 64); err == nil {
				kv[k] = n
			}
		}
		dup, okDup := kv["duplicates"]
		pages, okPages := kv["pages"]
		if !okDup || !okPages {
			continue
		}
		return totals{Hits: kv["hits"], Pages: pages, Duplicates: dup}, nil
	}
	return totals{}, errors.New(`no "pages=N duplicates=N" totals line in testserver stderr`)
}

// lineLog is an io.Writer that keeps the last lines written to it and closes
// ready at the first line that says "ready". It is safe for concurrent use.
type lineLog struct {
	max   int
	ready chan struct{} // closed by Write at the first ready line

	mu        sync.Mutex // guards buf, kept, readySeen
	buf       []byte     // an unfinished last line
	kept      []string
	readySeen bool
}

func newLineLog(max int) *lineLog {
	return &lineLog{max: max, ready: make(chan struct{})}
}

// Write implements io.Writer.
func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.addLocked(string(bytes.TrimRight(l.buf[:i], "\r")))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a runaway line: keep the start of it
		l.addLocked(string(l.buf[:4096]))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineLog) addLocked(line string) {
	if len(l.kept) == l.max {
		copy(l.kept, l.kept[1:])
		l.kept = l.kept[:l.max-1]
	}
	l.kept = append(l.kept, line)
	if !l.readySeen && isReadyLine(line) {
		l.readySeen = true
		close(l.ready)
	}
}

// lines returns the kept lines and any unfinished last line.
func (l *lineLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.kept...)
	if len(l.buf) > 0 {
		out = append(out, string(l.buf))
	}
	return out
}

// tail formats the last n lines for an error message.
func (l *lineLog) tail(n int) string {
	lines := l.lines()
	if len(lines) == 0 {
		return ""
	}
	lines = lines[max(0, len(lines)-n):]
	return "\n\t" + strings.Join(lines, "\n\t")
}

// isReadyLine reports whether a stderr line announces that the server is
// ready: the word alone, or as a log record's message.
func isReadyLine(line string) bool {
	for _, f := range strings.Fields(line) {
		if f == "ready" || f == "msg=ready" || f == `"msg":"ready"` || f == `"msg":"ready",` {
			return true
		}
	}
	return false
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
