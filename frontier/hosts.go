package frontier

// What a crawl that shares its Store with other processes needs: it holds
// some hosts (package crawl leases them), and must know when one of them
// has nothing left here, and drop one it no longer holds.

// Idle reports whether host has nothing here: nothing queued in memory or
// counted in the Store, nothing in flight, no lease from the Store running.
func (q *Queue) Idle(host string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.hosts[host]
	return !ok
}

// Forget drops what host has queued, in memory and counted in the Store: it
// is not this Queue's to hand out any more (the Store keeps its URLs). URLs
// of host in flight finish as usual.
func (q *Queue) Forget(host string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h, ok := q.hosts[host]
	if !ok {
		return
	}
	q.queued -= len(h.fresh) + len(h.retry)
	q.retries -= len(h.retry)
	q.stored -= h.stored
	h.fresh, h.retry, h.stored = nil, nil, 0
	q.updateLocked(h)
	q.broadcastLocked()
}
