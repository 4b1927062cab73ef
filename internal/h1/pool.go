package h1

import (
	"bufio"
	"context"
	"fmt"
	"time"
)

// CloseIdleConnections closes the idle connections, the fallback's too.
// Connections in use now are closed when their exchange ends.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.nidle = make(map[string][]*conn), 0
	t.gen++ // the connections in use now are closed when their exchange ends
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// get returns an idle connection to addr, or dials one (always when fresh).
func (t *Transport) get(ctx context.Context, addr string, fresh bool) (*conn, bool, error) {
	if !fresh {
		now := t.now()
		t.mu.Lock()
		for cs := t.idle[addr]; len(cs) > 0; cs = t.idle[addr] {
			c := cs[len(cs)-1]
			cs[len(cs)-1] = nil
			t.idle[addr] = cs[:len(cs)-1]
			t.nidle--
			t.mu.Unlock()
			idle := now.Sub(c.idleAt)
			if (t.idleTimeout > 0 && idle > t.idleTimeout) || !aliveRaw(c.raw) {
				c.close()
				t.mu.Lock()
				continue
			}
			return c, true, nil
		}
		t.mu.Unlock()
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", addr, err)
	}
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	c := &conn{t: t, nc: nc, raw: rawOf(nc), addr: addr, gen: gen}
	c.br = bufio.NewReaderSize(c, 4<<10)
	return c, false, nil
}

// put keeps c for the next request to its address, or closes it when the
// pool is full or closed.
func (t *Transport) put(c *conn) {
	c.idleAt = t.now()
	t.mu.Lock()
	cs := t.idle[c.addr]
	if c.gen != t.gen || len(cs) >= t.maxIdlePerHost || (t.maxIdle > 0 && t.nidle >= t.maxIdle) {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle[c.addr] = append(cs, c)
	t.nidle++
	if t.sweep == nil && t.idleTimeout > 0 {
		t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
	}
	t.mu.Unlock()
}

// sweepIdle closes the connections idle for longer than the idle timeout,
// and runs again while some are idle.
func (t *Transport) sweepIdle() {
	now := t.now()
	var stale []*conn
	t.mu.Lock()
	for addr, cs := range t.idle {
		keep := cs[:0]
		for _, c := range cs { // oldest first: put appends
			if now.Sub(c.idleAt) > t.idleTimeout {
				stale = append(stale, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(cs[len(keep):])
		if len(keep) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = keep
		}
	}
	t.nidle -= len(stale)
	if t.nidle > 0 {
		t.sweep = time.AfterFunc(t.idleTimeout/2, t.sweepIdle)
	} else {
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}
