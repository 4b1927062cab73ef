package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The bar, at 0 ms backends, with a hanging backend and with
// hedging.
const (
	barRPSRatio   = 1.8                   // Trawl's requests/s at least this many times Lura's
	barCPURatio   = 0.45                  // Trawl's CPU per request at most this many times Lura's
	barPlainRatio = 1.2                   // Trawl's requests/s at least this many times the plain fan-out's
	barRSSMB      = 35.0                  // Trawl's peak RSS at most this many MB (10^6 bytes)
	barHangSlack  = 5 * time.Millisecond  // every response within the deadline plus this
	barHangEarly  = 10 * time.Millisecond // and no earlier than the deadline less this
	barHedgeP99   = 2.0                   // p99 without hedging at least this many times the p99 with
)

// num is a float64 that encodes NaN and infinities as JSON null.
type num float64

// MarshalJSON implements json.Marshaler.
func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(f*1000)/1000, 'f', -1, 64), nil
}

// nan returns a NaN num.
func nan() num { return num(math.NaN()) }

// msNum returns d in milliseconds; NaN for a negative (unknown) d.
func msNum(d time.Duration) num {
	if d < 0 {
		return num(math.NaN())
	}
	return num(float64(d) / float64(time.Millisecond))
}

// usNum returns d in microseconds; NaN for a negative (unknown) d.
func usNum(d time.Duration) num {
	if d < 0 {
		return num(math.NaN())
	}
	return num(float64(d) / float64(time.Microsecond))
}

// sampleRecord is one sample as a JSON line.
type sampleRecord struct {
	Type        string `json:"type"` // "sample"
	Phase       string `json:"phase"`
	Gateway     string `json:"gateway"`
	BackendMS   num    `json:"backend_ms"`
	Run         int    `json:"run"`
	Requests    int    `json:"requests"`
	Errors      int    `json:"errors"`
	Non2xx      int    `json:"non2xx"`
	Incomplete  int    `json:"incomplete"`
	RPS         num    `json:"rps"`
	CPUUSPerReq num    `json:"cpu_us_per_req"`
	P50MS       num    `json:"p50_ms"`
	P99MS       num    `json:"p99_ms"`
	MaxMS       num    `json:"max_ms"`
	OverLimit   int    `json:"over_limit"` // responses slower than the deadline plus 5 ms
	LightP50MS  num    `json:"light_p50_ms"`
	LightP99MS  num    `json:"light_p99_ms"`
	PeakRSSMB   num    `json:"peak_rss_mb"`
	Hedges      num    `json:"hedges,omitempty"`
	Calls       num    `json:"calls,omitempty"`
	Incorrect   string `json:"incorrect,omitempty"`
	Error       string `json:"error,omitempty"`
}

// record returns s as a JSON line.
func (s sample) record(cfg config) sampleRecord {
	r := sampleRecord{
		Type: "sample", Phase: s.Phase, Gateway: s.Gateway, BackendMS: msNum(s.Backend), Run: s.Run,
		Requests: s.Load.Requests, Errors: s.Load.Errors, Non2xx: s.Load.Non2xx, Incomplete: s.Load.Incomplete,
		RPS:         num(s.Load.rps()),
		CPUUSPerReq: usNum(s.cpuPerRequest()),
		P50MS:       latencyNum(s.Load.Latencies, 0.5),
		P99MS:       latencyNum(s.Load.Latencies, 0.99),
		MaxMS:       latencyNum(s.Load.Latencies, 1),
		OverLimit:   countOver(s.Load.Latencies, cfg.Deadline+barHangSlack),
		LightP50MS:  latencyNum(s.Light.Latencies, 0.5),
		LightP99MS:  latencyNum(s.Light.Latencies, 0.99),
		PeakRSSMB:   rssNum(s.PeakRSS),
		Hedges:      num(s.Hedges),
		Calls:       num(s.Calls),
		Incorrect:   s.Incorrect,
	}
	if s.Gateway == gwDirect && s.Phase == phaseThroughput { // the light load only
		r.RPS, r.OverLimit = num(math.NaN()), 0
	}
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	return r
}

// rssNum returns bytes in MB (10^6 bytes), NaN for 0 (unknown).
func rssNum(b int64) num {
	if b <= 0 {
		return num(math.NaN())
	}
	return num(float64(b) / 1e6)
}

// latencyNum returns the q-quantile of sorted in ms, NaN when empty.
func latencyNum(sorted []time.Duration, q float64) num {
	if len(sorted) == 0 {
		return num(math.NaN())
	}
	return msNum(percentile(sorted, q))
}

// gatewaySummary is the median of one gateway's runs at one backend
// latency.
type gatewaySummary struct {
	Gateway     string `json:"gateway"`
	BackendMS   num    `json:"backend_ms"`
	Runs        int    `json:"runs"` // successful runs
	RPS         num    `json:"rps"`
	CPUUSPerReq num    `json:"cpu_us_per_req"`
	P50MS       num    `json:"p50_ms"`
	P99MS       num    `json:"p99_ms"`
	LightP50MS  num    `json:"light_p50_ms"`
	LightP99MS  num    `json:"light_p99_ms"`
	AddedP50MS  num    `json:"added_p50_ms"` // light p50 minus the direct call's
	AddedP99MS  num    `json:"added_p99_ms"`
	PeakRSSMB   num    `json:"peak_rss_mb"`     // median of the runs' peaks
	MaxRSSMB    num    `json:"max_peak_rss_mb"` // the largest run's peak
	Errors      int    `json:"errors"`          // over all runs
	Non2xx      int    `json:"non2xx"`
	Incomplete  int    `json:"incomplete"`
	Incorrect   string `json:"incorrect,omitempty"`
}

// ratioSummary compares Trawl with Lura at one backend latency.
type ratioSummary struct {
	BackendMS num `json:"backend_ms"`
	RPS       num `json:"rps"`               // Trawl's / Lura's
	CPUPerReq num `json:"cpu_per_req"`       // Trawl's / Lura's
	AddedP50  num `json:"added_p50_diff_ms"` // Trawl's minus Lura's
	PlainRPS  num `json:"plain_rps"`         // Trawl's / the plain fan-out's; NaN without it
	PlainCPU  num `json:"plain_cpu_per_req"` // Trawl's / the plain fan-out's
	BeforeRPS num `json:"before_rps"`        // Trawl's / the -before build's; NaN without it
	BeforeCPU num `json:"before_cpu_per_req"`
}

// hedgeSummary is one variant of the hedging phase, all runs together.
type hedgeSummary struct {
	Gateway    string `json:"gateway"`              // direct (the upstream called straight), trawl (no hedging) or a hedged variant's name
	Percentile num    `json:"percentile,omitempty"` // hedge.percentile; 0 without hedging
	Budget     num    `json:"budget_pct,omitempty"` // hedge.budget; 0 without hedging
	Runs       int    `json:"runs"`
	Responses  int    `json:"responses"`
	Errors     int    `json:"errors"`
	Non2xx     int    `json:"non2xx"`
	P50MS      num    `json:"p50_ms"`
	P99MS      num    `json:"p99_ms"`
	MaxMS      num    `json:"max_ms"`
	ExtraPct   num    `json:"extra_calls_pct"` // second calls per 100 backend calls
	P99Ratio   num    `json:"p99_ratio"`       // p99 without hedging / this p99; NaN without hedging
	ModelP99MS num    `json:"model_p99_ms"`    // the p99 in theory: the upstream's, hedged at exactly Percentile
}

// hangSummary is one gateway's runs with a hanging backend.
type hangSummary struct {
	Gateway   string `json:"gateway"`
	Runs      int    `json:"runs"`
	Responses int    `json:"responses"`
	Errors    int    `json:"errors"`
	Non2xx    int    `json:"non2xx"`
	P50MS     num    `json:"p50_ms"` // of all runs' responses together
	P99MS     num    `json:"p99_ms"`
	MaxMS     num    `json:"max_ms"`
	OverLimit int    `json:"over_limit"` // responses slower than the deadline plus 5 ms
}

// barSummary states the bar.
type barSummary struct {
	RPSRatio  num    `json:"rps_ratio"` // at 0 ms backends; NaN when not measured
	RPSMet    bool   `json:"rps_met"`
	CPURatio  num    `json:"cpu_ratio"`
	CPUMet    bool   `json:"cpu_met"`
	HangMinMS num    `json:"hang_min_ms"` // Trawl's fastest response with a hanging backend
	HangMaxMS num    `json:"hang_max_ms"` // Trawl's slowest response with a hanging backend
	HangMet   bool   `json:"hang_met"`
	PlainRPS  num    `json:"plain_rps_ratio"`
	PlainMet  bool   `json:"plain_met"`
	RSSMB     num    `json:"rss_mb"` // Trawl's largest peak RSS over the runs at 0 ms backends
	RSSMet    bool   `json:"rss_met"`
	HedgeP99  num    `json:"hedge_p99_ratio"` // p99 without hedging / p99 with, of HedgeBest
	HedgeBest string `json:"hedge_best"`      // the variant with the best p99 ratio among those within their budget (or of all, when none is)
	HedgeMet  bool   `json:"hedge_met"`
}

// summary is the whole result.
type summary struct {
	Type       string           `json:"type"` // "summary"
	Throughput []gatewaySummary `json:"throughput"`
	Ratios     []ratioSummary   `json:"ratios"`
	Hang       []hangSummary    `json:"hang"`
	Hedge      []hedgeSummary   `json:"hedge"`
	Merge      []mergeResult    `json:"merge"`
	MergeError string           `json:"merge_error,omitempty"`
	Bar        barSummary       `json:"bar"`
}

// summarize computes medians, ratios and the bar from the samples, leaving
// out failed ones.
func summarize(cfg config, samples []sample) summary {
	sum := summary{Type: "summary"}
	nan := num(math.NaN())
	sum.Bar.RPSRatio, sum.Bar.CPURatio, sum.Bar.HangMaxMS, sum.Bar.HangMinMS = nan, nan, nan, nan
	sum.Bar.PlainRPS, sum.Bar.RSSMB = nan, nan
	gws := []string{gwDirect, gwTrawl, gwLura}
	if cfg.Plain != "" {
		gws = append(gws, gwPlain)
	}
	if cfg.Before != "" {
		gws = append(gws, gwBefore)
	}
	for _, lat := range cfg.Latencies {
		if cfg.Duration == 0 {
			break // no throughput phase
		}
		var direct gatewaySummary
		byGW := map[string]gatewaySummary{}
		for _, gw := range gws {
			g := summarizeGateway(samples, gw, lat)
			if gw == gwDirect {
				direct = g
				continue
			}
			g.AddedP50MS = g.LightP50MS - direct.LightP50MS
			g.AddedP99MS = g.LightP99MS - direct.LightP99MS
			byGW[gw] = g
		}
		if direct.Runs > 0 {
			sum.Throughput = append(sum.Throughput, direct)
		}
		for _, gw := range gws[1:] {
			sum.Throughput = append(sum.Throughput, byGW[gw])
		}
		t, l := byGW[gwTrawl], byGW[gwLura]
		r := ratioSummary{BackendMS: msNum(lat), RPS: t.RPS / l.RPS, CPUPerReq: t.CPUUSPerReq / l.CPUUSPerReq,
			AddedP50: t.AddedP50MS - l.AddedP50MS, PlainRPS: nan, PlainCPU: nan, BeforeRPS: nan, BeforeCPU: nan}
		if p, ok := byGW[gwPlain]; ok {
			r.PlainRPS, r.PlainCPU = t.RPS/p.RPS, t.CPUUSPerReq/p.CPUUSPerReq
		}
		if p, ok := byGW[gwBefore]; ok {
			r.BeforeRPS, r.BeforeCPU = t.RPS/p.RPS, t.CPUUSPerReq/p.CPUUSPerReq
		}
		sum.Ratios = append(sum.Ratios, r)
		if lat == 0 {
			sum.Bar.RPSRatio, sum.Bar.CPURatio = r.RPS, r.CPUPerReq
			sum.Bar.RPSMet = float64(r.RPS) >= barRPSRatio
			sum.Bar.CPUMet = float64(r.CPUPerReq) <= barCPURatio
			sum.Bar.PlainRPS, sum.Bar.PlainMet = r.PlainRPS, float64(r.PlainRPS) >= barPlainRatio
			sum.Bar.RSSMB, sum.Bar.RSSMet = t.MaxRSSMB, float64(t.MaxRSSMB) <= barRSSMB
		}
	}
	for _, gw := range []string{gwTrawl, gwLura} {
		h := hangSummary{Gateway: gw}
		var all []time.Duration
		for _, s := range samples {
			if s.Phase != phaseHang || s.Gateway != gw || s.Err != nil {
				continue
			}
			h.Runs++
			h.Responses += s.Load.Requests
			h.Errors += s.Load.Errors
			h.Non2xx += s.Load.Non2xx
			all = append(all, s.Load.Latencies...)
		}
		if h.Runs == 0 {
			continue
		}
		slices.Sort(all)
		h.P50MS, h.P99MS, h.MaxMS = latencyNum(all, 0.5), latencyNum(all, 0.99), latencyNum(all, 1)
		h.OverLimit = countOver(all, cfg.Deadline+barHangSlack)
		sum.Hang = append(sum.Hang, h)
		if gw == gwTrawl {
			sum.Bar.HangMaxMS, sum.Bar.HangMinMS = h.MaxMS, msNum(all[0])
			sum.Bar.HangMet = h.OverLimit == 0 && h.Errors == 0 && h.Responses > 0 && all[0] >= cfg.Deadline-barHangEarly
		}
	}
	sum.Hedge = summarizeHedge(cfg, samples)
	sum.Bar.HedgeP99, sum.Bar.HedgeBest, sum.Bar.HedgeMet = hedgeBar(sum.Hedge)
	return sum
}

// summarizeHedge pools each variant's runs of the hedging phase: without
// hedging first, then each of cfg.Hedges.
func summarizeHedge(cfg config, samples []sample) []hedgeSummary {
	var out []hedgeSummary
	variants := append([]hedgeVariant{{Direct: true}, {}}, cfg.Hedges...) // the upstream called straight, no hedging, the hedged ones
	var unhedged num                                                      // trawl's p99 without hedging
	for _, v := range variants {
		h := hedgeSummary{Gateway: v.name(), Percentile: num(v.Pct), Budget: num(v.Budget), P99Ratio: num(math.NaN()),
			ModelP99MS: num(modelHedgeP99(v.Pct).Seconds() * 1000)}
		var all []time.Duration
		var calls, hedges float64
		for _, s := range samples {
			if s.Phase != phaseHedge || s.Gateway != h.Gateway || s.Err != nil {
				continue
			}
			h.Runs++
			h.Responses += s.Load.Requests
			h.Errors += s.Load.Errors
			h.Non2xx += s.Load.Non2xx
			all = append(all, s.Load.Latencies...)
			calls, hedges = calls+s.Calls, hedges+s.Hedges
		}
		if h.Runs == 0 {
			continue
		}
		slices.Sort(all)
		h.P50MS, h.P99MS, h.MaxMS = latencyNum(all, 0.5), latencyNum(all, 0.99), latencyNum(all, 1)
		h.ExtraPct = num(100 * hedges / calls)
		switch {
		case v == (hedgeVariant{}):
			unhedged = h.P99MS
		case !v.Direct && unhedged > 0:
			h.P99Ratio = unhedged / h.P99MS
		}
		out = append(out, h)
	}
	return out
}

// hedgeBar returns the best p99 ratio of the hedged variants whose extra
// calls kept within their budget, the variant's name, and whether the ratio
// meets the bar. When none kept within its budget, it returns the best ratio
// of all, not met; NaN when nothing was measured.
func hedgeBar(hs []hedgeSummary) (ratio num, name string, met bool) {
	ratio = num(math.NaN())
	within := false
	for _, h := range hs {
		if math.IsNaN(float64(h.P99Ratio)) { // not hedged, or not measured
			continue
		}
		in := h.ExtraPct <= h.Budget
		switch {
		case in && (!within || h.P99Ratio > ratio):
			ratio, name, within = h.P99Ratio, h.Gateway, true
		case !within && (math.IsNaN(float64(ratio)) || h.P99Ratio > ratio):
			ratio, name = h.P99Ratio, h.Gateway
		}
	}
	return ratio, name, within && float64(ratio) >= barHedgeP99
}

// summarizeGateway returns the medians of gw's successful throughput
// samples at backend latency lat.
func summarizeGateway(samples []sample, gw string, lat time.Duration) gatewaySummary {
	g := gatewaySummary{Gateway: gw, BackendMS: msNum(lat)}
	var rps, cpu, p50, p99, lp50, lp99, rss []float64
	for _, s := range samples {
		if s.Phase != phaseThroughput || s.Gateway != gw || s.Backend != lat || s.Err != nil {
			continue
		}
		g.Runs++
		g.Errors += s.Load.Errors
		g.Non2xx += s.Load.Non2xx
		g.Incomplete += s.Load.Incomplete
		if s.Incorrect != "" {
			g.Incorrect = s.Incorrect
		}
		if gw != gwDirect {
			rps = append(rps, s.Load.rps())
			cpu = append(cpu, float64(usNum(s.cpuPerRequest())))
			p50 = append(p50, float64(latencyNum(s.Load.Latencies, 0.5)))
			p99 = append(p99, float64(latencyNum(s.Load.Latencies, 0.99)))
			rss = append(rss, float64(rssNum(s.PeakRSS)))
		}
		lp50 = append(lp50, float64(latencyNum(s.Light.Latencies, 0.5)))
		lp99 = append(lp99, float64(latencyNum(s.Light.Latencies, 0.99)))
	}
	g.RPS, g.CPUUSPerReq, g.P50MS, g.P99MS = median(rps), median(cpu), median(p50), median(p99)
	g.LightP50MS, g.LightP99MS = median(lp50), median(lp99)
	g.AddedP50MS, g.AddedP99MS = num(math.NaN()), num(math.NaN())
	g.PeakRSSMB, g.MaxRSSMB = median(rss), num(math.NaN())
	for _, x := range rss {
		if !math.IsNaN(x) && (math.IsNaN(float64(g.MaxRSSMB)) || x > float64(g.MaxRSSMB)) {
			g.MaxRSSMB = num(x)
		}
	}
	return g
}

// median returns the median of xs, ignoring NaNs; NaN when none is left.
func median(xs []float64) num {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return num(math.NaN())
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return num(v[len(v)/2])
	}
	return num((v[len(v)/2-1] + v[len(v)/2]) / 2)
}

// writeTables prints the summary as tables.
func writeTables(w io.Writer, cfg config, sum summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(sum.Throughput) > 0 {
		if err := writeThroughput(w, tw, cfg, sum); err != nil {
			return err
		}
	}
	if len(sum.Hedge) > 0 {
		fmt.Fprintf(w, "\nHedging: one upstream with %s latency, %d clients for %v per run, deadline %v; direct: the upstream called straight; model p99: the upstream's, hedged at exactly that percentile.\n",
			hedgeLatency, cfg.HedgeClients, cfg.HedgeDuration, hedgeDeadline)
		fmt.Fprintln(tw, "gateway\truns\tresponses\tp50 ms\tp99 ms\tmax ms\tp99 ratio\tmodel p99 ms\textra calls %\tbudget %\terrors\tnon-2xx\t")
		for _, h := range sum.Hedge {
			budget := "-"
			if h.Budget > 0 {
				budget = fmtNum(h.Budget, 0)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", h.Gateway, h.Runs, h.Responses,
				fmtNum(h.P50MS, 2), fmtNum(h.P99MS, 2), fmtNum(h.MaxMS, 2), fmtNum(h.P99Ratio, 2), fmtNum(h.ModelP99MS, 1),
				fmtNum(h.ExtraPct, 2), budget, h.Errors, h.Non2xx)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(sum.Hang) > 0 {
		limit := cfg.Deadline + barHangSlack
		fmt.Fprintf(w, "\nOne upstream accepts connections and never answers: %d clients (first requests spread over %v) for %v, %d runs per gateway.\n",
			cfg.Clients, cfg.Deadline, cfg.HangDuration, cfg.Count)
		fmt.Fprintln(tw, "gateway\truns\tresponses\tp50 ms\tp99 ms\tmax ms\tover "+ms(limit)+" ms\terrors\tnon-2xx\t")
		for _, h := range sum.Hang {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t\n", h.Gateway, h.Runs, h.Responses,
				fmtNum(h.P50MS, 2), fmtNum(h.P99MS, 2), fmtNum(h.MaxMS, 2), h.OverLimit, h.Errors, h.Non2xx)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(sum.Merge) > 0 || sum.MergeError != "" {
		fmt.Fprintf(w, "\nIn-process merge, pre-made ~1 KiB bodies (go %s):\n", strings.Join(mergeBenchArgs(), " "))
		if sum.MergeError != "" {
			fmt.Fprintf(w, "failed: %s\n", sum.MergeError)
		}
		if len(sum.Merge) > 0 {
			fmt.Fprintln(tw, "benchmark\tbackends\tns/op\tB/op\tallocs/op\t")
			for _, m := range sum.Merge {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", m.Name, m.Backends, fmtNum(m.NsPerOp, 0), fmtNum(m.BytesPerOp, 0), fmtNum(m.AllocsPerOp, 0))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Bar at 0 ms backends: req/s %s× (want >= %.2f×: %s), CPU per request %s× (want <= %.2f×: %s)\n",
		fmtNum(sum.Bar.RPSRatio, 2), barRPSRatio, met(sum.Bar.RPSMet, sum.Bar.RPSRatio),
		fmtNum(sum.Bar.CPURatio, 2), barCPURatio, met(sum.Bar.CPUMet, sum.Bar.CPURatio))
	fmt.Fprintf(w, "Bar at 0 ms backends: req/s %s× the plain fan-out's (want >= %.2f×: %s), Trawl's peak RSS %s MB (want <= %g: %s)\n",
		fmtNum(sum.Bar.PlainRPS, 2), barPlainRatio, met(sum.Bar.PlainMet, sum.Bar.PlainRPS),
		fmtNum(sum.Bar.RSSMB, 1), barRSSMB, met(sum.Bar.RSSMet, sum.Bar.RSSMB))
	fmt.Fprintf(w, "Bar with a hanging upstream: responses from %s to %s ms (want every one from %s to %s ms: %s)\n",
		fmtNum(sum.Bar.HangMinMS, 2), fmtNum(sum.Bar.HangMaxMS, 2), ms(cfg.Deadline-barHangEarly), ms(cfg.Deadline+barHangSlack),
		met(sum.Bar.HangMet, sum.Bar.HangMaxMS))
	best := ""
	if sum.Bar.HedgeBest != "" {
		best = " by " + sum.Bar.HedgeBest
	}
	_, err := fmt.Fprintf(w, "Bar with hedging: p99 %s× lower%s (want >= %g× with extra calls within the budget: %s)\n",
		fmtNum(sum.Bar.HedgeP99, 2), best, barHedgeP99, met(sum.Bar.HedgeMet, sum.Bar.HedgeP99))
	return err
}

// writeThroughput prints the throughput phase's table and ratios.
func writeThroughput(w io.Writer, tw *tabwriter.Writer, cfg config, sum summary) error {
	fmt.Fprintf(w, "Throughput: %d closed-loop clients for %v after %v warm-up; medians of %d runs per gateway.\n",
		cfg.Clients, cfg.Duration, cfg.Warmup, cfg.Count)
	fmt.Fprintf(w, "Light: %g req/s paced over %d clients for %v; added latency is light p50/p99 minus the direct call's.\n",
		cfg.LightRate, cfg.LightClients, cfg.LightDuration)
	fmt.Fprintf(w, "3 upstreams of ~%d bytes each, deadline %v, every request a new user id.\n\n", cfg.Size, cfg.Deadline)
	fmt.Fprintln(tw, "backend\tgateway\truns\treq/s\tCPU µs/req\tpeak RSS MB\tp50 ms\tp99 ms\tlight p50 ms\tlight p99 ms\tadded p50 ms\tadded p99 ms\terrors\tnon-2xx\tincomplete\t")
	for _, g := range sum.Throughput {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t\n",
			fmtNum(g.BackendMS, 0)+" ms", g.Gateway, g.Runs, fmtNum(g.RPS, 0), fmtNum(g.CPUUSPerReq, 1), fmtNum(g.PeakRSSMB, 1),
			fmtNum(g.P50MS, 2), fmtNum(g.P99MS, 2), fmtNum(g.LightP50MS, 3), fmtNum(g.LightP99MS, 3),
			fmtNum(g.AddedP50MS, 3), fmtNum(g.AddedP99MS, 3), g.Errors, g.Non2xx, g.Incomplete)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range sum.Throughput {
		if g.Incorrect != "" {
			fmt.Fprintf(w, "WARNING: %s's answer at %s ms backends is not the plain merge: %s\n", g.Gateway, fmtNum(g.BackendMS, 0), g.Incorrect)
		}
	}
	fmt.Fprintln(w)
	for _, r := range sum.Ratios {
		diff := fmtNum(r.AddedP50, 3)
		if diff != "-" && r.AddedP50 >= 0 {
			diff = "+" + diff
		}
		fmt.Fprintf(w, "trawl/lura at %s ms backends: req/s %s×, CPU per request %s×, added p50 %s ms (trawl minus lura)\n",
			fmtNum(r.BackendMS, 0), fmtNum(r.RPS, 2), fmtNum(r.CPUPerReq, 2), diff)
		if !math.IsNaN(float64(r.PlainRPS)) {
			fmt.Fprintf(w, "trawl/plain at %s ms backends: req/s %s×, CPU per request %s×\n", fmtNum(r.BackendMS, 0), fmtNum(r.PlainRPS, 2), fmtNum(r.PlainCPU, 2))
		}
		if !math.IsNaN(float64(r.BeforeRPS)) {
			fmt.Fprintf(w, "trawl/before at %s ms backends: req/s %s×, CPU per request %s×\n", fmtNum(r.BackendMS, 0), fmtNum(r.BeforeRPS, 2), fmtNum(r.BeforeCPU, 2))
		}
	}
	return nil
}

// met describes whether a bar was met; "not measured" when x is NaN.
func met(ok bool, x num) string {
	switch {
	case math.IsNaN(float64(x)):
		return "not measured"
	case ok:
		return "met"
	default:
		return "NOT met"
	}
}

// fmtNum formats x with prec decimals, "-" for NaN.
func fmtNum(x num, prec int) string {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return "-"
	}
	return strconv.FormatFloat(float64(x), 'f', prec, 64)
}

// ms formats d in milliseconds with up to 3 decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(math.Round(float64(d)/float64(time.Microsecond))/1000, 'f', -1, 64)
}

// us formats d in microseconds with one decimal, "-" when negative
// (unknown).
func us(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64)
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
