package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	// readyTimeout bounds how long a child may take to accept connections.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds how long a child may take to exit after SIGINT
	// before it is killed.
	stopTimeout = 15 * time.Second
)

// child is a running child process. Its stdout and stderr go to a log file
// in the work directory, so that a chatty child costs aggbench nothing.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string

	exited  chan struct{} // closed by the goroutine that waits for cmd
	waitErr error         // cmd.Wait's result; read only after exited is closed
}

// startChild starts bin with args; env entries are added to the
// environment. name labels its log file and error messages.
func startChild(name, bin string, args, env []string, work string) (*child, error) {
	logPath := filepath.Join(work, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // -work keeps every run's lines
	if err != nil {
		return nil, fmt.Errorf("create log for %s: %w", name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	c := &child{name: name, cmd: exec.Command(bin, args...), logPath: logPath, exited: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.Env = append(os.Environ(), env...)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// waitReady polls ready until it returns nil, failing when the child exits
// first, after readyTimeout, or when ctx ends.
func (c *child) waitReady(ctx context.Context, ready func(context.Context) error) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited before it was ready: %v%s", c.name, c.waitErr, c.tail(10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v%s", c.name, readyTimeout, err, c.tail(10))
		}
	}
}

// stop interrupts the child and waits for it to exit, killing it after
// stopTimeout. It returns an error if the child had to be killed or exited
// with an error of its own.
func (c *child) stop() error {
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.cmd.Process.Kill()
	}
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("%s did not exit within %v of SIGINT; killed%s", c.name, stopTimeout, c.tail(10))
	}
	if c.waitErr != nil {
		return fmt.Errorf("%s: %w%s", c.name, c.waitErr, c.tail(10))
	}
	return nil
}

// tail formats the last n lines of the child's log for an error message.
func (c *child) tail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "..."
		}
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Another process could take it before the child listens; the child
// then fails to start with a clear error.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// dialReady returns a readiness check that succeeds once addr accepts a TCP
// connection. It suits an upstream that may never answer a request.
func dialReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// httpReady returns a readiness check that succeeds once GET url answers
// 200.
func httpReady(url string) func(context.Context) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(body))
		}
		return nil
	}
}
