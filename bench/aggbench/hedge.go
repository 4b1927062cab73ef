package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Upstream latency of the hedging phase: lognormal, median 20ms, p99 200ms.
const (
	hedgeMedian  = 20 * time.Millisecond
	hedgeP99     = 200 * time.Millisecond
	hedgeLatency = "lognormal:20ms,200ms" // the testserver's -latency-dist for hedgeMedian, hedgeP99
)

// hedgeVariant is one hedged configuration of the hedging phase; its zero
// value means no hedging.
type hedgeVariant struct {
	Pct    float64 // hedge.percentile
	Budget float64 // hedge.budget, in percent
	Direct bool    // no gateway: the upstream called straight, to see what the machine adds to its latency
}

// name is the variant's gateway name in the output.
func (v hedgeVariant) name() string {
	switch {
	case v.Direct:
		return gwDirect
	case v == (hedgeVariant{}):
		return gwTrawl
	}
	return fmt.Sprintf("trawl+hedge p%g/%g%%", v.Pct, v.Budget)
}

// parseHedges parses -hedge: comma-separated PERCENTILE/BUDGET pairs, or
// "none".
func parseHedges(s string) ([]hedgeVariant, error) {
	if strings.TrimSpace(s) == "none" {
		return nil, nil
	}
	var out []hedgeVariant
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ps, bs, ok := strings.Cut(f, "/")
		pct, err1 := strconv.ParseFloat(ps, 64)
		budget, err2 := strconv.ParseFloat(bs, 64)
		switch {
		case !ok || err1 != nil || err2 != nil:
			return nil, fmt.Errorf("%q: want PERCENTILE/BUDGET, such as 90/10", f)
		case !(pct > 0 && pct < 100) || !(budget > 0 && budget <= 100):
			return nil, fmt.Errorf("%q: want a percentile above 0 and below 100 and a budget above 0 and at most 100", f)
		}
		v := hedgeVariant{Pct: pct, Budget: budget}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("%q given twice", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New(`no variant given (use "none" for none)`)
	}
	return out, nil
}

// modelHedgeP99 returns the p99 of the hedging phase's upstream latency
// when every call still unanswered at exactly its pct percentile (0: never)
// is sent again, the calls' latencies independent: the best that hedging
// at that percentile can do, with a budget that never runs dry and no cost
// of its own. The p99 t solves P(X > t)·P(X > t-d) = 1 % for t > d, the
// percentile d.
func modelHedgeP99(pct float64) time.Duration {
	sigma := math.Log(float64(hedgeP99)/float64(hedgeMedian)) / z99
	surv := func(t float64) float64 { // P(X > t), t in nanoseconds
		if t <= 0 {
			return 1
		}
		return math.Erfc(math.Log(t/float64(hedgeMedian))/(sigma*math.Sqrt2)) / 2
	}
	d := math.Inf(1)
	if pct > 0 {
		d = float64(hedgeMedian) * math.Exp(sigma*math.Sqrt2*math.Erfinv(2*pct/100-1))
	}
	tail := func(t float64) float64 {
		if t <= d {
			return surv(t)
		}
		return surv(t) * surv(t-d)
	}
	lo, hi := 0.0, float64(hedgeP99)*2
	for range 100 { // tail falls as t grows: bisect for 1 %
		if m := (lo + hi) / 2; tail(m) > 0.01 {
			lo = m
		} else {
			hi = m
		}
	}
	return time.Duration(hi)
}

// z99 is the 99th percentile of the standard normal distribution.
const z99 = 2.3263478740408408

// hedgeDeadline is the endpoint timeout of the hedging phase: long enough
// that the upstream's tail, not the deadline, decides the p99.
const hedgeDeadline = time.Second

// runHedgePhase starts one upstream with lognormal latency and measures Trawl
// on an endpoint that calls it, with hedging off and with each variant, and
// the same load sent straight to the upstream, -count times each,
// interleaved (who goes first rotates).
func (b *bench) runHedgePhase(ctx context.Context, add func(sample) error) error {
	fmt.Fprintf(b.progress, "aggbench: starting 1 upstream with %s latency\n", hedgeLatency)
	ups, err := b.startUpstreamsWith(ctx, 1, -1, "-latency-dist", hedgeLatency)
	if err != nil {
		return err
	}
	variants := append([]hedgeVariant{{Direct: true}, {}}, b.cfg.Hedges...)
	for i := range b.cfg.Count {
		k := i % len(variants)
		for _, v := range append(slices.Clone(variants[k:]), variants[:k]...) {
			if err == nil {
				err = add(b.runHedged(ctx, v, ups.urls[0], i+1))
			}
		}
	}
	return errors.Join(err, ups.stop(), ctx.Err())
}

// runHedged measures one run of the hedging phase with variant v (its zero
// value: no hedging).
func (b *bench) runHedged(ctx context.Context, v hedgeVariant, upstream string, run int) (s sample) {
	fmt.Fprintf(b.progress, "aggbench: run %d hedge %s ...\n", run, v.name())
	s = sample{Phase: phaseHedge, Gateway: v.name(), Run: run, CPU: -1}
	if v.Direct {
		spec := loadSpec{Addr: strings.TrimPrefix(upstream, "http://"), Prefix: "/users/", IDs: &b.ids,
			Clients: b.cfg.HedgeClients, Timeout: requestTimeout, Duration: b.cfg.HedgeDuration}
		if s.Load = runLoad(ctx, spec); s.Load.Requests == 0 {
			s.Err = fmt.Errorf("no response in %v: %s", spec.Duration, s.Load.FirstError)
		}
		return s
	}
	addr, err := freeAddr()
	if err != nil {
		s.Err = err
		return s
	}
	g, err := b.startAggregator(ctx, gwTrawl, addr, hedgeConfig(addr, upstream, v))
	if err != nil {
		s.Err = err
		return s
	}
	defer func() {
		if err := g.stop(); err != nil && s.Err == nil {
			s.Err = err
		}
	}()
	spec := loadSpec{Addr: g.addr, Prefix: "/users/", IDs: &b.ids, Clients: b.cfg.HedgeClients, Timeout: requestTimeout}
	if b.cfg.Warmup > 0 {
		spec.Duration = b.cfg.Warmup
		runLoad(ctx, spec)
	}
	calls0, hedges0, err := hedgeCounts(ctx, g.addr)
	if err != nil {
		s.Err = err
		return s
	}
	spec.Duration = b.cfg.HedgeDuration
	cpu0, cpuErr := cpuTime(g.pid())
	s.Load = runLoad(ctx, spec)
	cpu1, cpuErr1 := cpuTime(g.pid())
	if cpuErr == nil && cpuErr1 == nil {
		s.CPU = cpu1 - cpu0
	}
	calls1, hedges1, err := hedgeCounts(ctx, g.addr)
	if err != nil {
		s.Err = err
		return s
	}
	s.Calls, s.Hedges = calls1-calls0, hedges1-hedges0
	s.PeakRSS, _ = peakRSS(g.pid())
	if s.Load.Requests == 0 {
		s.Err = fmt.Errorf("no response in %v: %s", spec.Duration, s.Load.FirstError)
	}
	return s
}

// hedgeConfig is the aggregator's config of the hedging phase: /users/:id
// calls the one upstream, hedged as v says.
func hedgeConfig(addr, upstream string, v hedgeVariant) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by aggbench: the hedging phase.\nserver:\n  addr: %s\n  write_timeout: 10s\n", strconv.Quote(addr))
	fmt.Fprintf(&b, "endpoints:\n  - path: /users/:id\n    timeout: %s\n    backends:\n", hedgeDeadline)
	fmt.Fprintf(&b, "      - name: user\n        url: %s\n", strconv.Quote(upstream+"/users/{id}"))
	if v != (hedgeVariant{}) {
		fmt.Fprintf(&b, "        hedge: {percentile: %g, budget: %g, delay: 50ms}\n", v.Pct, v.Budget)
	}
	return []byte(b.String())
}

// hedgeCounts scrapes the gateway's metrics: backend calls made for
// requests (every outcome) and second calls sent.
func hedgeCounts(ctx context.Context, addr string) (calls, hedges float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, rest, _ := strings.Cut(line, "{")
		_, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(val, 64)
		if perr != nil {
			continue
		}
		switch name {
		case "aggregator_backend_requests_total":
			calls += v
		case "aggregator_backend_hedges_total":
			hedges += v
		}
	}
	return calls, hedges, sc.Err()
}
