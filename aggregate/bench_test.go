package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// benchBody makes a JSON object of about size bytes with fields prefixed by
// prefix, so that backends collide only where the benchmark wants.
func benchBody(prefix string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":42,"name":"backend ` + prefix + `","tags":["a","b","c"],"nested":{"k":"v","n":[1,2,3]}`)
	for i := 0; b.Len() < size-40; i++ {
		fmt.Fprintf(&b, `,"%s_field_%d":"value number %d \u00e9"`, prefix, i, i)
	}
	b.WriteString("}")
	return b.Bytes()
}

// reportCPU reports the process CPU time per op since start (cpuTime),
// when it is measured.
func reportCPU(b *testing.B, start time.Duration) {
	if cpu := cpuTime() - start; cpu > 0 && b.N > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// mergeInputs returns n backends (unshaped) and their bodies.
func mergeInputs(n, size int) (Endpoint, [][]byte) {
	ep := Endpoint{Path: "/bench"}
	var bodies [][]byte
	for i := range n {
		name := fmt.Sprintf("b%d", i)
		ep.Backends = append(ep.Backends, Backend{Name: name, URL: "http://127.0.0.1/" + name})
		bodies = append(bodies, benchBody(name, size))
	}
	return ep, bodies
}

// BenchmarkMerge measures validating, splicing and merging pre-made raw
// bodies (no HTTP): the work Do adds per request besides the calls.
func BenchmarkMerge(b *testing.B) {
	for _, n := range []int{3, 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ep, bodies := mergeInputs(n, 1024)
			a := mustNew(b, ep, nil)
			slots := make([]slot, n)
			var total int
			for _, body := range bodies {
				total += len(body)
			}
			b.SetBytes(int64(total))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				for i, be := range a.ep.backends {
					s := &slots[i]
					s.mems = a.getMems()
					data, ms, _, err := be.shape(bodies[i], (*s.mems)[:0], nil)
					if err != nil {
						b.Fatal(err)
					}
					*s.mems, s.members, s.data = ms, ms, data
					s.report = BackendReport{Name: be.name, Outcome: OK}
					s.arrived = true
				}
				res := a.assemble(b.Context(), slots, time.Now())
				if !res.Complete {
					b.Fatal("incomplete")
				}
				for i := range slots {
					a.release(&slots[i])
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkDo measures a whole Do over an in-memory transport: three
// unshaped backends of about 1 KiB, no cache; with coalescing (the default,
// here never shared: it measures the bookkeeping) and without.
func BenchmarkDo(b *testing.B) {
	for _, coalesce := range []bool{false, true} {
		name := "no_coalesce"
		if coalesce {
			name = "coalesce"
		}
		b.Run(name, func(b *testing.B) {
			ep, bodies := mergeInputs(3, 1024)
			ep.Path = "/users/:id"
			ep.NoCoalesce = !coalesce
			for i := range ep.Backends {
				ep.Backends[i].URL += "/{id}"
			}
			byPath := map[string][]byte{}
			for i, be := range ep.Backends {
				byPath["/"+be.Name+"/7"] = bodies[i]
			}
			hdr := http.Header{"Content-Type": {"application/json"}}
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				body := byPath[r.URL.Path]
				return &http.Response{StatusCode: 200, Header: hdr, Body: io.NopCloser(bytes.NewReader(body)),
					ContentLength: int64(len(body)), Request: r}, nil
			})}
			a := mustNew(b, ep, client)
			req := Request{Params: map[string]string{"id": "7"}, RequestID: "req-1"}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				res := a.Do(b.Context(), req)
				if !res.Complete {
					b.Fatal(outcomes(res))
				}
			}
			reportCPU(b, cpu)
		})
	}
}

func BenchmarkValid(b *testing.B) {
	body := benchBody("x", 1024)
	b.SetBytes(int64(len(body)))
	b.Run("json.Valid", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			json.Valid(body)
		}
		reportCPU(b, cpu)
	})
	b.Run("parseTop", func(b *testing.B) {
		var ms []member
		cpu := cpuTime()
		for b.Loop() {
			ms, _, _, _, _ = parseTop(body, ms[:0], true)
		}
		reportCPU(b, cpu)
	})
}

// httpUpstreams starts three loopback upstreams serving ~1 KiB objects.
func httpUpstreams(b *testing.B) (Endpoint, []string) {
	ep, bodies := mergeInputs(3, 1024)
	ep.NoCoalesce = true
	var urls []string
	for i := range ep.Backends {
		body := bodies[i]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		b.Cleanup(srv.Close)
		ep.Backends[i].URL = srv.URL + "/x"
		urls = append(urls, srv.URL+"/x")
	}
	return ep, urls
}

// BenchmarkDoHTTP is Do over loopback HTTP (the upstream servers' CPU is
// counted too); BenchmarkNaiveHTTP is a plain net/http fan-out that splices
// the bodies without decoding them, for scale.
func BenchmarkDoHTTP(b *testing.B) {
	ep, _ := httpUpstreams(b)
	a := mustNew(b, ep, nil)
	b.ReportAllocs()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := a.Do(context.Background(), Request{RequestID: "r"}); !res.Complete {
				b.Error(outcomes(res))
			}
		}
	})
	reportCPU(b, cpu)
}

func BenchmarkNaiveHTTP(b *testing.B) {
	_, urls := httpUpstreams(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ReportAllocs()
	cpu := cpuTime()
	defer func() { reportCPU(b, cpu) }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			parts := make([][]byte, len(urls))
			var wg sync.WaitGroup
			for i, u := range urls {
				wg.Go(func() {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
					req.Header.Set("X-Request-ID", "r")
					resp, err := client.Do(req)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
					resp.Body.Close()
					if json.Valid(body) {
						parts[i] = body
					}
				})
			}
			wg.Wait()
			cancel()
			out := []byte{'{'}
			for _, p := range parts {
				p = bytes.TrimSpace(p)
				if len(p) > 2 {
					if len(out) > 1 {
						out = append(out, ',')
					}
					out = append(out, p[1:len(p)-1]...)
				}
			}
			out = append(out, '}')
			if !json.Valid(out) {
				b.Error("invalid")
			}
		}
	})
}
