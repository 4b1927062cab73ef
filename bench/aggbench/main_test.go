package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
		check   func(config) bool
	}{
		{"build", []string{"-build"}, nil, func(c config) bool {
			return c.Build && slices.Equal(c.Latencies, []time.Duration{0, 20 * time.Millisecond}) &&
				c.Deadline == 300*time.Millisecond && c.Count == 3 && c.Clients == 64 && c.AccessLog && c.Merge &&
				c.LightClients == 16 && c.LightRate == 400 && c.HedgeClients == 16 &&
				slices.Equal(c.Hedges, []hedgeVariant{{Pct: 90, Budget: 10}, {Pct: 80, Budget: 25}})
		}},
		{"paths", []string{"-aggregator", "a", "-lura", "l", "-testserver", "t", "-latencies", "5ms", "-gogc", "400"}, nil,
			func(c config) bool {
				return !c.Build && c.Lura == "l" && c.Latencies[0] == 5*time.Millisecond && c.GOGC == "400"
			}},
		{"missing binary", []string{"-aggregator", "a", "-lura", "l"}, errUsage, nil},
		{"bad latency", []string{"-build", "-latencies", "fast"}, errUsage, nil},
		{"negative latency", []string{"-build", "-latencies", "-1ms"}, errUsage, nil},
		{"no latency", []string{"-build", "-latencies", ","}, errUsage, nil},
		{"zero clients", []string{"-build", "-clients", "0"}, errUsage, nil},
		{"zero duration: no throughput phase", []string{"-build", "-duration", "0s", "-hedge", "none"}, nil, func(c config) bool {
			return c.Duration == 0 && c.Hedges == nil
		}},
		{"negative duration", []string{"-build", "-duration", "-1s"}, errUsage, nil},
		{"bad hedge", []string{"-build", "-hedge", "90"}, errUsage, nil},
		{"zero light rate", []string{"-build", "-light-rate", "0"}, errUsage, nil},
		{"bad gogc", []string{"-build", "-gogc", "lots"}, errUsage, nil},
		{"positional", []string{"-build", "x"}, errUsage, nil},
		{"help", []string{"-h"}, flag.ErrHelp, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, io.Discard)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("parseFlags(%q) error = %v, want %v", tt.args, err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(cfg) {
				t.Errorf("parseFlags(%q) = %+v", tt.args, cfg)
			}
		})
	}
}

func TestGatewayConfigsAreEquivalent(t *testing.T) {
	ups := []string{"http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"}
	aggAddr, aggDeadline, aggURLs, err := readGatewayConfig(aggregatorConfig("127.0.0.1:8080", 300*time.Millisecond, ups))
	if err != nil {
		t.Fatalf("aggregator config: %v", err)
	}
	luraJSON := luraConfig(8081, 300*time.Millisecond, ups)
	luraAddr, luraDeadline, luraURLs, err := readGatewayConfig(luraJSON)
	if err != nil {
		t.Fatalf("Lura config: %v", err)
	}
	want := []string{"http://127.0.0.1:9001/users/{id}", "http://127.0.0.1:9002/users/{id}/stats", "http://127.0.0.1:9003/recommendations?user={id}"}
	if !slices.Equal(aggURLs, want) || !slices.Equal(luraURLs, want) {
		t.Errorf("backend URLs: aggregator %q, Lura %q; want %q", aggURLs, luraURLs, want)
	}
	if aggDeadline != 300*time.Millisecond || luraDeadline != 300*time.Millisecond {
		t.Errorf("deadlines %v and %v, want 300ms", aggDeadline, luraDeadline)
	}
	if aggAddr != "127.0.0.1:8080" || luraAddr != "127.0.0.1:8081" {
		t.Errorf("addresses %q and %q", aggAddr, luraAddr)
	}
	var raw map[string]any
	if err := json.Unmarshal(luraJSON, &raw); err != nil || raw["version"] != 3.0 || raw["timeout"] != "300ms" {
		t.Errorf("Lura config %s: version %v, timeout %v (%v); want 3 and 300ms", luraJSON, raw["version"], raw["timeout"], err)
	}
	agg := string(aggregatorConfig("127.0.0.1:8080", 300*time.Millisecond, ups))
	for _, shaping := range []string{"group", "target", "allow", "deny", "mapping", "collection", "cache", "required"} {
		if strings.Contains(agg, shaping+":") {
			t.Errorf("aggregator config sets %s, which the Lura config does not:\n%s", shaping, agg)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"123 (aggregator) S 1 123 123 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3 * time.Second, false},
		{"7 (a) b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0", 30 * time.Millisecond, false},
		{"7 (x) R 1 2", 0, true},
		{"no parenthesis", 0, true},
		{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 u s 0", 0, true},
	}
	for _, tt := range tests {
		got, err := parseProcStat(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseProcStat(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		for i := range 1_000_000 {
			x += i
		}
		if now, _ := cpuTime(os.Getpid()); now-before >= 50*time.Millisecond {
			return
		}
	}
	t.Errorf("CPU time did not grow by 50ms in 5s of spinning (x=%d)", x)
}

func TestPercentileAndCountOver(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	lat := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 10 * time.Millisecond}, {1, 10 * time.Millisecond}, {0.1, time.Millisecond}, {0.01, time.Millisecond}} {
		if got := percentile(lat, tt.q); got != tt.want {
			t.Errorf("percentile(1..10ms, %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
	for _, tt := range []struct {
		limit time.Duration
		want  int
	}{{5 * time.Millisecond, 5}, {0, 10}, {10 * time.Millisecond, 0}, {5*time.Millisecond + 1, 5}} {
		if got := countOver(lat, tt.limit); got != tt.want {
			t.Errorf("countOver(1..10ms, %v) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

func TestMedianAndNum(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want string
	}{{nil, "null"}, {[]float64{3, 1, 2}, "2"}, {[]float64{4, 1, 3, 2}, "2.5"}, {[]float64{math.NaN(), 7}, "7"}, {[]float64{1.23456}, "1.235"}} {
		b, err := json.Marshal(median(tt.in))
		if err != nil || string(b) != tt.want {
			t.Errorf("median(%v) marshals as %s (%v), want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestRunLoad(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/users/"))
		if err != nil {
			t.Errorf("request path %q", r.URL.Path)
		}
		mu.Lock()
		if seen[r.URL.Path] {
			t.Errorf("id %d requested twice", id)
		}
		seen[r.URL.Path] = true
		mu.Unlock()
		switch {
		case id%7 == 0: // cut the connection: an error, and a new connection
			panic(http.ErrAbortHandler)
		case id%5 == 0:
			w.WriteHeader(http.StatusBadGateway)
		case id%3 == 0:
			w.Header().Set("X-Aggregate-Completed", "false")
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, `{"id":1}`)
	}))
	defer srv.Close()
	var ids atomic.Uint64
	res := runLoad(t.Context(), loadSpec{Addr: strings.TrimPrefix(srv.URL, "http://"), Prefix: "/users/", IDs: &ids,
		Clients: 4, Duration: 500 * time.Millisecond, Timeout: 2 * time.Second})

	n := int(ids.Load())
	if res.Requests+res.Errors != n || len(res.Latencies) != res.Requests {
		t.Fatalf("%d responses + %d errors (%d latencies), want %d requests sent", res.Requests, res.Errors, len(res.Latencies), n)
	}
	if n < 20 { // enough for every kind of answer below; the machine may be busy
		t.Fatalf("only %d requests in 500ms", n)
	}
	count := func(pred func(int) bool) int {
		c := 0
		for id := 1; id <= n; id++ {
			if pred(id) {
				c++
			}
		}
		return c
	}
	if want := count(func(id int) bool { return id%7 == 0 }); res.Errors != want || !strings.Contains(res.FirstError, "EOF") {
		t.Errorf("%d errors (first %q), want %d EOFs", res.Errors, res.FirstError, want)
	}
	if want := count(func(id int) bool { return id%7 != 0 && id%5 == 0 }); res.Non2xx != want {
		t.Errorf("%d non-2xx, want %d", res.Non2xx, want)
	}
	if want := count(func(id int) bool { return id%7 != 0 && id%5 != 0 && id%3 == 0 }); res.Incomplete != want {
		t.Errorf("%d incomplete, want %d", res.Incomplete, want)
	}
	if !slices.IsSorted(res.Latencies) || res.Latencies[0] <= 0 {
		t.Errorf("latencies not sorted and positive")
	}
	if res.Elapsed < 500*time.Millisecond || res.rps() <= 0 {
		t.Errorf("elapsed %v, %v req/s", res.Elapsed, res.rps())
	}
}

func TestRunLoadStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	var ids atomic.Uint64
	start := time.Now()
	// Nothing listens there: every dial fails, and the clients back off.
	res := runLoad(ctx, loadSpec{Addr: "127.0.0.1:1", Prefix: "/", IDs: &ids, Clients: 2, Duration: time.Hour, Timeout: time.Second})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("runLoad ran %v after its context ended", took)
	}
	if res.Requests != 0 || res.Errors == 0 || res.FirstError == "" {
		t.Errorf("against a closed port: %+v, want only errors", res)
	}
}

// samplesFor builds throughput samples with the given figures.
func syntheticSample(gw string, lat time.Duration, requests int, cpu time.Duration, light ...time.Duration) sample {
	lats := make([]time.Duration, requests)
	for i := range lats {
		lats[i] = time.Millisecond
	}
	return sample{Phase: phaseThroughput, Gateway: gw, Backend: lat, Run: 1, CPU: cpu,
		Load:  loadResult{Requests: requests, Latencies: lats, Elapsed: time.Second},
		Light: loadResult{Requests: len(light), Latencies: light, Elapsed: time.Second}}
}

func TestSummarizeAndTables(t *testing.T) {
	cfg := config{Latencies: []time.Duration{0, 20 * time.Millisecond}, Deadline: 300 * time.Millisecond,
		Clients: 64, Duration: time.Second, Count: 1, LightClients: 1, LightRate: 100, LightDuration: time.Second, HangDuration: time.Second}
	hang := func(gw string, lats ...time.Duration) sample {
		return sample{Phase: phaseHang, Gateway: gw, Run: 1, CPU: -1, Load: loadResult{Requests: len(lats), Latencies: lats, Elapsed: time.Second}}
	}
	samples := []sample{
		syntheticSample(gwDirect, 0, 0, -1, 100*time.Microsecond, 200*time.Microsecond),
		syntheticSample(gwTrawl, 0, 2000, 200*time.Millisecond, 300*time.Microsecond, 500*time.Microsecond), // 100 µs/req
		syntheticSample(gwLura, 0, 1000, 250*time.Millisecond, 600*time.Microsecond, 900*time.Microsecond),  // 250 µs/req
		syntheticSample(gwTrawl, 20*time.Millisecond, 3000, 300*time.Millisecond),
		syntheticSample(gwLura, 20*time.Millisecond, 3000, 600*time.Millisecond),
		{Phase: phaseThroughput, Gateway: gwLura, Backend: 0, Run: 2, Err: errors.New("crashed")}, // left out
		hang(gwTrawl, 301*time.Millisecond, 303*time.Millisecond),
		hang(gwLura, 255*time.Millisecond, 400*time.Millisecond),
	}
	sum := summarize(cfg, samples)

	if sum.Bar.RPSRatio != 2 || !sum.Bar.RPSMet || sum.Bar.CPURatio != 0.4 || !sum.Bar.CPUMet {
		t.Errorf("bar = %+v, want req/s 2× met, CPU 0.4× met", sum.Bar)
	}
	if sum.Bar.HangMaxMS != 303 || !sum.Bar.HangMet {
		t.Errorf("hang bar = %v ms met %v, want 303 met", sum.Bar.HangMaxMS, sum.Bar.HangMet)
	}
	if len(sum.Ratios) != 2 || sum.Ratios[1].RPS != 1 || sum.Ratios[1].CPUPerReq != 0.5 {
		t.Errorf("ratios = %+v", sum.Ratios)
	}
	var trawl0 gatewaySummary
	for _, g := range sum.Throughput {
		if g.Gateway == gwTrawl && g.BackendMS == 0 {
			trawl0 = g
		}
		if g.Gateway == gwLura && g.BackendMS == 0 && g.Runs != 1 {
			t.Errorf("Lura at 0ms has %d runs, want the failed one left out", g.Runs)
		}
	}
	// Light p50 of two values is the lower one (nearest rank): 300µs - 100µs.
	near := func(x num, want float64) bool { return math.Abs(float64(x)-want) < 1e-9 }
	if !near(trawl0.AddedP50MS, 0.2) || !near(trawl0.AddedP99MS, 0.3) || trawl0.CPUUSPerReq != 100 {
		t.Errorf("trawl at 0ms = %+v, want added p50 0.2ms, p99 0.3ms, 100µs CPU/req", trawl0)
	}
	if len(sum.Hang) != 2 || sum.Hang[1].OverLimit != 1 || sum.Hang[1].MaxMS != 400 {
		t.Errorf("hang = %+v, want Lura with one response over 305ms", sum.Hang)
	}

	var out bytes.Buffer
	if err := writeTables(&out, cfg, sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"trawl/lura at 0 ms backends: req/s 2.00×, CPU per request 0.40×",
		"req/s 2.00× (want >= 1.80×: met), CPU per request 0.40× (want <= 0.45×: met)",
		"responses from 301.00 to 303.00 ms (want every one from 290 to 305 ms: met)",
		"over 305 ms",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
	if err := writeJSONLine(&out, sum); err != nil {
		t.Errorf("summary does not encode as JSON: %v", err)
	}

	// Without a 0 ms run, the bar is not measured, and says so.
	cfg.Latencies = []time.Duration{20 * time.Millisecond}
	sum = summarize(cfg, samples[3:5])
	out.Reset()
	writeTables(&out, cfg, sum)
	if !strings.Contains(out.String(), "req/s -× (want >= 1.80×: not measured)") {
		t.Errorf("bar without a 0 ms run:\n%s", out.String())
	}
}

func TestRunEndToEnd(t *testing.T) {
	dir := fakeBinaries(t)
	cfg := fakeConfig(dir)
	work := filepath.Join(t.TempDir(), "work")
	args := []string{"-aggregator", cfg.Aggregator, "-lura", cfg.Lura, "-testserver", cfg.Testserver,
		"-latencies", "0s", "-size", "256", "-deadline", "200ms", "-clients", "4", "-duration", "300ms",
		"-warmup", "50ms", "-light-duration", "150ms", "-light-clients", "2", "-light-rate", "100", "-hang-duration", "500ms", "-hedge-duration", "0", "-count", "1", "-merge=false", "-json", "-work", work}
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	var samples []sampleRecord
	var sum map[string]any
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var probe struct{ Type string }
		json.Unmarshal(sc.Bytes(), &probe)
		switch probe.Type {
		case "sample":
			var s sampleRecord
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("sample line %s: %v", sc.Bytes(), err)
			}
			samples = append(samples, s)
		case "summary":
			if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("unexpected line %s", sc.Bytes())
		}
	}
	var got []string
	for _, s := range samples {
		got = append(got, s.Phase+" "+s.Gateway)
		if s.Error != "" || s.Incorrect != "" {
			t.Errorf("%s %s: error %q, incorrect %q", s.Phase, s.Gateway, s.Error, s.Incorrect)
		}
		switch {
		case s.Gateway == gwDirect:
			if math.IsNaN(float64(s.LightP50MS)) {
				t.Errorf("direct run without a light p50")
			}
		case s.Phase == phaseThroughput:
			if s.Requests == 0 || s.Incomplete != 0 || s.Non2xx != 0 || math.IsNaN(float64(s.LightP99MS)) {
				t.Errorf("throughput %s: %+v", s.Gateway, s)
			}
			if runtime.GOOS == "linux" && math.IsNaN(float64(s.CPUUSPerReq)) {
				t.Errorf("throughput %s: no CPU figure", s.Gateway)
			}
		case s.Phase == phaseHang:
			if s.Requests == 0 || s.Incomplete != s.Requests || s.MaxMS < 200 || s.MaxMS > 2000 {
				t.Errorf("hang %s: %d responses, %d incomplete, max %v ms; want all incomplete at about 200ms",
					s.Gateway, s.Requests, s.Incomplete, s.MaxMS)
			}
		}
	}
	want := []string{"throughput direct", "throughput trawl", "throughput lura", "hang trawl", "hang lura"}
	if !slices.Equal(got, want) {
		t.Errorf("samples %q, want %q", got, want)
	}
	if sum == nil {
		t.Fatalf("no summary line")
	}
	if ratios, _ := sum["ratios"].([]any); len(ratios) != 1 || ratios[0].(map[string]any)["rps"] == nil {
		t.Errorf("summary ratios = %v, want one with a req/s ratio", sum["ratios"])
	}
	if !strings.Contains(stderr.String(), "run 1 hang lura") {
		t.Errorf("no progress on stderr: %s", stderr.String())
	}
	for _, f := range []string{"aggregator.yaml", "lura.json", "trawl.log", "lura.log", "upstream1.log", "upstream3.log"} {
		if _, err := os.Stat(filepath.Join(work, f)); err != nil {
			t.Errorf("-work %s: %v", work, err)
		}
	}
}

func TestGatewayThatCrashes(t *testing.T) {
	dir := fakeBinaries(t)
	cfg := fakeConfig(dir)
	cfg.Aggregator = filepath.Join(dir, fakeCrashName)
	b := &bench{cfg: cfg, work: t.TempDir(), progress: io.Discard}
	ups, err := b.startUpstreams(t.Context(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ups.stop()
	s := b.runGateway(t.Context(), phaseThroughput, gwTrawl, 0, ups, nil, 1)
	if s.Err == nil || !strings.Contains(s.Err.Error(), "exited before it was ready") || !strings.Contains(s.Err.Error(), "address already in use") {
		t.Errorf("runGateway with a crashing gateway: %v, want the exit and its log", s.Err)
	}
	// The other gateway still runs on the same upstreams.
	if s := b.runGateway(t.Context(), phaseThroughput, gwLura, 0, ups, nil, 1); s.Err != nil || s.Load.Requests == 0 {
		t.Errorf("the other gateway after a crash: %v, %d requests", s.Err, s.Load.Requests)
	}
	// A gateway that fails when stopped fails its sample.
	b.cfg.Lura = filepath.Join(dir, fakeBadExitName)
	if s := b.runGateway(t.Context(), phaseThroughput, gwLura, 0, ups, nil, 1); s.Err == nil || !strings.Contains(s.Err.Error(), "exit status 3") {
		t.Errorf("a gateway exiting 3 after SIGINT: %v, want its exit status", s.Err)
	}
}

func TestBuildRejectsWrongSource(t *testing.T) {
	cfg := config{Src: t.TempDir(), Testserver: "given"}
	var progress bytes.Buffer
	err := build(t.Context(), &cfg, t.TempDir(), &progress)
	if err == nil || !strings.Contains(err.Error(), "Trawl module root") {
		t.Errorf("build with -src %s = %v, want an error naming the module root", cfg.Src, err)
	}
	if cfg.Aggregator != "" || cfg.Lura != "" || progress.Len() != 0 {
		t.Errorf("build changed the paths or ran something after failing: %+v %q", cfg, progress.String())
	}
}

func TestParseBenchOutput(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/trawl/trawl/aggregate
BenchmarkMerge/3-2 	  151993	      7458 ns/op	 401.06 MB/s	    3363 B/op	       3 allocs/op
BenchmarkMerge/10-2         	   50846	     22998 ns/op	 433.51 MB/s	   11095 B/op	       3 allocs/op
BenchmarkOther-2   100   12.5 ns/op
Benchmark summary: not a result line
PASS
ok  	github.com/trawl/trawl/aggregate	2.310s
`
	got := parseBenchOutput(out)
	want := []mergeResult{
		{Name: "BenchmarkMerge/3-2", Backends: 3, NsPerOp: 7458, BytesPerOp: 3363, AllocsPerOp: 3},
		{Name: "BenchmarkMerge/10-2", Backends: 10, NsPerOp: 22998, BytesPerOp: 11095, AllocsPerOp: 3},
		{Name: "BenchmarkOther-2", NsPerOp: 12.5, BytesPerOp: nan(), AllocsPerOp: nan()},
	}
	if len(got) != len(want) {
		t.Fatalf("parseBenchOutput = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		same := func(a, b num) bool { return a == b || math.IsNaN(float64(a)) && math.IsNaN(float64(b)) }
		if g.Name != w.Name || g.Backends != w.Backends || !same(g.NsPerOp, w.NsPerOp) || !same(g.BytesPerOp, w.BytesPerOp) || !same(g.AllocsPerOp, w.AllocsPerOp) {
			t.Errorf("line %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestRunLoadPacingAndStagger(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Duration
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Since(start))
		mu.Unlock()
	}))
	defer srv.Close()
	var ids atomic.Uint64
	res := runLoad(t.Context(), loadSpec{Addr: strings.TrimPrefix(srv.URL, "http://"), Prefix: "/", IDs: &ids,
		Clients: 2, Duration: 600 * time.Millisecond, Timeout: time.Second,
		Interval: 100 * time.Millisecond, Stagger: 400 * time.Millisecond})
	mu.Lock()
	defer mu.Unlock()
	// Client 0 starts at 0, 100, ..., 500 ms; client 1 at 200, 300, 400, 500 ms.
	if res.Requests < 5 || res.Requests > 11 {
		t.Errorf("%d requests (%d errors, %q), want about 10 at one per 100ms per client", res.Requests, res.Errors, res.FirstError)
	}
	early := 0
	for _, a := range arrivals {
		if a < 150*time.Millisecond {
			early++
		}
	}
	if early > 2 {
		t.Errorf("arrivals %v: the second client started before its 200ms stagger", arrivals)
	}
}
