package aggregate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// slot is what one backend goroutine hands back. The goroutine writes it
// and then sends its index on the fan-out's done channel; the fan-out reads
// it only after that receive, and never reads the slot of a call still
// running at the deadline.
type slot struct {
	phase   atomic.Int32 // what the call is doing: a phase constant, read by the fan-out at the deadline
	report  BackendReport
	data    []byte    // OK only: what members index (*buf, or *out when shaped)
	members []member  // OK only: what the backend contributes
	buf     *[]byte   // the body, pooled; released after the merge
	out     *[]byte   // the shaped object, pooled; nil without shaping rules
	mems    *[]member // members' storage, pooled
}

// What a backend call is doing, to say what it was doing when the deadline
// passed.
const (
	phaseStarting = iota
	phaseSlot
	phaseRate
	phaseCall
	phaseBody
	phaseShape
	phaseShared // a follower waiting for the identical request in flight
)

// phaseName describes a phase in reports.
func phaseName(phase int32) string {
	switch phase {
	case phaseSlot:
		return "waiting for a max_concurrent slot"
	case phaseRate:
		return "waiting for the rate limit"
	case phaseCall:
		return "waiting for the response"
	case phaseBody:
		return "reading the body"
	case phaseShape:
		return "merging"
	case phaseShared:
		return "waiting for the identical request in flight"
	default:
		return "starting"
	}
}

// errBodyTooLarge stops reading a body longer than the backend's MaxBody.
var errBodyTooLarge = errors.New("body too large")

// do serves one request: from the cache, by joining an identical request in
// flight, or by fanning out.
func (a *Aggregator) do(ctx context.Context, req *Request) *Result {
	c := a.ep
	start := time.Now()
	dl, cause := start.Add(c.timeout), c.deadlineCause
	short := false // the caller's deadline is well before the endpoint's
	if d, ok := ctx.Deadline(); ok && !d.After(dl) {
		// A caller that set the endpoint's timeout itself, just before Do,
		// has it a little early: still the endpoint's deadline.
		dl = d
		if short = d.Before(start.Add(c.timeout - c.timeout/20)); short {
			cause = c.callerDeadlineCause
		}
	}
	// Upstreams get the budget less the margin, which covers the merge,
	// the write and a timer firing late on a loaded machine, so that the
	// answer leaves by the deadline.
	dl = dl.Add(-c.margin)
	var key string
	if a.cache != nil || c.coalesce {
		key = c.key(req)
	}
	if a.cache != nil {
		if e, ok := a.cache.Get(key); ok && start.Before(e.expires) {
			return &Result{Body: e.body, Complete: true, Backends: e.reports, Cached: true}
		}
	}
	if !c.coalesce {
		return a.fanOutAlone(ctx, req, key, start, dl, cause)
	}

	a.mu.Lock()
	if f, ok := a.flights[key]; ok {
		if f.done == nil {
			f.done = make(chan struct{})
		}
		done := f.done
		f.waiters++
		a.mu.Unlock()
		select {
		case <-done:
			shared := *f.res
			shared.Shared = true
			return &shared
		case <-ctx.Done():
			a.leave(key, f) // the flight goes on for the others, within its deadline
			return a.assemble(ctx, nil, nil, start)
		}
	}
	if short {
		// A flight ends by its leader's deadline: one this early would cut
		// the requests joining it short.
		a.mu.Unlock()
		return a.fanOutAlone(ctx, req, key, start, dl, cause)
	}
	// Lead a new flight. The fan-out serves everyone who joins it, so the
	// leader's cancellation ends it only when nobody else waits.
	fctx, cancel := context.WithDeadlineCause(context.WithoutCancel(ctx), dl, cause)
	defer cancel() // cancels the stragglers' requests
	f := &flight{cancel: cancel, waiters: 1}
	if a.flights == nil {
		a.flights = make(map[string]*flight)
	}
	a.flights[key] = f
	a.mu.Unlock()
	res := a.fanOut(fctx, req, key, start, ctx, f, nil)
	a.mu.Lock()
	if a.flights[key] == f {
		delete(a.flights, key)
	}
	f.res = res
	if f.done != nil {
		close(f.done)
	}
	a.mu.Unlock()
	return res
}

// fanOutAlone fans out for this caller only.
func (a *Aggregator) fanOutAlone(ctx context.Context, req *Request, key string, start, dl time.Time, cause error) *Result {
	fctx, cancel := context.WithDeadlineCause(context.WithoutCancel(ctx), dl, cause)
	defer cancel() // cancels the stragglers' requests
	return a.fanOut(fctx, req, key, start, ctx, nil, cancel)
}

// flight is one fan-out shared by identical concurrent requests (the same
// key). Its leader runs it; the others wait for done or leave at their own
// deadline.
type flight struct {
	cancel context.CancelFunc // ends the fan-out early once nobody waits for it

	// guarded by Aggregator.mu:
	waiters int           // callers waiting, the leader included
	done    chan struct{} // made by the first follower; closed by the leader once res is set
	res     *Result       // set by the leader before done is closed
}

// leave records that a caller of f stopped waiting. The last one cancels
// it, and takes it off the map so that a later identical request starts a
// fresh one instead of joining a cancelled one.
func (a *Aggregator) leave(key string, f *flight) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f.waiters--; f.waiters == 0 {
		f.cancel()
		if a.flights[key] == f {
			delete(a.flights, key)
		}
	}
}

// fanOut calls every backend and merges what arrived by ctx's deadline. It
// returns by then (plus the merge) whatever the backends do; the caller
// cancels ctx afterwards, which ends the calls still running, and nobody
// waits for them. ctx carries the deadline but not the caller's
// cancellation, so that the deadline's cause is always ctx's own: fanOut
// watches caller instead, and if it is cancelled (its client went away)
// before the deadline, leaves flight f when leading one, else calls cancel.
func (a *Aggregator) fanOut(ctx context.Context, req *Request, key string, start time.Time, caller context.Context, f *flight, cancel context.CancelFunc) *Result {
	c := a.ep
	n := len(c.backends)
	slots := make([]slot, n)
	done := make(chan int, n) // buffered for every sender: a straggler never blocks
	var rid []string
	if req.RequestID != "" {
		rid = []string{req.RequestID} // shared by the requests, which only read it
	}
	for i, b := range c.backends {
		s := &slots[i]
		bctx, bcancel := ctx, context.CancelFunc(nil)
		if b.timeout > 0 {
			bctx, bcancel = context.WithTimeoutCause(ctx, b.timeout, b.cause)
		}
		// Build the request here, so that no goroutine reads req after Do.
		hreq, err := b.newRequest(bctx, req, rid)
		if err != nil {
			s.report = BackendReport{Name: b.name, Outcome: Failed, Error: err.Error(), Required: b.required}
			done <- i
			if bcancel != nil {
				bcancel()
			}
			continue
		}
		a.calls.Go(func() {
			if bcancel != nil {
				defer bcancel()
			}
			a.call(bctx, b, hreq, s, start)
			done <- i
		})
	}

	var arrivedBuf [16]bool
	arrived := arrivedBuf[:0]
	if n > len(arrivedBuf) {
		arrived = make([]bool, 0, n)
	}
	arrived = arrived[:n]
	left := caller.Done()
	got := 0
wait:
	for got < n {
		select {
		case i := <-done:
			arrived[i] = true
			got++
		case <-left:
			left = nil
			// The caller's deadline is ctx's too (or later), which ends the
			// fan-out as a timeout; only a caller that went away leaves.
			switch {
			case errors.Is(caller.Err(), context.DeadlineExceeded):
			case f != nil:
				a.leave(key, f)
			default:
				cancel()
			}
		case <-ctx.Done():
			for { // take what finished at the same moment
				select {
				case i := <-done:
					arrived[i] = true
					got++
				default:
					break wait
				}
			}
		}
	}
	res := a.assemble(ctx, slots, arrived, start)
	for i := range slots {
		if arrived[i] {
			a.release(&slots[i])
		}
	}
	if res.Complete && a.cache != nil {
		a.cache.Add(key, cacheEntry{body: res.Body, reports: res.Backends, expires: time.Now().Add(c.cacheTTL)})
	}
	return res
}

// call makes one backend call and fills s. It returns once the call ended,
// which the context (cancelled at the deadline) bounds.
func (a *Aggregator) call(ctx context.Context, b *backend, hreq *http.Request, s *slot, start time.Time) {
	r := &s.report
	r.Name, r.Required = b.name, b.required
	defer func() { r.Latency = time.Since(start) }()
	if b.sem != nil {
		s.phase.Store(phaseSlot)
		select {
		case b.sem <- struct{}{}:
			defer func() { <-b.sem }()
		case <-ctx.Done():
			ctxOutcome(ctx, r, phaseSlot)
			return
		}
	}
	if b.lim != nil {
		s.phase.Store(phaseRate)
		if err := b.lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				ctxOutcome(ctx, r, phaseRate)
			} else {
				r.Outcome, r.Error = Timeout, "waiting for the rate limit: no turn before the deadline"
			}
			return
		}
	}
	s.phase.Store(phaseCall)
	resp, err := a.roundTrip(hreq)
	if err != nil {
		if ctx.Err() != nil {
			ctxOutcome(ctx, r, phaseCall)
			return
		}
		r.Outcome, r.Error = Failed, callError(err)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			r.Outcome = Timeout
		}
		return
	}
	r.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.Outcome, r.Error = Failed, "status "+strconv.Itoa(resp.StatusCode)
		discard(resp.Body)
		return
	}
	if ct := resp.Header.Get("Content-Type"); !jsonContentType(ct) {
		r.Outcome, r.Error = Invalid, "content type "+strconv.Quote(ct)+" is not JSON"
		discard(resp.Body)
		return
	}
	if resp.ContentLength > b.maxBody {
		r.Outcome, r.Error = Invalid, "body exceeds "+strconv.FormatInt(b.maxBody, 10)+" bytes"
		_ = resp.Body.Close()
		return
	}
	s.phase.Store(phaseBody)
	s.buf = a.getBuf()
	body, err := readBody(resp.Body, (*s.buf)[:0], b.maxBody, resp.ContentLength)
	_ = resp.Body.Close()
	*s.buf = body
	switch {
	case errors.Is(err, errBodyTooLarge):
		r.Outcome, r.Error = Invalid, "body exceeds "+strconv.FormatInt(b.maxBody, 10)+" bytes"
		return
	case err != nil && ctx.Err() != nil:
		ctxOutcome(ctx, r, phaseBody)
		return
	case err != nil:
		r.Outcome, r.Error = Failed, "reading the body: "+err.Error()
		return
	}
	s.phase.Store(phaseShape)
	s.mems = a.getMems()
	var out []byte
	if b.shaped {
		s.out = a.getBuf()
		out = *s.out
	}
	data, ms, out, err := b.shape(body, (*s.mems)[:0], out)
	*s.mems = ms
	if s.out != nil {
		*s.out = out
	}
	if err != nil {
		r.Outcome, r.Error = Invalid, err.Error()
		return
	}
	s.data, s.members = data, ms
	r.Outcome = OK
}

// roundTrip sends hreq through the client, which follows a redirect to its
// Location (by the client's policy) and never sends the first request again.
func (a *Aggregator) roundTrip(hreq *http.Request) (*http.Response, error) {
	return a.client.Do(hreq)
}

// ctxOutcome reports a call ended by its context during phase: a timeout
// when a deadline passed (saying whose), else a failure.
func ctxOutcome(ctx context.Context, r *BackendReport, phase int32) {
	during := phaseName(phase)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.Outcome, r.Error = Timeout, during+": "+context.Cause(ctx).Error()
		return
	}
	cause := context.Cause(ctx)
	if cause == context.Canceled {
		cause = errCancelled
	}
	r.Outcome, r.Error = Failed, during+": "+cause.Error()
}

// errCancelled reports a call cancelled because its caller left.
var errCancelled = errors.New("request cancelled")

// callError describes a transport error without the upstream URL, which
// the client need not see.
func callError(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// readBody reads r into buf (reusing its capacity) up to limit bytes; a
// longer body gives errBodyTooLarge. size is the Content-Length, or -1.
func readBody(r io.Reader, buf []byte, limit, size int64) ([]byte, error) {
	if size >= 0 && int64(cap(buf)) < size+1 {
		buf = slices.Grow(buf, int(size)+1) // +1: room to read the EOF
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(512, len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// discard reads a little of an unwanted body, so that a short one leaves
// the connection reusable, and closes it.
func discard(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 4<<10)
	_ = body.Close()
}

// jsonContentType reports whether a Content-Type is JSON: application/json
// or a +json type, any parameters. A missing one is accepted, since the body
// is validated anyway.
func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") ||
		len(mt) > len("+json") && strings.EqualFold(mt[len(mt)-len("+json"):], "+json")
}

// newRequest builds the GET request for b from the client's request.
func (b *backend) newRequest(ctx context.Context, req *Request, rid []string) (*http.Request, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url(req), nil)
	if err != nil {
		return nil, err
	}
	if rid != nil {
		hreq.Header["X-Request-Id"] = rid
	}
	for _, h := range b.headers {
		if v := req.Header[h]; len(v) > 0 {
			hreq.Header[h] = v // shared: the transport only reads it
		}
	}
	return hreq, nil
}

// url fills the backend's URL template from the request.
func (b *backend) url(req *Request) string {
	if len(b.parts) == 1 && b.parts[0].name == "" && len(b.extraQuery) == 0 {
		return b.parts[0].lit
	}
	var arr [256]byte
	u := arr[:0]
	for _, p := range b.parts {
		switch {
		case p.name == "":
			u = append(u, p.lit...)
		case p.inQuery:
			u = append(u, url.QueryEscape(b.value(req, p))...)
		case p.catchAll:
			u = appendPathSegments(u, req.Params[p.name])
		default:
			u = appendPathSegment(u, b.value(req, p))
		}
	}
	sep := byte('?')
	if b.hasQuery {
		sep = '&'
		if c := u[len(u)-1]; c == '?' || c == '&' {
			sep = 0
		}
	}
	for _, q := range b.extraQuery {
		for _, v := range req.Query[q] {
			if sep != 0 {
				u = append(u, sep)
			}
			sep = '&'
			u = append(append(append(u, url.QueryEscape(q)...), '='), url.QueryEscape(v)...)
		}
	}
	return string(u)
}

func (b *backend) value(req *Request, p tpart) string {
	if p.fromPath {
		return req.Params[p.name]
	}
	return req.Query.Get(p.name)
}

// appendPathSegment appends v path-escaped, slashes included; "." and ".."
// are escaped too, so that a value cannot climb the upstream's path.
func appendPathSegment(dst []byte, v string) []byte {
	switch v {
	case ".":
		return append(dst, "%2E"...)
	case "..":
		return append(dst, "%2E%2E"...)
	}
	return append(dst, url.PathEscape(v)...)
}

// appendPathSegments appends a catch-all value, keeping its slashes and
// escaping each segment.
func appendPathSegments(dst []byte, v string) []byte {
	for i := 0; ; i++ {
		seg, rest, more := strings.Cut(v, "/")
		if i > 0 || seg != "" {
			dst = appendPathSegment(dst, seg)
		}
		if !more {
			return dst
		}
		dst = append(dst, '/')
		v = rest
	}
}

// assemble merges the arrived slots in configuration order and reports
// every backend; the others are reported by ctx's state. slots is nil for a
// follower that left a shared fan-out before it ended.
func (a *Aggregator) assemble(ctx context.Context, slots []slot, arrived []bool, start time.Time) *Result {
	c := a.ep
	reports := make([]BackendReport, len(c.backends))
	complete := true
	size, count := 2, 1
	for i, b := range c.backends {
		r := &reports[i]
		if slots != nil && arrived[i] {
			*r = slots[i].report
			for j := range slots[i].members {
				m := &slots[i].members[j]
				size += len(b.memberKey(slots[i].data, m)) + m.valEnd - m.valOff + 2
			}
			count += len(slots[i].members)
		} else {
			*r = BackendReport{Name: b.name, Required: b.required, Latency: time.Since(start)}
			phase := int32(phaseShared)
			if slots != nil {
				phase = slots[i].phase.Load()
			}
			ctxOutcome(ctx, r, phase)
		}
		if r.Outcome != OK {
			complete = false
			if a.log.Enabled(ctx, slog.LevelDebug) {
				a.log.LogAttrs(ctx, slog.LevelDebug, "backend failed",
					slog.String("endpoint", c.path), slog.String("upstream", r.Name),
					slog.String("outcome", string(r.Outcome)), slog.Int("status", r.Status),
					slog.Duration("elapsed", r.Latency), slog.String("err", r.Error))
			}
		}
	}
	if c.reportKey != nil {
		size += len(c.reportKey) + 2 + 96*len(reports)
	}
	body := make([]byte, 1, size)
	body[0] = '{'
	t := a.getTable()
	t.reset(c.seed, count)
	// A name's ref is slot<<32 | member; the report key's is all ones.
	const reportRef = 1<<64 - 2
	nameOf := func(ref uint64) []byte {
		if ref == reportRef {
			return c.reportRaw
		}
		i, j := ref>>32, ref&(1<<32-1)
		return c.backends[i].memberName(slots[i].data, &slots[i].members[j])
	}
	if c.reportKey != nil {
		t.add(c.reportRaw, reportRef, nameOf) // reserved: the report wins
	}
	first := true
	for i := range slots {
		if !arrived[i] {
			continue
		}
		b, data := c.backends[i], slots[i].data
		for j := range slots[i].members {
			m := &slots[i].members[j]
			if !t.add(b.memberName(data, m), uint64(i)<<32|uint64(j), nameOf) {
				continue // an earlier backend (or member) has it
			}
			if !first {
				body = append(body, ',')
			}
			first = false
			body = append(append(append(body, b.memberKey(data, m)...), ':'), data[m.valOff:m.valEnd]...)
		}
	}
	a.putTable(t)
	if c.reportKey != nil {
		if !first {
			body = append(body, ',')
		}
		body = appendReports(append(append(body, c.reportKey...), ':'), reports)
	}
	body = append(body, '}')
	return &Result{Body: body, Complete: complete, Backends: reports}
}
