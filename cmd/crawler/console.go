package main

import (
	"io"
	"sync"
)

// clearLine moves to the start of the terminal line and erases it.
const clearLine = "\r\033[K"

// console is stderr on a terminal, shared by the progress line and the
// logs: a log line clears the progress line, is written, and the progress
// line is redrawn under it, so that the two never run together. The slog
// handler writes each record with one Write, which is what makes this work
// as an io.Writer. Safe for concurrent use.
type console struct {
	mu   sync.Mutex // guards w and line: one writer at a time
	w    io.Writer
	line string // the progress line on screen, without clearLine; "" when none
}

// Write writes a log record (or any text ending in a newline) above the
// progress line.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line != "" {
		io.WriteString(c.w, clearLine) //nolint:errcheck // the write of p reports
	}
	n, err := c.w.Write(p)
	if c.line != "" {
		io.WriteString(c.w, c.line) //nolint:errcheck // best effort: the next redraw repairs it
	}
	return n, err
}

// SetLine draws line in place of the progress line; "" erases it.
func (c *console) SetLine(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if line == "" && c.line == "" {
		return
	}
	io.WriteString(c.w, clearLine+line) //nolint:errcheck // a progress line is best effort
	c.line = line
}
