package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trawl/trawl/testserver"
)

func TestRunModeFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newSyncWriter(), newSyncWriter()
	done := make(chan error, 1)
	args := []string{"-pages", "4", "-hostile", "-traps", "-robots-mode", "429", "-sitemaps", "-orphans", "2"}
	go func() { done <- run(ctx, args, stdout, stderr) }()
	select {
	case <-stderr.ready:
	case err := <-done:
		t.Fatalf("run returned before ready: %v; stderr: %s", err, stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line within 10s")
	}
	seed := strings.TrimSpace(stdout.String())
	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	_, root := fetch(t, c, seed)
	for _, want := range []string{testserver.PathHang, testserver.PathTrapLoop, testserver.PathPrivate} {
		if !strings.Contains(root, `href="`+want) {
			t.Errorf("root lacks a link to %s", want)
		}
	}
	for path, status := range map[string]int{
		"robots.txt":                                429,
		testserver.PathSitemapIndex[1:]:             200,
		testserver.PathOrphanPrefix[1:] + "1":       200,
		testserver.PathMalformed[1:]:                200,
		testserver.PathTrapCalendar[1:] + "2025/02": 200,
	} {
		if code, _ := fetch(t, c, seed+path); code != status {
			t.Errorf("GET /%s: %d, want %d", path, code, status)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunRejectsBadMode(t *testing.T) {
	stdout, stderr := newSyncWriter(), newSyncWriter()
	err := run(t.Context(), []string{"-robots-mode", "bogus"}, stdout, stderr)
	if got := exitCode(err); got != 2 {
		t.Errorf("exitCode(run(-robots-mode bogus)) = %d (%v), want 2", got, err)
	}
}
