package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/frontier"
)

// TestConsoleLogsAboveProgress checks that a log line never runs into the
// progress line: it clears the line, is written whole, and the line is
// drawn again after it.
func TestConsoleLogsAboveProgress(t *testing.T) {
	var out bytes.Buffer
	c := &console{w: &out}
	log := slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	log.Info("before any progress")
	c.SetLine("1s  3 pages/s  fetched 3")
	log.Info("writer stopped", "visits", 3)
	c.SetLine("2s  1 pages/s  fetched 4")
	c.SetLine("")
	log.Info("after")
	want := "level=INFO msg=\"before any progress\"\n" +
		clearLine + "1s  3 pages/s  fetched 3" +
		clearLine + "level=INFO msg=\"writer stopped\" visits=3\n" + "1s  3 pages/s  fetched 3" +
		clearLine + "2s  1 pages/s  fetched 4" +
		clearLine +
		"level=INFO msg=after\n"
	if got := out.String(); got != want {
		t.Errorf("console output:\n%q\nwant\n%q", got, want)
	}
	// Every log line starts at the start of a cleared line.
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if i := strings.Index(line, "level="); i > 0 && !strings.HasSuffix(line[:i], clearLine) {
			t.Errorf("log line runs into the progress line: %q", line)
		}
	}
}

func TestWaitingFor(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var idle crawl.Progress
	idle.Frontier.Queued = 5
	busy := idle
	busy.Frontier.InFlight = 1
	paused := busy
	paused.Paused = true
	host := func(name, wait, cause string, in time.Duration) crawl.HostStatus {
		return crawl.HostStatus{HostState: frontier.HostState{Host: name, Queued: 1}, Wait: wait, Cause: cause, NextAt: now.Add(in)}
	}
	rated := []crawl.HostStatus{host("b.test", crawl.WaitRate, "", 2*time.Second), host("a.test", crawl.WaitRetry, "timeout", time.Second),
		{HostState: frontier.HostState{Host: "c.test"}}}
	backoff := append([]crawl.HostStatus{host("d.test", crawl.WaitBackoff, "", 3*time.Second)}, rated...)
	robots := append([]crawl.HostStatus{
		host("r1.test", crawl.WaitRobots, "HTTP 500", 50*time.Second),
		host("r2.test", crawl.WaitRobots, "HTTP 500", 42*time.Second),
		host("r3.test", crawl.WaitRobots, "connection refused", 10*time.Second),
	}, backoff...)
	tests := []struct {
		name  string
		p     crawl.Progress
		hosts []crawl.HostStatus
		want  string
	}{
		{"fetching", busy, rated, ""},
		{"paused", paused, robots, "paused"},
		{"waiting on the earliest host", idle, rated, "waiting: a.test (retry) until 12:00:01, in 1s"},
		{"a backoff, while fetching", busy, backoff, "waiting: d.test (backoff) until 12:00:03, in 3s"},
		{"robots.txt unavailable, grouped by cause", busy, robots,
			"waiting: 2 hosts (robots.txt unavailable (HTTP 500)), the first r2.test until 12:00:42, in 42s; " +
				"d.test (backoff) until 12:00:03, in 3s; r3.test (robots.txt unavailable (connection refused)) until 12:00:10, in 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := waitingFor(tt.p, tt.hosts, now); got != tt.want {
				t.Errorf("waitingFor =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
