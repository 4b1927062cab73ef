package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPlainMerges runs the program against two loopback upstreams: the
// answer is their merge (the first wins a key), and a backend that misses
// the deadline is left out and said so.
func TestPlainMerges(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/a/"):
			io.WriteString(w, `{"id":"`+strings.TrimPrefix(r.URL.Path, "/a/")+`","k":"a"}`)
		case strings.HasPrefix(r.URL.Path, "/b/"):
			io.WriteString(w, `{"k":"b","n":2}`)
		default:
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}
	}))
	t.Cleanup(up.Close)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	listening := make(chan net.Addr, 1)
	go func() {
		done <- serve(ctx, []string{"-addr", "127.0.0.1:0", "-timeout", "200ms",
			"-backend", up.URL + "/a/{id}", "-backend", up.URL + "/b/{id}", "-backend", up.URL + "/slow"},
			func(a net.Addr) { listening <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("serve ended before listening: %v", err)
	}
	resp, err := http.Get("http://" + addr.String() + "/users/7")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got["id"] != "7" || got["k"] != "a" || got["n"] != 2.0 || len(got) != 3 || resp.Header.Get("X-Plain-Completed") != "false" {
		t.Errorf("answer %v, completed %q; want the merge of a and b, incomplete", got, resp.Header.Get("X-Plain-Completed"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run = %v", err)
	}
}
