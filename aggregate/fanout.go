package aggregate

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

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
	arrived bool      // the call has ended and the slot is filled: set by the fan-out's goroutine only
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
	dl = dl.Add(-a.margin())
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
			shared.Shared, shared.buf = true, nil
			return &shared
		case <-ctx.Done():
			a.leave(key, f) // the flight goes on for the others, within its deadline
			return a.assemble(ctx, nil, start)
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
		// Followers read the body too: it is not the leader's to release.
		// (None can join any more: the flight is off the map.)
		res.buf = nil
		close(f.done)
	}
	a.mu.Unlock()
	return res
}

// margin returns how long before the deadline the upstream calls end: the
// endpoint's margin, widened by the time the merge has recently taken after
// a cut (a maximum that decays), by at most the margin again. The cap keeps
// a machine's stalls, which land in the measure too, from cutting the
// upstream calls much earlier than configured.
func (a *Aggregator) margin() time.Duration {
	return a.ep.margin + min(time.Duration(a.merge.Load()), a.ep.margin)
}

// noteMerge records how long a fan-out cut at its deadline took from the
// cut to its result: the value kept is a maximum that decays by an eighth at
// each observation. A timer that fires late is not in it: on a machine that
// stalls now and then, widening the margin by stalls would only cut the
// next requests' upstream calls early.
func (a *Aggregator) noteMerge(d time.Duration) {
	d = max(d, 0)
	for {
		old := a.merge.Load()
		n := max(int64(d), old-old/8)
		if n == old || a.merge.CompareAndSwap(old, n) {
			return
		}
	}
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
	st := a.getRun(n)
	r := fanRun{a: a, ctx: ctx, began: start, slots: st.slots, done: st.done}
	if req.RequestID != "" {
		r.rid = []string{req.RequestID} // shared by the requests, which only read it
	}
	if c.dependants != nil {
		r.waiting = make([]int, n)
	}
	for i, b := range c.backends {
		if len(b.deps) > 0 {
			r.waiting[i] = len(b.deps)
			r.slots[i].phase.Store(phaseDeps)
			continue
		}
		r.start(i, req)
	}

	left := caller.Done()
	var cut time.Time // when the deadline ended the wait; zero when every backend answered
wait:
	for r.got < n {
		select {
		case i := <-r.done:
			r.arrive(i, req)
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
			cut = time.Now()
			for { // take what finished at the same moment
				select {
				case i := <-r.done:
					r.slots[i].arrived = true
					r.got++
				default:
					break wait
				}
			}
		}
	}
	res := a.assemble(ctx, r.slots, start)
	if !cut.IsZero() {
		a.noteMerge(time.Since(cut))
	}
	for i := range r.slots {
		if r.slots[i].arrived {
			a.release(&r.slots[i])
		}
	}
	if r.got == n && a.reuseRuns {
		// Every call has ended and sent its index: no goroutine refers to
		// the slots or the channel any more.
		a.putRun(st)
	}
	if res.Complete && a.cache != nil {
		res.buf = nil // the cache keeps the body
		a.cache.Add(key, cacheEntry{body: res.Body, reports: res.Backends, expires: time.Now().Add(c.cacheTTL)})
	}
	return res
}

// fanRun is one fan-out's state, owned by the goroutine running fanOut.
type fanRun struct {
	a       *Aggregator
	ctx     context.Context // the fan-out's deadline
	rid     []string        // X-Request-Id's value; nil without
	shared  http.Header     // the header of the requests with none of their own (X-Request-Id alone); nil with tracing
	began   time.Time       // Do's start
	slots   []slot          // one per backend: each written by its call's goroutine, read after its index arrives on done
	done    chan int        // buffered for every backend
	waiting []int           // per backend: the backends it needs that have not answered; nil when none needs another
	got     int             // backends arrived
}

// start starts backend i's call: its goroutine fills slot i and sends i on
// done. A request that cannot be built (a field it needs is missing from an
// earlier answer) ends the backend at once.
func (r *fanRun) start(i int, req *Request) {
	a, b, s := r.a, r.a.ep.backends[i], &r.slots[i]
	bctx, bcancel := r.ctx, context.CancelFunc(nil)
	if b.timeout > 0 {
		bctx, bcancel = context.WithTimeoutCause(r.ctx, b.timeout, b.cause)
	}
	// Build the request here, so that no goroutine reads req after Do.
	if r.shared == nil && a.tracer == nil && !b.ownHeader() {
		// One header for every request that carries only X-Request-Id
		// (a span's context makes each request's header its own).
		r.shared = make(http.Header, 1)
		if r.rid != nil {
			r.shared["X-Request-Id"] = r.rid
		}
	}
	hreq, err := b.newRequest(bctx, req, r.rid, r.slots, r.shared)
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
func (r *fanRun) arrive(i int, req *Request) {
	r.slots[i].arrived = true
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
			r.start(j, req)
		}
	}
}
