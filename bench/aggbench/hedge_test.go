package main

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHedgeCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `# HELP aggregator_backend_requests_total ...
aggregator_backend_requests_total{backend="user",endpoint="/users/:id",method="GET",outcome="ok"} 990
aggregator_backend_requests_total{backend="user",endpoint="/users/:id",method="GET",outcome="timeout"} 10
aggregator_backend_hedges_total{backend="user",endpoint="/users/:id",method="GET"} 87
aggregator_requests_total{code="200",endpoint="/users/:id",method="GET"} 1000
`)
	}))
	t.Cleanup(srv.Close)
	calls, hedges, err := hedgeCounts(t.Context(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil || calls != 1000 || hedges != 87 {
		t.Errorf("hedgeCounts = %v, %v, %v; want 1000 calls, 87 hedges", calls, hedges, err)
	}
}

func TestHedgeConfig(t *testing.T) {
	off := string(hedgeConfig("127.0.0.1:1", "http://127.0.0.1:2", false, 90, 10))
	on := string(hedgeConfig("127.0.0.1:1", "http://127.0.0.1:2", true, 90, 10))
	if strings.Contains(off, "hedge") || !strings.Contains(on, "hedge: {percentile: 90, budget: 10, delay: 50ms}") ||
		!strings.Contains(on, `url: "http://127.0.0.1:2/users/{id}"`) {
		t.Errorf("configs:\n%s\n%s", off, on)
	}
}

func TestSummarizeHedge(t *testing.T) {
	lat := func(ms ...int) []time.Duration {
		var d []time.Duration
		for _, m := range ms {
			d = append(d, time.Duration(m)*time.Millisecond)
		}
		return d
	}
	samples := []sample{
		{Phase: phaseHedge, Gateway: gwTrawl, Load: loadResult{Requests: 4, Latencies: lat(10, 20, 30, 400)}, Calls: 4},
		{Phase: phaseHedge, Gateway: gwHedged, Load: loadResult{Requests: 4, Latencies: lat(10, 20, 30, 100)}, Calls: 100, Hedges: 9},
	}
	cfg := config{HedgeBudget: 10}
	sum := summarize(cfg, samples)
	if len(sum.Hedge) != 2 || sum.Hedge[0].P99MS != 400 || sum.Hedge[1].P99MS != 100 || sum.Hedge[1].ExtraPct != 9 {
		t.Fatalf("hedge summary %+v", sum.Hedge)
	}
	if sum.Bar.HedgeP99 != 4 || !sum.Bar.HedgeMet {
		t.Errorf("bar %v %v, want 4× and met", sum.Bar.HedgeP99, sum.Bar.HedgeMet)
	}
	cfg.HedgeBudget = 5 // 9 % extra calls is over it
	if sum := summarize(cfg, samples); sum.Bar.HedgeMet || math.IsNaN(float64(sum.Bar.HedgeP99)) {
		t.Errorf("over the budget: bar met %v", sum.Bar.HedgeMet)
	}
}
