package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// errBodyTooLarge stops reading a body longer than the backend's MaxBody.
var errBodyTooLarge = errors.New("body too large")

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

// attempt sends hreq and reads the answer. ctx is the call's: when it has
// ended, the answer is its timeout or cancellation (hreq's own context may
// be one that follows it).
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
// the budget allows, the same request again; the first good answer wins. A
// call that fails is answered by the other, if one was sent. Each call runs
// in a goroutine of its own, tracked by a.calls.
//
// The loser is not cancelled but left to finish into a discard (see
// hedgeCall): over HTTP/1.1 a cancelled request closes its connection, and
// the next call dials a new one, which cost more CPU than the extra calls
// themselves. It is bounded by ctx's deadline and the backend's MaxBody.
// With max_concurrent the loser is cancelled, as the slots are counted per
// call in flight.
func (a *Aggregator) hedged(ctx context.Context, b *backend, hreq *http.Request, s *slot) answer {
	h := b.hedge
	h.call()
	wait := h.after()
	results := make(chan hedgeResult, 2) // buffered for both calls: the loser never blocks
	var (
		decided atomic.Bool // the answer is chosen: a call still running is the loser
		calls   [2]*hedgeCall
	)
	send := func(idx int, req func(context.Context) *http.Request) {
		c := newHedgeCall(ctx, &decided)
		calls[idx] = c
		r, t0 := req(c.ctx), time.Now()
		a.calls.Go(func() {
			ans := a.attempt(ctx, b, r, s)
			c.end()
			if idx == 0 {
				// Only the first call's latency is observed: a second call
				// cut short because the first won ran for less than the
				// backend takes, and would pull the percentile, and so the
				// delay, down.
				h.observe(time.Since(t0))
			}
			if decided.Load() {
				a.discard(&ans) // lost: nobody reads it
				return
			}
			results <- hedgeResult{ans, idx}
		})
	}
	send(0, hreq.WithContext)
	defer func() {
		decided.Store(true)
		for _, c := range calls {
			if c != nil {
				c.lose(ctx, b.sem != nil)
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
				ans.hedged = calls[1] != nil
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
			pending++
			send(1, hreq.Clone)
		}
	}
}

// hedgeResult is one hedged call's answer, and which call it was.
type hedgeResult struct {
	ans answer
	idx int
}

// hedgeCall is one call of a hedged pair. Its context ends with the
// fan-out's (ctx), with the same cause, while the answer is open; once the
// answer is chosen, the end of ctx (the fan-out returning) no longer cuts a
// call still running, the loser: it reads its answer and drops it, so that
// its connection goes back to the pool, until ctx's deadline at the latest.
type hedgeCall struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   func() bool                // unregisters the cancellation by ctx
	timer  atomic.Pointer[time.Timer] // the loser's deadline, once it has lost
	ended  atomic.Bool
}

// newHedgeCall returns a call whose context follows ctx while decided is
// false.
func newHedgeCall(ctx context.Context, decided *atomic.Bool) *hedgeCall {
	c := &hedgeCall{}
	c.ctx, c.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	c.stop = context.AfterFunc(ctx, func() {
		if !decided.Load() || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.cancel(context.Cause(ctx))
		}
	})
	return c
}

// end releases what the call holds once it has ended.
func (c *hedgeCall) end() {
	c.ended.Store(true)
	c.stop()
	if t := c.timer.Load(); t != nil {
		t.Stop()
	}
	c.cancel(nil)
}

// lose marks a call that did not give the answer: cut at once when cut is
// set or ctx has ended, else left to run until ctx's deadline.
func (c *hedgeCall) lose(ctx context.Context, cut bool) {
	if c.ended.Load() {
		return
	}
	dl, ok := ctx.Deadline()
	if cut || !ok || ctx.Err() != nil {
		c.cancel(errHedgeLost)
		return
	}
	c.timer.Store(time.AfterFunc(time.Until(dl), func() { c.cancel(errHedgeLost) }))
	if c.ended.Load() { // ended meanwhile: end may have missed the timer
		c.timer.Load().Stop()
	}
}

// errHedgeLost ends a hedged call whose pair has answered.
var errHedgeLost = errors.New("the other hedged call answered")

// discard drops a lost call's answer, its body buffer back to the pool.
func (a *Aggregator) discard(ans *answer) {
	if ans.buf != nil && cap(*ans.buf) <= maxPooledBody {
		*ans.buf = (*ans.buf)[:0]
		a.bufs.Put(ans.buf)
	}
	ans.buf = nil
}

// roundTrip sends hreq. Through a client with a policy of its own (see New)
// it is client.Do. Otherwise the transport sends it, and a redirect is
// followed as http.Client would, once: a new GET for the Location, with the
// same headers but the credentials when it leaves the host, sent through the
// client (which follows any further redirect by its policy). The first
// request is never sent again.
func (a *Aggregator) roundTrip(hreq *http.Request) (*http.Response, error) {
	if a.rt == nil {
		return a.client.Do(hreq)
	}
	resp, err := a.rt.RoundTrip(hreq)
	if err != nil {
		return nil, err
	}
	if resp.Body == nil {
		resp.Body = http.NoBody // as http.Client guarantees
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return resp, nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return resp, nil // nothing to follow: the 3xx is the answer
	}
	next, err := hreq.URL.Parse(loc)
	if err != nil {
		discard(resp.Body)
		return nil, fmt.Errorf("redirect to %q: %w", loc, err)
	}
	discard(resp.Body)
	nreq, err := http.NewRequestWithContext(hreq.Context(), http.MethodGet, next.String(), nil)
	if err != nil {
		return nil, err
	}
	nreq.Header = hreq.Header.Clone()
	if next.Host != hreq.URL.Host {
		for _, h := range []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization"} {
			delete(nreq.Header, h)
		}
	}
	return a.client.Do(nreq)
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
