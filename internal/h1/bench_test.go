//go:build unix

package h1

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares a gateway's fan-out through this transport
// and through net/http's: each op sends three GETs of a 1 KiB JSON body,
// each from a goroutine of its own, under a context with a deadline
// cancelled once all three are read and closed; 16 ops at a time over
// loopback (the server runs in the same process, so cpu-ns/op is both
// sides' CPU):
//
//	go test -run '^$' -bench RoundTrip -count 6 ./internal/h1
func BenchmarkRoundTrip(b *testing.B) {
	body := []byte(`{"data":"` + strings.Repeat("x", 1000) + `"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	for _, bc := range []struct {
		name string
		rt   func() http.RoundTripper
	}{
		{"h1", func() http.RoundTripper { return New(benchFallback()) }},
		{"net-http", func() http.RoundTripper { return benchFallback() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := bc.rt()
			defer rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			b.SetParallelism(8) // 16 goroutines on 2 processors
			b.ReportAllocs()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					var wg sync.WaitGroup
					for i := range 3 {
						wg.Go(func() {
							req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/u/"+strconv.Itoa(i), nil)
							resp, err := rt.RoundTrip(req)
							if err != nil {
								b.Error(err)
								return
							}
							got, _ := io.ReadAll(resp.Body)
							_ = resp.Body.Close()
							if !bytes.Equal(got, body) {
								b.Error("wrong body")
							}
						})
					}
					wg.Wait()
					cancel()
				}
			})
			if used := cpuTime() - cpu; b.N > 0 {
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

func benchFallback() *http.Transport {
	return &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
