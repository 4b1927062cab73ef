package h1

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ---- 7. closed idle connections ----

func TestAlive(t *testing.T) {
	canPeek(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		t.Helper()
		acc := make(chan net.Conn, 1)
		go func() {
			s, err := ln.Accept()
			if err != nil {
				close(acc)
				return
			}
			acc <- s
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := <-acc
		if s == nil {
			t.Fatal("accept failed")
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}

	c, _ := pair()
	if !alive(c) {
		t.Errorf("open quiet connection: not alive")
	}
	if !alive(c) {
		t.Errorf("open quiet connection, second peek: not alive")
	}

	c, s := pair()
	s.Close()
	waitNotAlive(t, c) // fails if alive never sees the close

	c, s = pair()
	io.WriteString(s, "HTTP/1.1 408 Request Timeout\r\n\r\n")
	waitNotAlive(t, c) // fails if alive never sees the bytes
	if alive(c) {
		t.Errorf("connection with unsolicited bytes: alive on a second peek")
	}
	// The peek consumed nothing.
	buf := make([]byte, 8)
	if n, err := io.ReadFull(c, buf); err != nil || string(buf[:n]) != "HTTP/1.1" {
		t.Errorf("after the peek read %q, %v", buf[:n], err)
	}

	c, _ = pair()
	c.Close()
	if alive(c) {
		t.Errorf("connection closed by the client: alive")
	}

	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if !alive(p1) {
		t.Errorf("a conn that cannot be peeked at is taken as alive")
	}
}

// A server that closes a kept connection without saying so: the next GET
// fails on it before any byte of an answer and is sent again on a new one.
func TestRetryOnConnClosedByServer(t *testing.T) {
	for _, idleLong := range []bool{false, true} {
		t.Run(fmt.Sprintf("idle long %v", idleLong), func(t *testing.T) {
			if idleLong {
				canPeek(t)
			}
			perConn := make([]atomic.Int32, 8)
			srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					perConn[i].Add(1)
					io.WriteString(nc, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nconn%d", i))
					if i == 0 {
						return // closes, without Connection: close
					}
				}
			})
			tr := newTransport(t, 4)
			clock := newFakeClock()
			tr.now = clock.now
			c := &http.Client{Transport: tr}
			addr := strings.TrimPrefix(srv.url, "http://")
			if b := get(t, c, srv.url+"/"); b != "conn0" {
				t.Fatalf("body %q", b)
			}
			cs := tr.idleConns(addr)
			if len(cs) != 1 {
				t.Fatalf("%d idle connections, want 1", len(cs))
			}
			if idleLong {
				waitNotAlive(t, cs[0].nc)  // the close reached the client
				clock.advance(time.Second) // how long it sat idle does not matter
			}
			for range 2 {
				if b := get(t, c, srv.url+"/"); b != "conn1" {
					t.Fatalf("body %q, want conn1", b)
				}
			}
			if n := srv.accepts.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
			if n := perConn[0].Load(); n != 1 {
				t.Errorf("the closed connection got %d requests, want 1", n)
			}
		})
	}
}

func TestNoRetryAfterPartialAnswerOrOnFreshConn(t *testing.T) {
	t.Run("partial answer on a kept connection", func(t *testing.T) {
		var requests atomic.Int32
		srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
			for n := 0; ; n++ {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				requests.Add(1)
				if i == 0 && n == 1 {
					io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Le")
					return
				}
				io.WriteString(nc, okResp)
			}
		})
		tr := newTransport(t, 4)
		c := &http.Client{Transport: tr}
		get(t, c, srv.url+"/")
		resp, err := c.Get(srv.url + "/")
		if err == nil {
			resp.Body.Close()
			t.Fatal("no error for a cut answer")
		}
		if n := srv.accepts.Load(); n != 1 {
			t.Errorf("%d connections: the request was sent again after part of an answer", n)
		}
		if n := requests.Load(); n != 2 {
			t.Errorf("server got %d requests, want 2", n)
		}
	})
	t.Run("fresh connection closed", func(t *testing.T) {
		srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
			http.ReadRequest(br) // and close without an answer
		})
		tr := newTransport(t, 4)
		c := &http.Client{Transport: tr}
		resp, err := c.Get(srv.url + "/")
		if err == nil {
			resp.Body.Close()
			t.Fatal("no error")
		}
		if n := srv.accepts.Load(); n != 1 {
			t.Errorf("%d connections: a request that failed on a new connection was sent again", n)
		}
	})
}
