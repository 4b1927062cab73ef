package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// The bars for Trawl against Colly. The normal mode's and the scale mode's
// differ in CPU and memory; the rest hold in both.
const (
	barCPURatioNormal = 4.0     // Trawl's pages per CPU-second over Colly's, at least
	barRSSRatioNormal = 1.0 / 8 // Trawl's peak RSS over Colly's, at most
	barCPURatioScale  = 2.0     // as barCPURatioNormal, in scale mode
	barRSSMiBScale    = 120.0   // Trawl's peak RSS in MiB, at most, in scale mode
	// barRateRatio is the least median, over the Trawl runs, of the crawl
	// rate over the last window of pages divided by the rate over the first.
	barRateRatio = 0.9
	// barPagesShare is the share of the page budget that Trawl must reach in
	// distinct /p/ pages. The testserver does not count the hosts' root pages
	// (the seeds), which the crawler does count against --max-pages.
	barPagesShare = 0.99
)

// thresholds are the bars of one mode.
type thresholds struct {
	CPURatio   float64 `json:"cpu_ratio"`           // Trawl/Colly pages per CPU-second, at least
	RSSRatio   float64 `json:"rss_ratio,omitempty"` // Trawl/Colly peak RSS, at most; 0: no such bar in this mode
	RSSMiB     float64 `json:"rss_mib,omitempty"`   // Trawl's peak RSS in MiB, at most; 0: no such bar in this mode
	RateRatio  float64 `json:"rate_ratio"`          // Trawl's median last/first window rate, at least
	PagesShare float64 `json:"pages_share"`         // of the page budget, fetched by every Trawl run, at least
}

// thresholdsFor returns the bars of cfg's mode.
func thresholdsFor(cfg config) thresholds {
	t := thresholds{CPURatio: barCPURatioNormal, RSSRatio: barRSSRatioNormal, RateRatio: barRateRatio, PagesShare: barPagesShare}
	if cfg.Scale {
		t.CPURatio, t.RSSRatio, t.RSSMiB = barCPURatioScale, 0, barRSSMiBScale
	}
	return t
}

// runRecord is the JSON form of a sample.
type runRecord struct {
	Type         string  `json:"type"` // "run"
	Tool         string  `json:"tool"`
	Run          int     `json:"run"`
	Pages        int64   `json:"pages"`
	Hits         int64   `json:"hits"`
	Duplicates   int64   `json:"duplicates"`
	SelfPages    *int64  `json:"self_pages,omitempty"`
	WallS        float64 `json:"wall_s"`
	PagesPerS    float64 `json:"pages_per_s"`
	UserS        float64 `json:"user_s"`
	SysS         float64 `json:"sys_s"`
	CPUS         float64 `json:"cpu_s"`
	PagesPerCPUS float64 `json:"pages_per_cpu_s"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	// WindowPages is the size of the rate windows, 0 when the run has none;
	// the three rates below are null then.
	WindowPages int64    `json:"window_pages"`
	FirstRate   *float64 `json:"first_window_pages_per_s"`
	LastRate    *float64 `json:"last_window_pages_per_s"`
	RateRatio   *float64 `json:"rate_ratio"` // last/first
	Error       string   `json:"error,omitempty"`
}

func (s sample) record() runRecord {
	r := runRecord{
		Type:         "run",
		Tool:         s.Tool,
		Run:          s.Run,
		Pages:        s.Pages,
		Hits:         s.Hits,
		Duplicates:   s.Duplicates,
		WallS:        s.Usage.Wall.Seconds(),
		PagesPerS:    s.pagesPerSecond(),
		UserS:        s.Usage.User.Seconds(),
		SysS:         s.Usage.Sys.Seconds(),
		CPUS:         s.cpuSeconds(),
		PagesPerCPUS: s.pagesPerCPUSecond(),
		PeakRSSBytes: s.Usage.PeakRSS,
		PeakRSSMiB:   s.peakRSSMiB(),
	}
	if s.SelfPages >= 0 {
		r.SelfPages = &s.SelfPages
	}
	if w := s.Windows; w.ok() {
		r.WindowPages = w.Size
		r.FirstRate, r.LastRate, r.RateRatio = finite(w.First), finite(w.Last), finite(w.ratio())
	}
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	return r
}

// toolSummary holds the medians of one tool's successful runs.
type toolSummary struct {
	Tool          string  `json:"tool"`
	Runs          int     `json:"runs"`   // successful runs the medians are over
	Failed        int     `json:"failed"` // runs left out because they failed
	Pages         float64 `json:"pages"`
	Hits          float64 `json:"hits"`
	WallS         float64 `json:"wall_s"`
	PagesPerS     float64 `json:"pages_per_s"`
	CPUS          float64 `json:"cpu_s"`
	PagesPerCPUS  float64 `json:"pages_per_cpu_s"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	Duplicates    float64 `json:"duplicates"`     // median
	MaxDuplicates int64   `json:"max_duplicates"` // over the successful runs
	MinPages      int64   `json:"min_pages"`      // over the successful runs
	// The rate windows' medians over the successful runs that have them
	// (WindowRuns); 0 when none has.
	WindowRuns   int     `json:"window_runs"`
	FirstRate    float64 `json:"first_window_pages_per_s"`
	LastRate     float64 `json:"last_window_pages_per_s"`
	RateRatio    float64 `json:"rate_ratio"`     // median of the runs' last/first
	MinRateRatio float64 `json:"min_rate_ratio"` // the lowest run's last/first
}

// summary compares the tools. A ratio is nil when either side has no
// successful run or a zero denominator.
type summary struct {
	Type        string      `json:"type"` // "summary"
	Mode        string      `json:"mode"` // "normal" or "scale": which bars apply
	Hosts       int         `json:"hosts"`
	SitePages   int         `json:"site_pages"`
	Links       int         `json:"links"`
	MaxPages    int         `json:"max_pages"`
	Parallelism int         `json:"parallelism"`
	Window      int         `json:"window"` // rate window asked for; see each run's window_pages
	Trawl       toolSummary `json:"trawl"`
	Colly       toolSummary `json:"colly"`
	// CPURatio is Trawl's median pages per CPU-second over Colly's.
	CPURatio *float64 `json:"cpu_ratio"`
	// RSSRatio is Trawl's median peak RSS over Colly's.
	RSSRatio *float64 `json:"rss_ratio"`
	// RateRatio is the median over the Trawl runs of the last window's rate
	// over the first's; nil when no Trawl run has rate windows.
	RateRatio  *float64   `json:"rate_ratio"`
	Thresholds thresholds `json:"thresholds"`
	Bar        bar        `json:"bar"`
}

// bar says which bars of the mode Trawl met.
type bar struct {
	CPU        bool `json:"cpu"`        // CPURatio ≥ Thresholds.CPURatio
	RSS        bool `json:"rss"`        // RSSRatio ≤ Thresholds.RSSRatio, or Trawl's peak RSS ≤ Thresholds.RSSMiB
	Duplicates bool `json:"duplicates"` // no URL fetched twice in any successful Trawl run
	Rate       bool `json:"rate"`       // RateRatio ≥ Thresholds.RateRatio
	Pages      bool `json:"pages"`      // every successful Trawl run fetched at least 99% of the page budget
	Met        bool `json:"met"`        // all of the above, with every Trawl run successful
}

// passed returns the names of the bars met and of those missed.
func (b bar) passed() (met, missed []string) {
	for _, c := range []struct {
		name string
		ok   bool
	}{{"cpu", b.CPU}, {"rss", b.RSS}, {"duplicates", b.Duplicates}, {"rate", b.Rate}, {"pages", b.Pages}} {
		if c.ok {
			met = append(met, c.name)
		} else {
			missed = append(missed, c.name)
		}
	}
	return met, missed
}

// summarize computes the per-tool medians, the ratios and the bar of cfg's
// mode.
func summarize(cfg config, samples []sample) summary {
	sum := summary{
		Type:        "summary",
		Mode:        cfg.mode(),
		Hosts:       cfg.Hosts,
		SitePages:   cfg.Pages,
		Links:       cfg.Links,
		MaxPages:    cfg.MaxPages,
		Parallelism: cfg.Parallelism,
		Window:      cfg.Window,
		Trawl:       summarizeTool(toolTrawl, samples),
		Colly:       summarizeTool(toolColly, samples),
		Thresholds:  thresholdsFor(cfg),
	}
	t, c, th := sum.Trawl, sum.Colly, sum.Thresholds
	if t.Runs > 0 && c.Runs > 0 {
		sum.CPURatio = finite(ratio(t.PagesPerCPUS, c.PagesPerCPUS))
		sum.RSSRatio = finite(ratio(t.PeakRSSMiB, c.PeakRSSMiB))
	}
	if t.WindowRuns > 0 {
		sum.RateRatio = finite(t.RateRatio)
	}
	sum.Bar.CPU = sum.CPURatio != nil && *sum.CPURatio >= th.CPURatio
	if th.RSSMiB > 0 {
		sum.Bar.RSS = t.Runs > 0 && t.PeakRSSMiB > 0 && t.PeakRSSMiB <= th.RSSMiB
	} else {
		sum.Bar.RSS = sum.RSSRatio != nil && *sum.RSSRatio <= th.RSSRatio
	}
	sum.Bar.Duplicates = t.Runs > 0 && t.MaxDuplicates == 0
	sum.Bar.Rate = sum.RateRatio != nil && *sum.RateRatio >= th.RateRatio
	sum.Bar.Pages = t.Runs > 0 && float64(t.MinPages) >= th.PagesShare*float64(cfg.MaxPages)
	sum.Bar.Met = sum.Bar.CPU && sum.Bar.RSS && sum.Bar.Duplicates && sum.Bar.Rate && sum.Bar.Pages && t.Failed == 0
	return sum
}

func summarizeTool(tool string, samples []sample) toolSummary {
	ts := toolSummary{Tool: tool}
	var pages, hits, wall, pps, cpu, ppc, rss, dups, first, last, rr []float64
	for _, s := range samples {
		if s.Tool != tool {
			continue
		}
		if s.Err != nil {
			ts.Failed++
			continue
		}
		if ts.Runs == 0 || s.Pages < ts.MinPages {
			ts.MinPages = s.Pages
		}
		ts.Runs++
		ts.MaxDuplicates = max(ts.MaxDuplicates, s.Duplicates)
		pages = append(pages, float64(s.Pages))
		hits = append(hits, float64(s.Hits))
		wall = append(wall, s.Usage.Wall.Seconds())
		pps = append(pps, s.pagesPerSecond())
		cpu = append(cpu, s.cpuSeconds())
		ppc = append(ppc, s.pagesPerCPUSecond())
		rss = append(rss, s.peakRSSMiB())
		dups = append(dups, float64(s.Duplicates))
		if w := s.Windows; w.ok() {
			if ts.WindowRuns == 0 || w.ratio() < ts.MinRateRatio {
				ts.MinRateRatio = w.ratio()
			}
			ts.WindowRuns++
			first = append(first, w.First)
			last = append(last, w.Last)
			rr = append(rr, w.ratio())
		}
	}
	ts.Pages, ts.Hits, ts.WallS, ts.PagesPerS = median(pages), median(hits), median(wall), median(pps)
	ts.CPUS, ts.PagesPerCPUS, ts.PeakRSSMiB = median(cpu), median(ppc), median(rss)
	ts.Duplicates = median(dups)
	ts.FirstRate, ts.LastRate, ts.RateRatio = median(first), median(last), median(rr)
	return ts
}

// median returns the median of xs, the mean of the middle two for an even
// count, and 0 for none. It does not modify xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// finite returns &x, or nil when x is 0, infinite or NaN.
func finite(x float64) *float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return nil
	}
	return &x
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// writeTable writes every run, the medians and the Trawl/Colly comparison
// with the bars of cfg's mode.
func writeTable(w io.Writer, cfg config, samples []sample, sum summary) error {
	fmt.Fprintf(w, "crawlbench (%s mode): testserver site of %d pages on %d hosts, %d links a page; page budget %d; parallelism %d; politeness off\n",
		sum.Mode, cfg.Pages, cfg.Hosts, cfg.Links, cfg.MaxPages, cfg.Parallelism)
	fmt.Fprintln(w, "pages: distinct /p/ pages served and requests: all requests, both counted by the testserver;")
	fmt.Fprintln(w, "CPU: user+sys of the crawler process; dup URLs: URLs the testserver received more than once;")
	fmt.Fprintf(w, "first, last p/s: pages served per second over the first and the last window of pages (-window %d; half the pages of a shorter crawl)\n", cfg.Window)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttool\tpages\trequests\twall s\tpages/s\tCPU s\tpages/CPU-s\tpeak RSS MiB\tdup URLs\twindow\tfirst p/s\tlast p/s\tlast/first\t")
	for _, s := range samples {
		if s.Err != nil {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t-\t-\t-\t-\t%d\t-\t-\t-\t-\tFAILED\t\n", s.Run, s.Tool, s.Pages, s.Hits, s.Usage.Wall.Seconds(), s.Duplicates)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.0f\t%.1f\t%d\t%s\t\n", s.Run, s.Tool, s.Pages, s.Hits,
			s.Usage.Wall.Seconds(), s.pagesPerSecond(), s.cpuSeconds(), s.pagesPerCPUSecond(), s.peakRSSMiB(), s.Duplicates, windowCells(s.Windows))
	}
	for _, ts := range []toolSummary{sum.Trawl, sum.Colly} {
		if ts.Runs == 0 {
			fmt.Fprintf(tw, "median\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", ts.Tool)
			continue
		}
		rates := "-\t-\t-\t-"
		if ts.WindowRuns > 0 {
			rates = fmt.Sprintf("-\t%.0f\t%.0f\t%.2f", ts.FirstRate, ts.LastRate, ts.RateRatio)
		}
		fmt.Fprintf(tw, "median\t%s\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.1f\t%.0f\t%s\t\n", ts.Tool, ts.Pages, ts.Hits,
			ts.WallS, ts.PagesPerS, ts.CPUS, ts.PagesPerCPUS, ts.PeakRSSMiB, ts.Duplicates, rates)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	th := sum.Thresholds
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Trawl/Colly pages per CPU-second: %s  (bar: >= %gx) %s\n", fmtRatio(sum.CPURatio, "x"), th.CPURatio, verdict(sum.Bar.CPU))
	if th.RSSMiB > 0 {
		peak := "n/a"
		if sum.Trawl.Runs > 0 {
			peak = fmt.Sprintf("%.1f MiB", sum.Trawl.PeakRSSMiB)
		}
		fmt.Fprintf(w, "Trawl peak RSS:                   %s, %s of Colly's  (bar: <= %g MiB) %s\n", peak, fmtRatio(sum.RSSRatio, ""), th.RSSMiB, verdict(sum.Bar.RSS))
	} else {
		fmt.Fprintf(w, "Trawl/Colly peak RSS:             %s  (bar: <= %.3g) %s\n", fmtRatio(sum.RSSRatio, ""), th.RSSRatio, verdict(sum.Bar.RSS))
	}
	fmt.Fprintf(w, "Trawl URLs fetched twice or more: max %d over %d runs  (bar: 0) %s\n", sum.Trawl.MaxDuplicates, sum.Trawl.Runs, verdict(sum.Bar.Duplicates))
	fmt.Fprintf(w, "Trawl last/first window rate:     %s  (bar: median >= %g) %s\n", fmtRateRatios(sum.Trawl), th.RateRatio, verdict(sum.Bar.Rate))
	fmt.Fprintf(w, "Colly last/first window rate:     %s  (for comparison)\n", fmtRateRatios(sum.Colly))
	fmt.Fprintf(w, "Trawl pages fetched:              min %d  (bar: >= %.0f) %s\n", sum.Trawl.MinPages, th.PagesShare*float64(cfg.MaxPages), verdict(sum.Bar.Pages))
	if n := sum.Trawl.Failed + sum.Colly.Failed; n > 0 {
		fmt.Fprintf(w, "failed runs (left out of the medians): trawl %d, colly %d\n", sum.Trawl.Failed, sum.Colly.Failed)
	}
	met, missed := sum.Bar.passed()
	fmt.Fprintf(w, "bars passed: %s; failed: %s\n", fmtNames(met), fmtNames(missed))
	_, err := fmt.Fprintf(w, "bar met: %v\n", sum.Bar.Met)
	return err
}

// windowCells formats a run's window, first, last and last/first cells.
func windowCells(w rateWindows) string {
	if !w.ok() {
		return "-\t-\t-\t-"
	}
	return fmt.Sprintf("%d\t%.0f\t%.0f\t%.2f", w.Size, w.First, w.Last, w.ratio())
}

// fmtRateRatios formats a tool's median and lowest last/first window rate.
func fmtRateRatios(ts toolSummary) string {
	if ts.WindowRuns == 0 {
		return "n/a (no run with rate windows)"
	}
	return fmt.Sprintf("median %.2f, min %.2f over %d runs", ts.RateRatio, ts.MinRateRatio, ts.WindowRuns)
}

func fmtNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func fmtRatio(r *float64, unit string) string {
	if r == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%s", *r, unit)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}
