package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// The bar for Trawl against Colly.
const (
	barCPURatio = 3.0     // Trawl's pages per CPU-second over Colly's, at least
	barRSSRatio = 1.0 / 3 // Trawl's peak RSS over Colly's, at most
	// barPagesShare is the share of the page budget that Trawl must reach in
	// distinct /p/ pages. The testserver does not count the hosts' root pages
	// (the seeds), which the crawler does count against --max-pages.
	barPagesShare = 0.99
)

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
	Error        string  `json:"error,omitempty"`
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
}

// summary compares the tools. A ratio is nil when either side has no
// successful run or a zero denominator.
type summary struct {
	Type        string      `json:"type"` // "summary"
	Hosts       int         `json:"hosts"`
	SitePages   int         `json:"site_pages"`
	MaxPages    int         `json:"max_pages"`
	Parallelism int         `json:"parallelism"`
	Trawl       toolSummary `json:"trawl"`
	Colly       toolSummary `json:"colly"`
	// CPURatio is Trawl's median pages per CPU-second over Colly's.
	CPURatio *float64 `json:"cpu_ratio"`
	// RSSRatio is Trawl's median peak RSS over Colly's.
	RSSRatio *float64 `json:"rss_ratio"`
	Bar      bar      `json:"bar"`
}

// bar says which parts of the bar Trawl met.
type bar struct {
	CPU        bool `json:"cpu"`        // CPURatio ≥ 3
	RSS        bool `json:"rss"`        // RSSRatio ≤ 1/3
	Duplicates bool `json:"duplicates"` // no URL fetched twice in any successful Trawl run
	Pages      bool `json:"pages"`      // every successful Trawl run fetched at least 99% of the page budget
	Met        bool `json:"met"`        // all of the above, with every Trawl run successful
}

// summarize computes the per-tool medians, the ratios and the bar.
func summarize(cfg config, samples []sample) summary {
	sum := summary{
		Type:        "summary",
		Hosts:       cfg.Hosts,
		SitePages:   cfg.Pages,
		MaxPages:    cfg.MaxPages,
		Parallelism: cfg.Parallelism,
		Trawl:       summarizeTool(toolTrawl, samples),
		Colly:       summarizeTool(toolColly, samples),
	}
	t, c := sum.Trawl, sum.Colly
	if t.Runs > 0 && c.Runs > 0 {
		sum.CPURatio = finite(ratio(t.PagesPerCPUS, c.PagesPerCPUS))
		sum.RSSRatio = finite(ratio(t.PeakRSSMiB, c.PeakRSSMiB))
	}
	sum.Bar.CPU = sum.CPURatio != nil && *sum.CPURatio >= barCPURatio
	sum.Bar.RSS = sum.RSSRatio != nil && *sum.RSSRatio <= barRSSRatio
	sum.Bar.Duplicates = t.Runs > 0 && t.MaxDuplicates == 0
	sum.Bar.Pages = t.Runs > 0 && float64(t.MinPages) >= barPagesShare*float64(cfg.MaxPages)
	sum.Bar.Met = sum.Bar.CPU && sum.Bar.RSS && sum.Bar.Duplicates && sum.Bar.Pages && t.Failed == 0
	return sum
}

func summarizeTool(tool string, samples []sample) toolSummary {
	ts := toolSummary{Tool: tool}
	var pages, hits, wall, pps, cpu, ppc, rss, dups []float64
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
	}
	ts.Pages, ts.Hits, ts.WallS, ts.PagesPerS = median(pages), median(hits), median(wall), median(pps)
	ts.CPUS, ts.PagesPerCPUS, ts.PeakRSSMiB = median(cpu), median(ppc), median(rss)
	ts.Duplicates = median(dups)
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

// writeTable writes every run, the medians and the Trawl/Colly comparison.
func writeTable(w io.Writer, cfg config, samples []sample, sum summary) error {
	fmt.Fprintf(w, "crawlbench: testserver site of %d pages on %d hosts; page budget %d; parallelism %d; politeness off\n",
		cfg.Pages, cfg.Hosts, cfg.MaxPages, cfg.Parallelism)
	fmt.Fprintln(w, "pages: distinct /p/ pages served and requests: all requests, both counted by the testserver;")
	fmt.Fprintln(w, "CPU: user+sys of the crawler process; dup URLs: URLs the testserver received more than once")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttool\tpages\trequests\twall s\tpages/s\tCPU s\tpages/CPU-s\tpeak RSS MiB\tdup URLs\t")
	for _, s := range samples {
		if s.Err != nil {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t-\t-\t-\t-\t%d\tFAILED\n", s.Run, s.Tool, s.Pages, s.Hits, s.Usage.Wall.Seconds(), s.Duplicates)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.0f\t%.1f\t%d\t\n", s.Run, s.Tool, s.Pages, s.Hits,
			s.Usage.Wall.Seconds(), s.pagesPerSecond(), s.cpuSeconds(), s.pagesPerCPUSecond(), s.peakRSSMiB(), s.Duplicates)
	}
	for _, ts := range []toolSummary{sum.Trawl, sum.Colly} {
		if ts.Runs == 0 {
			fmt.Fprintf(tw, "median\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t\n", ts.Tool)
			continue
		}
		fmt.Fprintf(tw, "median\t%s\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.1f\t%.0f\t\n", ts.Tool, ts.Pages, ts.Hits,
			ts.WallS, ts.PagesPerS, ts.CPUS, ts.PagesPerCPUS, ts.PeakRSSMiB, ts.Duplicates)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Trawl/Colly pages per CPU-second: %s  (bar: >= %.0fx) %s\n", fmtRatio(sum.CPURatio, "x"), barCPURatio, verdict(sum.Bar.CPU))
	fmt.Fprintf(w, "Trawl/Colly peak RSS:             %s  (bar: <= %.2f) %s\n", fmtRatio(sum.RSSRatio, ""), barRSSRatio, verdict(sum.Bar.RSS))
	fmt.Fprintf(w, "Trawl URLs fetched twice or more: max %d over %d runs  (bar: 0) %s\n", sum.Trawl.MaxDuplicates, sum.Trawl.Runs, verdict(sum.Bar.Duplicates))
	fmt.Fprintf(w, "Trawl pages fetched:              min %d  (bar: >= %.0f) %s\n", sum.Trawl.MinPages, barPagesShare*float64(cfg.MaxPages), verdict(sum.Bar.Pages))
	if n := sum.Trawl.Failed + sum.Colly.Failed; n > 0 {
		fmt.Fprintf(w, "failed runs (left out of the medians): trawl %d, colly %d\n", sum.Trawl.Failed, sum.Colly.Failed)
	}
	_, err := fmt.Fprintf(w, "bar met: %v\n", sum.Bar.Met)
	return err
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
