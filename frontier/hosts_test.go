package frontier

import (
	"testing"
)

// TestForgetAndIdle: Forget drops what a host has queued, in memory and
// counted in the Store, lets its URL in flight finish, and the host is Idle
// once that is done; other hosts are untouched.
func TestForgetAndIdle(t *testing.T) {
	store := newMemStore()
	q := New(Config{Window: 2, PerHost: 4}, nil, store)
	if !q.Idle("a.test") {
		t.Fatal("a host never seen is not Idle")
	}
	for _, it := range store.commit(Item{URL: "http://a.test/1", Host: "a.test"}, Item{URL: "http://a.test/2", Host: "a.test"},
		Item{URL: "http://a.test/3", Host: "a.test"}, Item{URL: "http://b.test/1", Host: "b.test"}) {
		q.Push(it) // a.test's third is counted in the Store (Window 2)
	}
	it, err := q.Next(t.Context())
	if err != nil || it.Host != "a.test" {
		t.Fatalf("Next = %+v, %v; want a.test's first", it, err)
	}
	q.Forget("a.test")
	if q.Idle("a.test") {
		t.Error("a.test is Idle with a URL in flight")
	}
	if st := q.Stats(); st.Queued != 1 || st.Stored != 0 || st.InFlight != 1 {
		t.Errorf("after Forget: %+v, want b.test's one queued, a.test's one in flight", st)
	}
	q.Done(it)
	if !q.Idle("a.test") {
		t.Error("a.test is not Idle once its URL in flight is done")
	}
	next, err := q.Next(t.Context())
	if err != nil || next.Host != "b.test" {
		t.Fatalf("Next = %+v, %v; want b.test's, the only one left", next, err)
	}
	if q.Idle("b.test") {
		t.Error("b.test is Idle with a URL in flight")
	}
	q.Forget("c.test") // a host it never had: nothing happens
}
