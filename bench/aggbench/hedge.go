package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Upstream latency of the hedging phase: lognormal, median 20ms, p99 200ms.
const hedgeLatency = "lognormal:20ms,200ms"

// hedgeDeadline is the endpoint timeout of the hedging phase: long enough
// that the upstream's tail, not the deadline, decides the p99.
const hedgeDeadline = time.Second

// runHedgePhase starts one upstream with lognormal latency and measures Trawl
// on an endpoint that calls it, with hedging off and on, -count times each,
// interleaved.
func (b *bench) runHedgePhase(ctx context.Context, add func(sample) error) error {
	fmt.Fprintf(b.progress, "aggbench: starting 1 upstream with %s latency\n", hedgeLatency)
	ups, err := b.startUpstreamsWith(ctx, 1, -1, "-latency-dist", hedgeLatency)
	if err != nil {
		return err
	}
	for i := range b.cfg.Count {
		order := []string{gwTrawl, gwHedged}
		if i%2 == 1 {
			order = []string{gwHedged, gwTrawl}
		}
		for _, gw := range order {
			if err == nil {
				err = add(b.runHedged(ctx, gw, ups.urls[0], i+1))
			}
		}
	}
	return errors.Join(err, ups.stop(), ctx.Err())
}

// runHedged measures one run of the hedging phase: gw is gwTrawl (no
// hedging) or gwHedged.
func (b *bench) runHedged(ctx context.Context, gw, upstream string, run int) (s sample) {
	fmt.Fprintf(b.progress, "aggbench: run %d hedge %s ...\n", run, gw)
	s = sample{Phase: phaseHedge, Gateway: gw, Run: run, CPU: -1}
	addr, err := freeAddr()
	if err != nil {
		s.Err = err
		return s
	}
	g, err := b.startAggregator(ctx, gwTrawl, addr, hedgeConfig(addr, upstream, gw == gwHedged, b.cfg.HedgePct, b.cfg.HedgeBudget))
	if err != nil {
		s.Err = err
		return s
	}
	defer func() {
		if err := g.stop(); err != nil && s.Err == nil {
			s.Err = err
		}
	}()
	spec := loadSpec{Addr: g.addr, Prefix: "/users/", IDs: &b.ids, Clients: b.cfg.Clients, Timeout: requestTimeout}
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
// calls the one upstream, hedged or not.
func hedgeConfig(addr, upstream string, hedged bool, pct, budget float64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by aggbench: the hedging phase.\nserver:\n  addr: %s\n  write_timeout: 10s\n", strconv.Quote(addr))
	fmt.Fprintf(&b, "endpoints:\n  - path: /users/:id\n    timeout: %s\n    backends:\n", hedgeDeadline)
	fmt.Fprintf(&b, "      - name: user\n        url: %s\n", strconv.Quote(upstream+"/users/{id}"))
	if hedged {
		fmt.Fprintf(&b, "        hedge: {percentile: %g, budget: %g, delay: 50ms}\n", pct, budget)
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
