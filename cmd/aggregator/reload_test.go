package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// reloadDuration stretches TestHotReloadUnderLoad: its 20 rewrites are
// spread over this long (the run: -reload-duration 30s). 0 rewrites
// as soon as the previous one has shown its effect.
var reloadDuration = flag.Duration("reload-duration", 0, "spread TestHotReloadUnderLoad's 20 rewrites over this long")

// reloadInterval paces each of TestHotReloadUnderLoad's clients; 0 is a
// closed loop. The default keeps the test about the reloads on a machine
// shared with other builds.
var reloadInterval = flag.Duration("reload-interval", 20*time.Millisecond, "pace each TestHotReloadUnderLoad client to one request per this long (0: closed loop)")

// reloadConfig is version v of the file: valid ones put the backend's
// answer under the group "v<v>", so that a response says which version
// served it; invalid ones have two problems, a backend timeout longer than
// the endpoint's and an unknown field.
func reloadConfig(up string, v int, valid bool) string {
	if valid {
		return fmt.Sprintf(`server: {write_timeout: 5s}
endpoints:
  - path: /users/:id
    timeout: 1s
    backends:
      - name: data
        url: %s/users/{id}
        group: v%d
`, up, v)
	}
	return fmt.Sprintf(`server: {write_timeout: 5s}
endpoints:
  - path: /users/:id
    timeout: 1s
    backends:
      - name: data
        url: %s/users/{id}
        group: v%d
        timeout: 2s
        timout: 1s
`, up, v)
}

// writeAtomically replaces the file at path with content, as editors and
// config tools do: a temporary file renamed over it.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// countLogs counts the log records whose msg is msg.
func countLogs(logs, msg string) int {
	return strings.Count(logs, `"msg":"`+msg+`"`)
}

// TestHotReloadUnderLoad rewrites the file 20 times, valid and invalid
// versions alternating, while 64 clients keep asking: no request fails or
// answers past the deadline, each valid version takes effect (the responses
// show it), and each invalid one is refused with its places.
func TestHotReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("64 clients and 20 rewrites")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"`+strings.TrimPrefix(r.URL.Path, "/users/")+`"}`)
	}))
	t.Cleanup(up.Close)
	path := filepath.Join(t.TempDir(), "aggregator.yaml")
	writeAtomically(t, path, reloadConfig(up.URL, 1, true))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", path, "-addr", "127.0.0.1:0", "-log-level", "info"}, io.Discard, stderr)
	}()
	addr := listenAddr(t, stderr)

	const clients = 64
	const deadline = time.Second // not tighter: the machine is shared with other builds, and the test is about the reloads
	var (
		stop      atomic.Bool
		requests  atomic.Int64
		failures  atomic.Int64
		late      atomic.Int64
		seen      atomic.Int64 // the highest version a response showed
		firstFail atomic.Value
		wg        sync.WaitGroup
	)
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	group := regexp.MustCompile(`^\{"v(\d+)":\{"id":"\d+"\}\}$`)
	// Each client paces itself (-reload-interval), so that the test
	// measures the reloads rather than a machine shared with other builds:
	// up to 3,200 requests a second in all by default, 256 under the race
	// detector (what it can serve in time on 2 cores).
	interval := *reloadInterval
	if raceEnabled {
		interval = max(interval, 250*time.Millisecond)
	}
	for c := range clients {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if i > 0 && interval > 0 {
					time.Sleep(interval)
				}
				start := time.Now()
				resp, err := client.Get(fmt.Sprintf("http://%s/users/%d", addr, c*1_000_000+i))
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				elapsed := time.Since(start)
				requests.Add(1)
				if elapsed > deadline {
					late.Add(1)
				}
				var m []string
				if err == nil {
					m = group.FindStringSubmatch(string(body))
				}
				if err != nil || resp.StatusCode != 200 || m == nil || resp.Header.Get("X-Aggregate-Completed") != "true" {
					failures.Add(1)
					firstFail.CompareAndSwap(nil, fmt.Sprintf("err %v, body %s", err, body))
					continue
				}
				var v int64
				fmt.Sscan(m[1], &v)
				for old := seen.Load(); v > old && !seen.CompareAndSwap(old, v); old = seen.Load() {
				}
			}
		})
	}

	const rewrites = 20
	pace := *reloadDuration / rewrites
	began := time.Now()
	version := 1
	for i := range rewrites {
		next := began.Add(time.Duration(i+1) * pace)
		valid := i%2 == 1
		if valid {
			version++
		}
		logs := stderr.String()
		refused, reloaded := countLogs(logs, "config reload refused"), countLogs(logs, "config reloaded")
		writeAtomically(t, path, reloadConfig(up.URL, version, valid))
		if !valid {
			stderr.waitFor(t, fmt.Sprintf("rewrite %d (invalid) refused", i+1), func(logs string) bool {
				return countLogs(logs, "config reload refused") > refused
			})
		} else {
			stderr.waitFor(t, fmt.Sprintf("rewrite %d (version %d) applied", i+1, version), func(logs string) bool {
				return countLogs(logs, "config reloaded") > reloaded
			})
			// Applied: the next answer is the new version's.
			resp, err := client.Get(fmt.Sprintf("http://%s/users/%d", addr, 999_000_000+i))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := group.FindStringSubmatch(string(body)); m == nil || m[1] != strconv.Itoa(version) {
				t.Fatalf("rewrite %d: answer %s after the reload, want version %d", i+1, body, version)
			}
		}
		time.Sleep(time.Until(next))
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(began)

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cancel()
	if err := waitFor(t, done, "run to return"); err != nil {
		t.Errorf("run = %v", err)
	}

	t.Logf("%d requests from %d clients in %v, %d rewrites: %d failed, %d past %v",
		requests.Load(), clients, elapsed.Round(time.Millisecond), rewrites, failures.Load(), late.Load(), deadline)
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed; the first: %v", n, firstFail.Load())
	}
	if n := late.Load(); n != 0 {
		t.Errorf("%d responses came after the %v deadline", n, deadline)
	}
	logs := stderr.String()
	if got := countLogs(logs, "config reloaded"); got != rewrites/2 {
		t.Errorf("%d reloads applied, want %d", got, rewrites/2)
	}
	if got := countLogs(logs, "config reload refused"); got != rewrites/2 {
		t.Errorf("%d reloads refused, want %d", got, rewrites/2)
	}
	if want := fmt.Sprintf(`{"status":"ok","config":{"version":%d,`, version); !strings.HasPrefix(string(health), want) {
		t.Errorf("/healthz = %s, want prefix %s", health, want)
	}
	// Each refusal names both problems with their places.
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg      string
			Problems []string
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "config reload refused" {
			continue
		}
		want := []string{
			path + ":9:18: endpoint /users/:id: backend data: timeout: 2s exceeds the endpoint's 1s",
			path + ":10:9: endpoint /users/:id: backend data: timout: unknown field",
		}
		if strings.Join(rec.Problems, "\n") != strings.Join(want, "\n") {
			t.Errorf("refused with %q, want %q", rec.Problems, want)
			break
		}
	}
}

// TestSIGHUP runs the real binary with the file watch off: a rewrite alone
// changes nothing, SIGHUP applies it, and /healthz and /metrics say which
// version is served.
func TestSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := aggregatorBinary(t) // TestMain removes it
	up := startUpstream(t)
	conf := func(group string) string {
		return "server: {no_watch: true}\nendpoints:\n  - path: /a\n    backends: [{name: a, url: '" + up.URL + "/a', group: " + group + "}]\n"
	}
	path := writeFile(t, "c.yaml", conf("first"))
	cmd := exec.Command(bin, "-config", path, "-addr", "127.0.0.1:0")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := listenAddr(t, stderr)
	body := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := body("/a"); got != `{"first":{"a":""}}` {
		t.Fatalf("GET /a = %s", got)
	}
	writeAtomically(t, path, conf("second"))
	time.Sleep(3 * reloadDebounce) // no watch: nothing may happen
	if got := body("/a"); got != `{"first":{"a":""}}` {
		t.Errorf("GET /a after a rewrite without SIGHUP = %s, want the first version", got)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	stderr.waitFor(t, "the reload after SIGHUP", func(text string) bool { return strings.Contains(text, `"config reloaded"`) })
	if got := body("/a"); got != `{"second":{"a":""}}` {
		t.Fatalf("GET /a after SIGHUP = %s, want the second version; logs:\n%s", got, stderr)
	}
	hash := configHash([]byte(conf("second")))
	if got, want := body("/healthz"), `{"status":"ok","config":{"version":2,"hash":"`+hash+`"}}`; got != want {
		t.Errorf("/healthz = %s, want %s", got, want)
	}
	metrics := body("/metrics")
	for _, want := range []string{"aggregator_config_version 2", `aggregator_config_info{hash="` + hash + `",version="2"} 1`,
		`aggregator_config_reloads_total{result="applied"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := waitFor(t, exited, "the process to exit")
	exited <- err // for the cleanup
	if err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, stderr)
	}
}
