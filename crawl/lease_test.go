package crawl

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"
)

// TestLeaseGuardStopsFetchBeforeLapse: a fetch on a host of a fleet's lease
// is stopped before the State's lease of it could lapse (a renewal's start
// plus the lease; here 30 s), unless renewals push that moment back, and at
// once when the lease is lost to another worker; a fetch that ends in time
// is left alone. Without the guard, a fetch started just before the renewals
// failed could run on into the next holder's first requests.
func TestLeaseGuardStopsFetchBeforeLapse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &leases{ttl: 30 * time.Second, log: slog.New(slog.DiscardHandler),
			held: map[string]time.Time{}, inflight: map[string]map[*guard]struct{}{}}
		renew := func(host string) { // a renewal that started now
			ls.mu.Lock()
			ls.held[host] = time.Now().Add(ls.localTTL())
			ls.mu.Unlock()
		}
		renew("a.test")
		start := time.Now()

		// No renewal: stopped at the renewal's start + 27 s, before the
		// State's lease ends at + 30 s.
		ctx, done := ls.guard(t.Context(), "a.test")
		defer done()
		<-ctx.Done()
		if got := time.Since(start); got != 27*time.Second || !errors.Is(context.Cause(ctx), errLeaseLapsed) {
			t.Errorf("without renewal: stopped after %v, cause %v; want 27s, %v", got, context.Cause(ctx), errLeaseLapsed)
		}

		// A 5 s lease: stopped a second (not half of one) before it ends.
		ls.ttl = 5 * time.Second
		renew("d.test")
		start = time.Now()
		ctx, done = ls.guard(t.Context(), "d.test")
		defer done()
		<-ctx.Done()
		if got := time.Since(start); got != 4*time.Second {
			t.Errorf("5 s lease without renewal: stopped after %v, want 4s", got)
		}
		ls.ttl = 30 * time.Second

		// Renewed every 10 s: a 100 s fetch runs to its end.
		renew("b.test")
		ctx, done = ls.guard(t.Context(), "b.test")
		for range 10 {
			time.Sleep(10 * time.Second)
			renew("b.test")
		}
		synctest.Wait()
		if ctx.Err() != nil {
			t.Errorf("renewed: the fetch was stopped (%v)", context.Cause(ctx))
		}
		done()

		// Lost to another worker: stopped at once.
		ctx, done = ls.guard(t.Context(), "b.test")
		defer done()
		ls.mu.Lock()
		delete(ls.held, "b.test")
		ls.cutLocked("b.test")
		ls.mu.Unlock()
		synctest.Wait()
		if !errors.Is(context.Cause(ctx), errLeaseLapsed) {
			t.Errorf("lost: cause %v, want %v", context.Cause(ctx), errLeaseLapsed)
		}

		// A host not held: stopped before it starts.
		ctx, done = ls.guard(t.Context(), "c.test")
		defer done()
		if !errors.Is(context.Cause(ctx), errLeaseLapsed) {
			t.Errorf("not held: cause %v, want %v", context.Cause(ctx), errLeaseLapsed)
		}
		ls.mu.Lock()
		n := len(ls.inflight)
		ls.mu.Unlock()
		if n != 0 {
			t.Errorf("%d hosts still watched after every fetch ended", n)
		}
	})
}
