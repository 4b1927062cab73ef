package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
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
	off := string(hedgeConfig("127.0.0.1:1", "http://127.0.0.1:2", hedgeVariant{}))
	on := string(hedgeConfig("127.0.0.1:1", "http://127.0.0.1:2", hedgeVariant{Pct: 90, Budget: 10}))
	if strings.Contains(off, "hedge") || !strings.Contains(on, "hedge: {percentile: 90, budget: 10, delay: 50ms}") ||
		!strings.Contains(on, `url: "http://127.0.0.1:2/users/{id}"`) {
		t.Errorf("configs:\n%s\n%s", off, on)
	}
}

func TestParseHedges(t *testing.T) {
	got, err := parseHedges("90/10, 80/25")
	if err != nil || !slices.Equal(got, []hedgeVariant{{Pct: 90, Budget: 10}, {Pct: 80, Budget: 25}}) {
		t.Errorf("parseHedges = %v, %v", got, err)
	}
	if got, err := parseHedges("none"); err != nil || got != nil {
		t.Errorf("none: %v, %v", got, err)
	}
	for _, bad := range []string{"", "90", "90/x", "100/10", "90/0", "90/10,90/10"} {
		if _, err := parseHedges(bad); err == nil {
			t.Errorf("parseHedges(%q): no error", bad)
		}
	}
	if variant := (hedgeVariant{Pct: 80, Budget: 25}).name(); variant != "trawl+hedge p80/25%" || (hedgeVariant{}).name() != gwTrawl {
		t.Errorf("names %q, %q", variant, hedgeVariant{}.name())
	}
}

// TestModelHedgeP99 checks the model against figures computed apart (by a
// simulation of 10^6 draws): unhedged, the distribution's own p99; hedged at
// p90 (71 ms), about 111 ms; at p80 (46 ms), about 96 ms.
func TestModelHedgeP99(t *testing.T) {
	for _, c := range []struct {
		pct      float64
		min, max time.Duration
	}{{0, 199 * time.Millisecond, 201 * time.Millisecond}, {90, 110 * time.Millisecond, 112 * time.Millisecond}, {80, 95 * time.Millisecond, 97 * time.Millisecond}} {
		if got := modelHedgeP99(c.pct); got < c.min || got > c.max {
			t.Errorf("modelHedgeP99(%g) = %v, want %v to %v", c.pct, got, c.min, c.max)
		}
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
	p90, p80 := hedgeVariant{Pct: 90, Budget: 10}, hedgeVariant{Pct: 80, Budget: 25}
	samples := []sample{
		{Phase: phaseHedge, Gateway: gwDirect, Load: loadResult{Requests: 4, Latencies: lat(10, 20, 30, 300)}},
		{Phase: phaseHedge, Gateway: gwTrawl, Load: loadResult{Requests: 4, Latencies: lat(10, 20, 30, 400)}, Calls: 4},
		{Phase: phaseHedge, Gateway: p90.name(), Load: loadResult{Requests: 4, Latencies: lat(10, 20, 30, 200)}, Calls: 100, Hedges: 9},
		{Phase: phaseHedge, Gateway: p80.name(), Load: loadResult{Requests: 4, Latencies: lat(10, 20, 30, 100)}, Calls: 100, Hedges: 20},
	}
	cfg := config{Hedges: []hedgeVariant{p90, p80}}
	sum := summarize(cfg, samples)
	if len(sum.Hedge) != 4 || sum.Hedge[0].Gateway != gwDirect || sum.Hedge[0].P99MS != 300 || sum.Hedge[1].P99MS != 400 ||
		sum.Hedge[2].P99MS != 200 || sum.Hedge[2].ExtraPct != 9 || sum.Hedge[2].P99Ratio != 2 || sum.Hedge[3].P99Ratio != 4 ||
		sum.Hedge[3].Budget != 25 {
		t.Fatalf("hedge summary %+v", sum.Hedge)
	}
	if sum.Bar.HedgeP99 != 4 || sum.Bar.HedgeBest != p80.name() || !sum.Bar.HedgeMet {
		t.Errorf("bar %v by %q, met %v; want 4× by the p80 variant, met", sum.Bar.HedgeP99, sum.Bar.HedgeBest, sum.Bar.HedgeMet)
	}
	samples[3].Hedges = 30 // over its budget: the p90 variant is the best within its own
	if sum := summarize(cfg, samples); sum.Bar.HedgeP99 != 2 || sum.Bar.HedgeBest != p90.name() || !sum.Bar.HedgeMet {
		t.Errorf("p80 over its budget: bar %v by %q, met %v; want 2× by the p90 variant, met", sum.Bar.HedgeP99, sum.Bar.HedgeBest, sum.Bar.HedgeMet)
	}
	samples[2].Hedges = 11 // both over their budgets: the best ratio, not met
	if sum := summarize(cfg, samples); sum.Bar.HedgeP99 != 4 || sum.Bar.HedgeMet {
		t.Errorf("both over their budgets: bar %v, met %v; want 4×, not met", sum.Bar.HedgeP99, sum.Bar.HedgeMet)
	}
}
