package frontier

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestHoldKeepsCrawlAlive: URLs on their way to the Store (held) keep Next
// from reporting the end; Starved is asked for them once per dry spell; the
// end comes when they are released.
func TestHoldKeepsCrawlAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var starved atomic.Int32
		q := New(Config{MaxDepth: -1, Starved: func() { starved.Add(1) }}, nil, nil)
		q.Hold(3)
		got := make(chan error, 2)
		for range 2 {
			go func() { _, err := q.Next(t.Context()); got <- err }()
		}
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("Next returned %v while 3 URLs were held", err)
		default:
		}
		if n := starved.Load(); n != 1 {
			t.Fatalf("Starved called %d times by two idle workers, want once", n)
		}
		// The merge found one new URL: it is pushed, the hold released.
		q.Push(item("a", 1))
		q.Release(3)
		synctest.Wait()
		// One worker took the URL; the other waits while it is in flight.
		if err := <-got; err != nil {
			t.Fatalf("a worker got %v, want the pushed URL", err)
		}
		select {
		case err := <-got:
			t.Fatalf("the other worker got %v while a URL was in flight", err)
		default:
		}
		if s := q.Stats(); s.InFlight != 1 || s.Pending != 0 {
			t.Fatalf("Stats = %+v, want 1 in flight, 0 pending", s)
		}
		q.Done(item("a", 1))
		if err := <-got; !errors.Is(err, io.EOF) {
			t.Fatalf("Next = %v after the last Done, want io.EOF", err)
		}
	})
}

// TestStarvedAgainAfterRelease: a merge that found nothing new still lets
// the next dry spell ask again, and the crawl ends once nothing is held.
func TestStarvedAgainAfterRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var starved atomic.Int32
		q := New(Config{MaxDepth: -1, Starved: func() { starved.Add(1) }}, nil, nil)
		q.Hold(2)
		got := make(chan error, 1)
		go func() { _, err := q.Next(t.Context()); got <- err }()
		synctest.Wait()
		q.Release(1) // one known: nothing pushed, one still held
		synctest.Wait()
		if n := starved.Load(); n != 2 {
			t.Fatalf("Starved called %d times, want 2 (once per dry spell)", n)
		}
		q.Release(5) // more than held clamps at zero
		if err := <-got; !errors.Is(err, io.EOF) {
			t.Fatalf("Next = %v after the last release, want io.EOF", err)
		}
	})
}

// TestHoldAfterMaxPages: once MaxPages first attempts were handed out, held
// URLs are for a later run and do not keep the crawl alive.
func TestHoldAfterMaxPages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{MaxDepth: -1, MaxPages: 1}, nil, nil)
		q.Push(item("a", 1))
		it, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		q.Hold(10)
		q.Done(it)
		if _, err := q.Next(t.Context()); !errors.Is(err, io.EOF) {
			t.Fatalf("Next = %v with MaxPages reached and URLs held, want io.EOF", err)
		}
	})
}

// TestStarvedWhileHostBacksOff: a host backed off for 20 s with URLs in
// memory does not hide that the queue is otherwise dry: Starved is asked
// for the held URLs (other hosts') within starveAfter, not after the
// backoff.
func TestStarvedWhileHostBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		starved := make(chan time.Duration, 1)
		start := time.Now()
		q := New(Config{MaxDepth: -1, Starved: func() { starved <- time.Since(start) }}, nil, nil)
		q.Push(item("b", 1))
		q.Push(item("b", 2))
		it, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		q.Retry(it, 20*time.Second) // a 429 with Retry-After: 20
		q.Hold(5)                   // a.test's URLs, on their way to the Store
		go func() { q.Next(t.Context()) }()
		select {
		case at := <-starved:
			if at > time.Second {
				t.Errorf("Starved after %v, want within %v", at, time.Second)
			}
		case <-time.After(19 * time.Second):
			t.Fatal("Starved not called while the only host with URLs in memory was backed off")
		}
		q.Release(5)
	})
}
