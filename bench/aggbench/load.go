package main

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one load: Clients connections, each sending its next request
// as soon as the previous response has been read (closed loop), or paced
// at one request per Interval, for Duration.
type loadSpec struct {
	Addr     string         // host:port of the server under load
	Prefix   string         // request path before the id, e.g. "/users/"
	IDs      *atomic.Uint64 // source of ids: every request asks for a new one
	Clients  int
	Duration time.Duration
	Timeout  time.Duration // per request: a response not read in full by then is an error, and the connection is replaced
	// Interval paces each client: a request starts Interval after the
	// previous one started, or at once if that one took longer. 0 means a
	// closed loop.
	Interval time.Duration
	// Stagger spreads the clients' first requests over this long (client i
	// waits i*Stagger/Clients), so that clients whose requests all take the
	// same time (a deadline) do not answer in lockstep. 0 means all at once.
	Stagger time.Duration
}

// loadResult is what one load measured.
type loadResult struct {
	Requests   int             // responses read in full
	Errors     int             // requests that got no full response (connection errors, timeouts)
	Non2xx     int             // responses with a status outside 200-299
	Incomplete int             // responses whose X-Aggregate-Completed, X-Krakend-Completed or X-Plain-Completed header says false
	Latencies  []time.Duration // of every response, sorted
	Elapsed    time.Duration   // from the start until the last client stopped
	FirstError string          // the first error, for the report
}

// rps returns responses per second.
func (r loadResult) rps() float64 { return ratio(float64(r.Requests), r.Elapsed.Seconds()) }

// clientResult is what one client of a load measured; merged into a
// loadResult at the end, so the clients share nothing while they run.
type clientResult struct {
	requests, errors, non2xx, incomplete int
	latencies                            []time.Duration
	firstError                           string
}

// runLoad drives spec's load and returns what it measured. It stops early,
// with what it has, when ctx ends.
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	results := make([]clientResult, spec.Clients) // one slot per client: no lock
	start := time.Now()
	end := start.Add(spec.Duration)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = loadClient(ctx, spec, i, end) })
	}
	wg.Wait()
	res := loadResult{Elapsed: time.Since(start)}
	n := 0
	for _, c := range results {
		n += len(c.latencies)
	}
	res.Latencies = make([]time.Duration, 0, n)
	for _, c := range results {
		res.Requests += c.requests
		res.Errors += c.errors
		res.Non2xx += c.non2xx
		res.Incomplete += c.incomplete
		res.Latencies = append(res.Latencies, c.latencies...)
		if res.FirstError == "" {
			res.FirstError = c.firstError
		}
	}
	slices.Sort(res.Latencies)
	return res
}

// loadClient is one closed-loop client on its own keep-alive connection. It
// writes HTTP/1.1 requests by hand and reads the responses with
// http.ReadResponse: no transport goroutines, no pool, so that the load
// generator takes as little of the shared CPU as it can.
func loadClient(ctx context.Context, spec loadSpec, client int, end time.Time) clientResult {
	var (
		res  clientResult
		conn net.Conn
		br   *bufio.Reader
		req  = make([]byte, 0, 256)
	)
	res.latencies = make([]time.Duration, 0, 1024)
	fail := func(err error) {
		res.errors++
		if res.firstError == "" {
			res.firstError = err.Error()
		}
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	dialer := net.Dialer{Timeout: spec.Timeout}
	next := time.Now()
	if spec.Stagger > 0 {
		next = next.Add(spec.Stagger * time.Duration(client) / time.Duration(spec.Clients))
	}
	for ctx.Err() == nil {
		if wait := time.Until(next); wait > 0 {
			sleepCtx(ctx, wait)
		}
		if !time.Now().Before(end) || ctx.Err() != nil {
			break
		}
		next = next.Add(spec.Interval)
		if now := time.Now(); next.Before(now) {
			next = now // late: go at once, without a burst to catch up
		}
		if conn == nil {
			c, err := dialer.DialContext(ctx, "tcp", spec.Addr)
			if err != nil {
				fail(err)
				next = time.Now().Add(10 * time.Millisecond) // don't spin on a server that is gone
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		req = append(req[:0], "GET "...)
		req = append(req, spec.Prefix...)
		req = strconv.AppendUint(req, spec.IDs.Add(1), 10)
		req = append(req, " HTTP/1.1\r\nHost: "...)
		req = append(req, spec.Addr...)
		req = append(req, "\r\nUser-Agent: aggbench\r\nAccept: application/json\r\n\r\n"...)

		start := time.Now()
		conn.SetDeadline(start.Add(spec.Timeout))
		if _, err := conn.Write(req); err != nil {
			fail(err)
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			fail(err)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			fail(err)
			continue
		}
		res.latencies = append(res.latencies, time.Since(start))
		res.requests++
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			res.non2xx++
		}
		if resp.Header.Get("X-Aggregate-Completed") == "false" || resp.Header.Get("X-Krakend-Completed") == "false" ||
			resp.Header.Get("X-Plain-Completed") == "false" {
			res.incomplete++
		}
		if resp.Close {
			conn.Close()
			conn = nil
		}
	}
	return res
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// percentile returns the q-quantile (0 < q <= 1) of sorted by the nearest
// rank method, or 0 when sorted is empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// countOver returns how many of sorted exceed limit.
func countOver(sorted []time.Duration, limit time.Duration) int {
	i, _ := slices.BinarySearch(sorted, limit+1)
	return len(sorted) - i
}

// ratio returns a/b, or NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
