package aggregate

import (
	"strconv"
	"time"
)

// cacheEntry is a complete response kept for the endpoint's TTL. lru.Cache
// has no expiry of its own (the expirable variant starts a goroutine), so an
// entry carries its deadline and a stale one is ignored until replaced or
// evicted.
type cacheEntry struct {
	body    []byte
	reports []BackendReport
	expires time.Time
}

// key identifies the upstream calls a request makes, for the cache and for
// coalescing: method, path, the path parameters, the client query values
// the backends use and the forwarded header values. Each value is length
// prefixed, so that no two requests share a key by accident of their
// separators.
func (c *compiled) key(req *Request) string {
	var arr [256]byte
	k := append(append(append(arr[:0], c.method...), ' '), c.path...)
	for _, p := range c.params {
		k = appendField(k, req.Params[p])
	}
	for _, q := range c.keyQuery {
		vs := req.Query[q]
		k = strconv.AppendInt(append(k, '?'), int64(len(vs)), 10)
		for _, v := range vs {
			k = appendField(k, v)
		}
	}
	for _, h := range c.keyHeader {
		vs := req.Header[h]
		k = strconv.AppendInt(append(k, '^'), int64(len(vs)), 10)
		for _, v := range vs {
			k = appendField(k, v)
		}
	}
	return string(k)
}

func appendField(k []byte, v string) []byte {
	return append(append(strconv.AppendInt(append(k, 0), int64(len(v)), 10), ':'), v...)
}
