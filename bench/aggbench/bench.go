package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Gateway names as they appear in the output.
const (
	gwTrawl  = "trawl"  // cmd/aggregator
	gwLura   = "lura"   // bench/peers/lura
	gwPlain  = "plain"  // bench/peers/plain: net/http + encoding/json, written the obvious way
	gwBefore = "before" // another cmd/aggregator build (-before)
	gwDirect = "direct" // no gateway: the first upstream, called straight
)

// Phases of a measurement.
const (
	phaseThroughput = "throughput"
	phaseHang       = "hang"
	phaseHedge      = "hedge"
)

// requestTimeout is the load generator's limit for one response, far above
// the gateways' deadline so that a gateway that overruns it is measured, not
// cut off.
const requestTimeout = 5 * time.Second

// sample is one measurement of one gateway (or of the direct baseline).
type sample struct {
	Phase   string
	Gateway string
	Backend time.Duration // the upstreams' latency
	Run     int           // 1-based

	Load      loadResult    // the throughput or hang phase
	CPU       time.Duration // the gateway's CPU time during Load; -1 when unknown
	Light     loadResult    // the light phase (added latency); zero when skipped
	Err       error         // the measurement failed; left out of the summary
	Incorrect string        // why the gateway's answer was not the merge of the three upstreams ("" when it was)
	PeakRSS   int64         // the gateway's peak resident set in bytes (VmHWM) at the end of the run; 0 when unknown
	Hedges    float64       // hedging phase: second calls sent, from the gateway's metrics
	Calls     float64       // hedging phase: backend calls, from the gateway's metrics
}

// cpuPerRequest returns the gateway's CPU time per response, or -1 when
// unknown.
func (s sample) cpuPerRequest() time.Duration {
	if s.CPU < 0 || s.Load.Requests == 0 {
		return -1
	}
	return s.CPU / time.Duration(s.Load.Requests)
}

// bench runs the measurements.
type bench struct {
	cfg      config
	work     string
	progress io.Writer
	emit     func(any) error // called with each sample's record; nil means none
	ids      atomic.Uint64   // user ids: every request of the whole run asks for a new one
}

// upstreams is a set of running testserver api processes.
type upstreams struct {
	children []*child
	urls     []string // "http://127.0.0.1:port", in benchBackends order
}

// stop stops every upstream.
func (u *upstreams) stop() error {
	var errs []error
	for _, c := range u.children {
		errs = append(errs, c.stop())
	}
	return errors.Join(errs...)
}

// startUpstreams starts one testserver api per benchmark backend with
// latency; the one at index hang (if any) never answers.
func (b *bench) startUpstreams(ctx context.Context, latency time.Duration, hang int) (*upstreams, error) {
	return b.startUpstreamsWith(ctx, len(benchBackends()), hang, "-latency", latency.String())
}

// startUpstreamsWith starts n testserver api processes with the latency
// flags given; the one at index hang (if any) never answers.
func (b *bench) startUpstreamsWith(ctx context.Context, n, hang int, latency ...string) (*upstreams, error) {
	u := &upstreams{}
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			u.stop()
			return nil, err
		}
		args := append([]string{"api", "-addr", addr, "-size", strconv.Itoa(b.cfg.Size), "-seed", strconv.Itoa(i + 1)}, latency...)
		if i == hang {
			args = append(args, "-hang")
		}
		name := fmt.Sprintf("upstream%d", i+1)
		c, err := startChild(name, b.cfg.Testserver, args, nil, b.work)
		if err == nil {
			u.children = append(u.children, c)
			err = c.waitReady(ctx, dialReady(addr))
		}
		if err != nil {
			u.stop()
			return nil, err
		}
		u.urls = append(u.urls, "http://"+addr)
	}
	return u, nil
}

// gateway is a running gateway process.
type gateway struct {
	*child
	name string
	addr string // host:port
}

// gateways returns the gateways of the throughput phases: Trawl and Lura,
// and the plain fan-out and the earlier build when given.
func (b *bench) gateways() []string {
	gws := []string{gwTrawl, gwLura}
	if b.cfg.Plain != "" {
		gws = append(gws, gwPlain)
	}
	if b.cfg.Before != "" {
		gws = append(gws, gwBefore)
	}
	return gws
}

// startGateway writes name's config for ups and starts it; it returns once
// the gateway's health endpoint answers 200.
func (b *bench) startGateway(ctx context.Context, name string, ups *upstreams) (*gateway, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	switch name {
	case gwTrawl, gwBefore:
		return b.startAggregator(ctx, name, addr, aggregatorConfig(addr, b.cfg.Deadline, ups.urls))
	case gwLura:
		_, portStr, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portStr)
		file := filepath.Join(b.work, "lura.json")
		if err := os.WriteFile(file, luraConfig(port, b.cfg.Deadline, ups.urls), 0o600); err != nil {
			return nil, fmt.Errorf("write Lura config: %w", err)
		}
		args := []string{"-config", file, "-access-log=" + strconv.FormatBool(b.cfg.AccessLog)}
		return b.launch(ctx, name, b.cfg.Lura, args, addr, "/__health")
	case gwPlain:
		args := []string{"-addr", addr, "-timeout", b.cfg.Deadline.String()}
		for i, be := range benchBackends() {
			args = append(args, "-backend", ups.urls[i]+be.Path)
		}
		return b.launch(ctx, name, b.cfg.Plain, args, addr, "/healthz")
	default:
		panic("aggbench: unknown gateway " + name)
	}
}

// startAggregator starts a cmd/aggregator build (Trawl's, or -before's for
// gwBefore) on addr with the config given.
func (b *bench) startAggregator(ctx context.Context, name, addr string, config []byte) (*gateway, error) {
	file := filepath.Join(b.work, "aggregator.yaml")
	if err := os.WriteFile(file, config, 0o600); err != nil {
		return nil, fmt.Errorf("write aggregator config: %w", err)
	}
	level := "info" // one access log line per request
	if !b.cfg.AccessLog {
		level = "warn"
	}
	bin := b.cfg.Aggregator
	if name == gwBefore {
		bin = b.cfg.Before
	}
	return b.launch(ctx, name, bin, []string{"-config", file, "-log-level", level}, addr, "/healthz")
}

// launch starts bin as gateway name on addr and waits for health to answer.
func (b *bench) launch(ctx context.Context, name, bin string, args []string, addr, health string) (*gateway, error) {
	var env []string
	if b.cfg.GOGC != "" {
		env = append(env, "GOGC="+b.cfg.GOGC)
	}
	c, err := startChild(name, bin, args, env, b.work)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, httpReady("http://"+addr+health)); err != nil {
		c.stop()
		return nil, err
	}
	return &gateway{child: c, name: name, addr: addr}, nil
}

// runAll runs every phase and returns the samples so far with the first
// error that stopped it. A failed measurement is kept, with its Err, and
// does not stop the others.
func (b *bench) runAll(ctx context.Context) ([]sample, error) {
	var samples []sample
	var failed []error
	add := func(s sample) error {
		samples = append(samples, s)
		if s.Err != nil {
			failed = append(failed, fmt.Errorf("%s %s backend %v run %d: %w", s.Phase, s.Gateway, s.Backend, s.Run, s.Err))
		}
		b.report(s)
		if b.emit != nil {
			return b.emit(s.record(b.cfg))
		}
		return nil
	}
	gws := b.gateways()
	order := func(i int) []string { // rotate who goes first: none always meets the warmer machine
		return append(slices.Clone(gws[i%len(gws):]), gws[:i%len(gws)]...)
	}

	for _, lat := range b.cfg.Latencies {
		if b.cfg.Duration == 0 {
			break // -duration 0: no throughput phase
		}
		fmt.Fprintf(b.progress, "aggbench: starting 3 upstreams with %v latency\n", lat)
		ups, err := b.startUpstreams(ctx, lat, -1)
		if err != nil {
			return samples, errors.Join(append(failed, err)...)
		}
		want, err := upstreamKeys(ctx, ups)
		for i := range b.cfg.Count {
			if err != nil {
				break
			}
			if b.cfg.LightDuration > 0 {
				err = add(b.runDirect(ctx, lat, ups, i+1))
			}
			for _, gw := range order(i) {
				if err == nil {
					err = add(b.runGateway(ctx, phaseThroughput, gw, lat, ups, want, i+1))
				}
			}
		}
		err = errors.Join(err, ups.stop(), ctx.Err())
		if err != nil {
			return samples, errors.Join(append(failed, err)...)
		}
	}

	if b.cfg.HangDuration > 0 {
		fmt.Fprintf(b.progress, "aggbench: starting 3 upstreams, the second accepting connections and never answering\n")
		ups, err := b.startUpstreams(ctx, 0, 1)
		if err != nil {
			return samples, errors.Join(append(failed, err)...)
		}
		for i := range b.cfg.Count {
			for _, gw := range order(i) {
				if err == nil && gw != gwBefore {
					err = add(b.runGateway(ctx, phaseHang, gw, 0, ups, nil, i+1))
				}
			}
		}
		if err = errors.Join(err, ups.stop(), ctx.Err()); err != nil {
			return samples, errors.Join(append(failed, err)...)
		}
	}
	if b.cfg.HedgeDuration > 0 {
		if err := b.runHedgePhase(ctx, add); err != nil {
			return samples, errors.Join(append(failed, err)...)
		}
	}
	return samples, errors.Join(failed...)
}

// runDirect measures the light load sent straight to the first upstream:
// the baseline of the gateways' added latency.
func (b *bench) runDirect(ctx context.Context, lat time.Duration, ups *upstreams, run int) sample {
	fmt.Fprintf(b.progress, "aggbench: run %d direct, backend %v ...\n", run, lat)
	return sample{
		Phase: phaseThroughput, Gateway: gwDirect, Backend: lat, Run: run, CPU: -1,
		Light: runLoad(ctx, b.lightSpec(strings.TrimPrefix(ups.urls[0], "http://"))),
	}
}

// lightSpec returns the light phase's load on addr.
func (b *bench) lightSpec(addr string) loadSpec {
	interval := time.Duration(float64(b.cfg.LightClients) / b.cfg.LightRate * float64(time.Second))
	return loadSpec{Addr: addr, Prefix: "/users/", IDs: &b.ids, Clients: b.cfg.LightClients,
		Duration: b.cfg.LightDuration, Timeout: requestTimeout, Interval: interval, Stagger: interval}
}

// runGateway starts gw, checks its answer against want (the upstreams'
// top-level keys; nil skips the check), warms it up and measures it.
func (b *bench) runGateway(ctx context.Context, phase, gw string, lat time.Duration, ups *upstreams, want []string, run int) (s sample) {
	fmt.Fprintf(b.progress, "aggbench: run %d %s %s, backend %v ...\n", run, phase, gw, lat)
	s = sample{Phase: phase, Gateway: gw, Backend: lat, Run: run, CPU: -1}
	g, err := b.startGateway(ctx, gw, ups)
	if err != nil {
		s.Err = err
		return s
	}
	defer func() {
		if err := g.stop(); err != nil && s.Err == nil {
			s.Err = err // s is the named result: the caller sees this
		}
	}()
	if want != nil {
		got, err := topLevelKeys(ctx, "http://"+g.addr+"/users/0")
		switch {
		case err != nil:
			s.Err = err
			return s
		case !slices.Equal(got, want):
			s.Incorrect = fmt.Sprintf("top-level keys %q, want the upstreams' %q", got, want)
		}
	}
	spec := loadSpec{Addr: g.addr, Prefix: "/users/", IDs: &b.ids, Clients: b.cfg.Clients, Timeout: requestTimeout}
	if phase == phaseThroughput && b.cfg.Warmup > 0 {
		spec.Duration = b.cfg.Warmup
		runLoad(ctx, spec)
	}
	spec.Duration = b.cfg.Duration
	if phase == phaseHang {
		spec.Duration = b.cfg.HangDuration
		spec.Stagger = b.cfg.Deadline // every request takes the deadline: spread them
	}
	cpu0, cpuErr := cpuTime(g.pid())
	s.Load = runLoad(ctx, spec)
	cpu1, cpuErr1 := cpuTime(g.pid())
	if cpuErr == nil && cpuErr1 == nil {
		s.CPU = cpu1 - cpu0
	}
	if phase == phaseThroughput && b.cfg.LightDuration > 0 {
		s.Light = runLoad(ctx, b.lightSpec(g.addr))
	}
	s.PeakRSS, _ = peakRSS(g.pid())
	if s.Load.Requests == 0 {
		s.Err = fmt.Errorf("no response in %v: %s", spec.Duration, s.Load.FirstError)
	}
	return s
}

// report prints one line about s to the progress writer.
func (b *bench) report(s sample) {
	switch {
	case s.Err != nil:
		fmt.Fprintf(b.progress, "aggbench: run %d %s %s failed: %v\n", s.Run, s.Phase, s.Gateway, s.Err)
	case s.Gateway == gwDirect && s.Phase == phaseThroughput: // the light load only
		fmt.Fprintf(b.progress, "aggbench: run %d direct: p50 %s p99 %s ms (%d requests)\n",
			s.Run, ms(percentile(s.Light.Latencies, 0.5)), ms(percentile(s.Light.Latencies, 0.99)), s.Light.Requests)
	default:
		fmt.Fprintf(b.progress, "aggbench: run %d %s %s: %.0f req/s, %s µs CPU/req, p50 %s p99 %s max %s ms, %d errors, %d non-2xx, %d incomplete\n",
			s.Run, s.Phase, s.Gateway, s.Load.rps(), us(s.cpuPerRequest()),
			ms(percentile(s.Load.Latencies, 0.5)), ms(percentile(s.Load.Latencies, 0.99)), ms(percentile(s.Load.Latencies, 1)),
			s.Load.Errors, s.Load.Non2xx, s.Load.Incomplete)
		if s.Incorrect != "" {
			fmt.Fprintf(b.progress, "aggbench: run %d %s: WARNING: answer is not the plain merge: %s\n", s.Run, s.Gateway, s.Incorrect)
		}
	}
}

// upstreamKeys returns the sorted union of the top-level keys of the three
// upstream documents for user 0: what a plain merge must contain.
func upstreamKeys(ctx context.Context, ups *upstreams) ([]string, error) {
	set := map[string]bool{}
	for i, be := range benchBackends() {
		keys, err := topLevelKeys(ctx, ups.urls[i]+strings.ReplaceAll(be.Path, "{id}", "0"))
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// topLevelKeys GETs url and returns the sorted top-level keys of the JSON
// object it answers with 200.
func topLevelKeys(ctx context.Context, url string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("GET %s: not a JSON object: %w", url, err)
	}
	return slices.Sorted(maps.Keys(obj)), nil
}
