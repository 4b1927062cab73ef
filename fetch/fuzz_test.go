package fetch

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeBody checks that a body encoded with any supported coding decodes back to the
// original, cut at the limit and marked truncated exactly when it is longer, and that
// arbitrary bytes never decode to more than the limit.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte("hello, world"), uint16(100), uint8(0))
	f.Add([]byte("hello, world"), uint16(5), uint8(1))
	f.Add(bytes.Repeat([]byte{0}, 5000), uint16(4096), uint8(2))
	f.Add([]byte{0x78, 0x9c, 0x03, 0x00}, uint16(0), uint8(3))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00}, uint16(10), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, coding uint8) {
		codings := [][]string{nil, {"gzip"}, {"deflate"}, {"deflate"}}
		c := int(coding) % len(codings)
		enc := data
		switch c {
		case 1:
			enc = compressed(t, "gzip", data)
		case 2:
			enc = compressed(t, "zlib", data)
		case 3:
			enc = compressed(t, "deflate", data)
		}
		body, truncated, err := decodeBody(bytes.NewReader(enc), codings[c], int64(limit), int64(len(enc)))
		if err != nil {
			t.Fatalf("decode %v of %d bytes: %v", codings[c], len(data), err)
		}
		want := data[:min(len(data), int(limit))]
		if !bytes.Equal(body, want) || truncated != (len(data) > int(limit)) {
			t.Fatalf("decode %v limit %d: %d bytes, truncated %v; want %d bytes, %v",
				codings[c], limit, len(body), truncated, len(want), len(data) > int(limit))
		}
		// Whatever the input, never more than the limit.
		for _, cs := range codings {
			body, _, _ := decodeBody(bytes.NewReader(data), cs, int64(limit), -1)
			if len(body) > int(limit) {
				t.Fatalf("decode %v of raw input: %d bytes past limit %d", cs, len(body), limit)
			}
		}
	})
}

// FuzzParseRetryAfter checks that a Retry-After delay is never negative nor past the cap,
// and that plain seconds are read exactly.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "2", "120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	const ceiling = 10 * time.Minute
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now, ceiling)
		if d < 0 || d > ceiling || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v; want within [0, %v]", s, d, ok, ceiling)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 && n <= 600 {
			if !ok || d != time.Duration(n)*time.Second {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %ds", s, d, ok, n)
			}
		}
	})
}

// benchClient returns a Client whose every request gets body, with robots.txt a cached 404.
func benchClient(b *testing.B, body []byte, encoding string) *Client {
	b.Helper()
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/robots.txt" {
			return reply(r, http.StatusNotFound, ""), nil
		}
		h := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
		if encoding != "" {
			h.Set("Content-Encoding", encoding)
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	})
	c, err := New(Config{}, &http.Client{Transport: rt}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkFetch(b *testing.B) {
	page := bytes.Repeat([]byte("<p>Some words of a page, <a href=/x>a link</a>.</p>\n"), 300) // ~16 KiB
	for _, bc := range []struct {
		name, encoding string
		body           []byte
	}{
		{"identity", "", page},
		{"gzip", "gzip", compressed(b, "gzip", page)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchClient(b, bc.body, bc.encoding)
			u := &url.URL{Scheme: "http", Host: "a.test", Path: "/page"}
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Fetch(b.Context(), Request{URL: u, Reserved: true})
				if err != nil || len(res.Body) != len(page) {
					b.Fatalf("Fetch = %v", err)
				}
			}
		})
	}
}

func BenchmarkReserve(b *testing.B) {
	c, err := New(Config{Rate: 1e9, Burst: 1 << 30}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	hosts := make([]string, 1000)
	for i := range hosts {
		hosts[i] = "host" + strconv.Itoa(i) + ".test"
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Reserve(hosts[i%len(hosts)])
		i++
	}
}
