package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/trace"
)

// slot is what one backend goroutine hands back. The goroutine writes it
// and then sends its index on the fan-out's done channel; the fan-out reads
// it only after that receive, and never reads the slot of a call still
// running at the deadline.
type slot struct {
	phase   atomic.Int32 // what the call is doing: a phase constant, read by the fan-out at the deadline
	report  BackendReport
	data    []byte    // OK only: what members index (*buf, or *out when shaped)
	raw     []byte    // OK only: the body as the upstream sent it (*buf), for the backends that need its fields
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
	phaseDeps   // a chained backend waiting for the answers it needs
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
	case phaseDeps:
		return "waiting for the backends it needs"
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
//
// Backends that need no other start at once; one whose templates use
// other backends' answers starts as soon as the last of those has answered,
// or is reported as skipped when one of them failed.
func (a *Aggregator) fanOut(ctx context.Context, req *Request, key string, start time.Time, caller context.Context, f *flight, cancel context.CancelFunc) *Result {
	c := a.ep
	n := len(c.backends)
	r := fanRun{a: a, ctx: ctx, req: req, began: start, slots: make([]slot, n),
		done: make(chan int, n)} // buffered for every sender: a straggler never blocks
	if req.RequestID != "" {
		r.rid = []string{req.RequestID} // shared by the requests, which only read it
	}
	var arrivedBuf [16]bool
	r.arrived = arrivedBuf[:0]
	if n > len(arrivedBuf) {
		r.arrived = make([]bool, 0, n)
	}
	r.arrived = r.arrived[:n]
	if c.dependants != nil {
		r.waiting = make([]int, n)
	}
	for i, b := range c.backends {
		if len(b.deps) > 0 {
			r.waiting[i] = len(b.deps)
			r.slots[i].phase.Store(phaseDeps)
			continue
		}
		r.start(i)
	}

	left := caller.Done()
wait:
	for r.got < n {
		select {
		case i := <-r.done:
			r.arrive(i)
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
				case i := <-r.done:
					r.arrived[i] = true
					r.got++
				default:
					break wait
				}
			}
		}
	}
	res := a.assemble(ctx, r.slots, r.arrived, start)
	for i := range r.slots {
		if r.arrived[i] {
			a.release(&r.slots[i])
		}
	}
	if res.Complete && a.cache != nil {
		a.cache.Add(key, cacheEntry{body: res.Body, reports: res.Backends, expires: time.Now().Add(c.cacheTTL)})
	}
	return res
}

// fanRun is one fan-out's state, owned by the goroutine running fanOut.
type fanRun struct {
	a       *Aggregator
	ctx     context.Context // the fan-out's deadline
	req     *Request
	rid     []string  // X-Request-Id's value; nil without
	began   time.Time // Do's start
	slots   []slot    // one per backend: each written by its call's goroutine, read after its index arrives on done
	done    chan int  // buffered for every backend
	arrived []bool
	waiting []int // per backend: the backends it needs that have not answered; nil when none needs another
	got     int   // backends arrived
}

// start starts backend i's call: its goroutine fills slot i and sends i on
// done. A request that cannot be built (a field it needs is missing from an
// earlier answer) ends the backend at once.
func (r *fanRun) start(i int) {
	a, b, s := r.a, r.a.ep.backends[i], &r.slots[i]
	bctx, bcancel := r.ctx, context.CancelFunc(nil)
	if b.timeout > 0 {
		bctx, bcancel = context.WithTimeoutCause(r.ctx, b.timeout, b.cause)
	}
	// Build the request here, so that no goroutine reads req after Do.
	hreq, err := b.newRequest(bctx, r.req, r.rid, r.slots)
	if err != nil {
		s.report = BackendReport{Name: b.name, Outcome: Failed, Error: err.Error(), Required: b.required, Latency: time.Since(r.began)}
		if errors.Is(err, errNeeded) {
			s.report.Outcome = Skipped
		}
		if bcancel != nil {
			bcancel()
		}
		r.done <- i
		return
	}
	var span trace.Span
	if a.tracer != nil {
		span = a.startSpan(r.ctx, b, hreq)
	}
	done, start := r.done, r.began
	a.calls.Go(func() {
		if bcancel != nil {
			defer bcancel()
		}
		a.call(bctx, b, hreq, s, start)
		if span != nil {
			endSpan(span, &s.report)
		}
		done <- i
	})
}

// arrive records that backend i has ended, and starts (or skips) the
// backends that were waiting for it alone.
func (r *fanRun) arrive(i int) {
	r.arrived[i] = true
	r.got++
	if r.waiting == nil {
		return
	}
	for _, j := range r.a.ep.dependants[i] {
		if r.waiting[j]--; r.waiting[j] > 0 {
			continue
		}
		b := r.a.ep.backends[j]
		for _, d := range b.deps {
			if rep := &r.slots[d].report; rep.Outcome != OK {
				// Skipped without a call: its report goes straight to done.
				r.slots[j].report = BackendReport{Name: b.name, Outcome: Skipped, Required: b.required, Latency: time.Since(r.began),
					Error: "needs backend " + rep.Name + ", which ended with " + string(rep.Outcome)}
				r.done <- j
				break
			}
		}
		if r.slots[j].report.Outcome == "" {
			r.start(j)
		}
	}
}

// call makes one backend call and fills s. It returns once the call ended,
// which the context (cancelled at the deadline) bounds.
func (a *Aggregator) call(ctx context.Context, b *backend, hreq *http.Request, s *slot, start time.Time) {
	r := &s.report
	r.Name, r.Required = b.name, b.required
	defer func() { r.Latency = time.Since(start) }()
	if b.breaker != nil {
		done, err := b.breaker.Allow()
		if err != nil {
			r.Outcome, r.Error = CircuitOpen, "circuit breaker open: not called"
			if errors.Is(err, gobreaker.ErrTooManyRequests) {
				r.Outcome, r.Error = CircuitOpen, "circuit breaker half-open, its probes in flight: not called"
			}
			return
		}
		defer func() {
			switch {
			case r.Outcome == OK:
				done(nil)
			case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
				done(errExcluded) // the client left: the backend is not to blame
			default:
				done(errFailed)
			}
		}()
	}
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
	var ans answer
	if b.hedge != nil {
		ans = a.hedged(ctx, b, hreq, s)
	} else {
		ans = a.attempt(ctx, b, hreq, s)
	}
	s.buf = ans.buf
	r.Status, r.Hedged = ans.status, ans.hedged
	if ans.outcome != OK {
		r.Outcome, r.Error = ans.outcome, ans.err
		return
	}
	body := *s.buf
	s.raw = body
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

// answer is how one upstream exchange ended: the status and, when its
// outcome is OK, a JSON body of the right type and size, read in full.
type answer struct {
	outcome Outcome
	err     string // why, when not OK
	status  int
	buf     *[]byte // the body, pooled; may be nil when not OK
	hedged  bool    // a second call was sent
}

// attempt sends hreq and reads the answer.
func (a *Aggregator) attempt(ctx context.Context, b *backend, hreq *http.Request, s *slot) answer {
	s.phase.Store(phaseCall)
	resp, err := a.roundTrip(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return ctxAnswer(ctx, phaseCall)
		}
		ans := answer{outcome: Failed, err: callError(err)}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			ans.outcome = Timeout
		}
		return ans
	}
	ans := answer{status: resp.StatusCode}
	switch ct := resp.Header.Get("Content-Type"); {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		ans.outcome, ans.err = Failed, "status "+strconv.Itoa(resp.StatusCode)
		discard(resp.Body)
		return ans
	case !jsonContentType(ct):
		ans.outcome, ans.err = Invalid, "content type "+strconv.Quote(ct)+" is not JSON"
		discard(resp.Body)
		return ans
	case resp.ContentLength > b.maxBody:
		ans.outcome, ans.err = Invalid, "body exceeds "+strconv.FormatInt(b.maxBody, 10)+" bytes"
		_ = resp.Body.Close()
		return ans
	}
	s.phase.Store(phaseBody)
	ans.buf = a.getBuf()
	body, err := readBody(resp.Body, (*ans.buf)[:0], b.maxBody, resp.ContentLength)
	_ = resp.Body.Close()
	*ans.buf = body
	switch {
	case errors.Is(err, errBodyTooLarge):
		ans.outcome, ans.err = Invalid, "body exceeds "+strconv.FormatInt(b.maxBody, 10)+" bytes"
	case err != nil && ctx.Err() != nil:
		c := ctxAnswer(ctx, phaseBody)
		ans.outcome, ans.err = c.outcome, c.err
	case err != nil:
		ans.outcome, ans.err = Failed, "reading the body: "+err.Error()
	default:
		ans.outcome = OK
	}
	return ans
}

// hedged sends hreq and, if no answer has come after the hedge delay and
// the budget allows, the same request again; the first good answer wins
// and the other call is cancelled. A call that fails is answered by the
// other, if one was sent. Each call runs in a goroutine of its own, tracked
// by a.calls.
func (a *Aggregator) hedged(ctx context.Context, b *backend, hreq *http.Request, s *slot) answer {
	h := b.hedge
	h.call()
	wait := h.after()
	type result struct {
		ans answer
		idx int
	}
	results := make(chan result, 2) // buffered for both calls: the loser never blocks
	var cancels [2]context.CancelFunc
	send := func(idx int, req *http.Request, cctx context.Context) {
		t0 := time.Now()
		a.calls.Go(func() {
			ans := a.attempt(cctx, b, req, s)
			h.observe(time.Since(t0))
			results <- result{ans, idx}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancels[0] = cancel
	send(0, hreq.WithContext(cctx), cctx)
	defer func() {
		for _, c := range cancels {
			if c != nil {
				c() // the loser, if any, is cut short
			}
		}
	}()

	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	var first *answer
	pending := 1
	for {
		select {
		case r := <-results:
			pending--
			if r.ans.outcome == OK || pending == 0 {
				ans := r.ans
				if first != nil && ans.outcome != OK {
					ans = *first // both failed: the first failure explains it
				}
				ans.hedged = cancels[1] != nil
				return ans
			}
			first = &r.ans // the other call may still answer
			timer = nil
		case <-timer:
			timer = nil
			if !h.allow() {
				continue
			}
			if b.sem != nil { // a second call takes a slot too, or is not sent
				select {
				case b.sem <- struct{}{}:
					defer func() { <-b.sem }()
				default:
					continue
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			cancels[1] = cancel
			pending++
			send(1, hreq.Clone(cctx), cctx)
		}
	}
}

// roundTrip sends hreq through the client, which follows a redirect to its
// Location (by the client's policy) and never sends the first request again.
func (a *Aggregator) roundTrip(hreq *http.Request) (*http.Response, error) {
	return a.client.Do(hreq)
}

// ctxAnswer is the answer of a call ended by its context during phase.
func ctxAnswer(ctx context.Context, phase int32) answer {
	var r BackendReport
	ctxOutcome(ctx, &r, phase)
	return answer{outcome: r.Outcome, err: r.Error}
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

// errNeeded marks a request that could not be built because an answer it
// needs lacks a field: the backend is skipped.
var errNeeded = errors.New("a field it needs is missing")

// newRequest builds the GET request for b from the client's request and,
// for a chained backend, the answers in slots.
func (b *backend) newRequest(ctx context.Context, req *Request, rid []string, slots []slot) (*http.Request, error) {
	u, err := b.url(req, slots)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
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
	for _, h := range b.setHeaders {
		var v []byte
		for i := range h.parts {
			p := &h.parts[i]
			switch {
			case p.name == "":
				v = append(v, p.lit...)
			case p.fromDep:
				f, err := slots[p.dep].field(p)
				if err != nil {
					return nil, err
				}
				v = append(v, f...)
			default:
				v = append(v, b.value(req, *p)...)
			}
		}
		if !validHeaderValue(v) {
			return nil, fmt.Errorf("header %s: value %q is not one line of text", h.name, v)
		}
		hreq.Header[h.name] = []string{string(v)}
	}
	return hreq, nil
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters but tab.
func validHeaderValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// url fills the backend's URL template from the request and, for a chained
// backend, the answers in slots.
func (b *backend) url(req *Request, slots []slot) (string, error) {
	if len(b.parts) == 1 && b.parts[0].name == "" && len(b.extraQuery) == 0 {
		return b.parts[0].lit, nil
	}
	var arr [256]byte
	u := arr[:0]
	for i := range b.parts {
		p := &b.parts[i]
		v := ""
		switch {
		case p.name == "":
			u = append(u, p.lit...)
			continue
		case p.fromDep:
			f, err := slots[p.dep].field(p)
			if err != nil {
				return "", err
			}
			v = string(f)
		case p.catchAll:
			u = appendPathSegments(u, req.Params[p.name])
			continue
		default:
			v = b.value(req, *p)
		}
		if p.inQuery {
			u = append(u, url.QueryEscape(v)...)
		} else {
			u = appendPathSegment(u, v)
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
	return string(u), nil
}

// field returns the value of placeholder p's field in this slot's answer:
// a string's text, or a number or boolean as written; errNeeded when the
// answer lacks it or it is not such a value.
func (s *slot) field(p *tpart) ([]byte, error) {
	data := s.raw
	ms, vs, _, kind, err := parseTop(data, nil, true)
	for depth, seg := range p.field {
		if err != nil || kind != '{' {
			break
		}
		found := -1
		for i := range ms {
			if m := &ms[i]; bytes.Equal(rawName(data, m), seg) {
				found = i
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("%w: backend %s's answer has no field %s", errNeeded, s.report.Name, bytes.Join(p.field[:depth+1], []byte(".")))
		}
		vs = ms[found].valOff
		kind = data[vs]
		if depth < len(p.field)-1 && kind == '{' {
			ms, _, err = scanMembers(data, vs, ms[:0])
		}
		if depth == len(p.field)-1 {
			return scalarText(data, ms[found].valOff, ms[found].valEnd, s.report.Name, p)
		}
	}
	return nil, fmt.Errorf("%w: backend %s's answer has no field %s", errNeeded, s.report.Name, bytes.Join(p.field, []byte(".")))
}

// rawName returns the unescaped name of a member scanned from data.
func rawName(data []byte, m *member) []byte {
	key := data[m.keyOff:m.keyEnd]
	if m.escaped {
		return unescapeKey(key)
	}
	return key[1 : len(key)-1]
}

// scalarText returns the JSON value data[off:end] as text: a string
// unquoted, a number or boolean as written.
func scalarText(data []byte, off, end int, backend string, p *tpart) ([]byte, error) {
	v := data[off:end]
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case '{', '[', 'n':
		return nil, fmt.Errorf("%w: backend %s's field %s is %s, not a string, number or boolean", errNeeded, backend, bytes.Join(p.field, []byte(".")), kindName(v[0]))
	}
	return v, nil
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
