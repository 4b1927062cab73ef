package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTotals(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    totals
		wantErr bool
	}{
		{
			name:  "plain last line",
			lines: []string{"ready", "hits=100012 pages=100000 duplicates=0"},
			want:  totals{Hits: 100012, Pages: 100000, Duplicates: 0},
		},
		{
			name:  "slog text prefix and extra fields",
			lines: []string{`time=2026-01-01T00:00:00Z level=INFO msg=totals hits=12 pages=10 duplicates=2 robots=2`},
			want:  totals{Hits: 12, Pages: 10, Duplicates: 2},
		},
		{
			name:  "last totals line wins, later noise ignored",
			lines: []string{"hits=1 pages=1 duplicates=1", "hits=5 pages=4 duplicates=3", "shutting down", ""},
			want:  totals{Hits: 5, Pages: 4, Duplicates: 3},
		},
		{
			name:  "no hits field",
			lines: []string{"pages=7 duplicates=0"},
			want:  totals{Pages: 7},
		},
		{
			name:    "no duplicates field",
			lines:   []string{"hits=5 pages=4"},
			wantErr: true,
		},
		{
			name:    "not a number",
			lines:   []string{"hits=5 pages=many duplicates=0"},
			wantErr: true,
		},
		{
			name:    "empty",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTotals(tt.lines)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseTotals(%q) error = %v, want error: %v", tt.lines, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseTotals(%q) = %+v, want %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestParseSeeds(t *testing.T) {
	out := "http://127.0.0.1:4001/\r\nlistening\n  http://127.0.0.2:4002/p/0  \n/p/1\nftp://x/\nhttps://h.test/\nhttp://127.0.0.1:4003/"
	want := []string{"http://127.0.0.1:4001/", "http://127.0.0.2:4002/p/0", "https://h.test/", "http://127.0.0.1:4003/"}
	if got := parseSeeds([]byte(out)); !slices.Equal(got, want) {
		t.Errorf("parseSeeds = %q, want %q", got, want)
	}
}

func TestIsReadyLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"ready", true},
		{"  ready\r", true},
		{"testserver: 8 hosts ready", true},
		{"time=x level=INFO msg=ready hosts=8", true},
		{`{"time":"x","level":"INFO","msg":"ready","hosts":8}`, false}, // one field: no spaces
		{`{"time": "x", "msg":"ready", "hosts": 8}`, true},
		{"already listening", false},
		{"readying", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if got := isReadyLine(tt.line); got != tt.want {
				t.Errorf("isReadyLine(%q) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

func TestLineLog(t *testing.T) {
	l := newLineLog(3)
	for _, chunk := range []string{"one\ntw", "o\r\nrea", "dy", "\nfour\nfi"} {
		select {
		case <-l.ready:
			t.Fatalf("ready closed before the ready line was complete (after %q)", chunk)
		default:
		}
		if n, err := l.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	select {
	case <-l.ready:
	default:
		t.Fatal("ready not closed after a ready line")
	}
	l.Write([]byte("ve\nready\n")) // a second ready line must not close ready again
	want := []string{"four", "five", "ready"}
	if got := l.lines(); !slices.Equal(got, want) {
		t.Errorf("lines() = %q, want the last 3 %q", got, want)
	}
	if got := l.tail(2); got != "\n\tfive\n\tready" {
		t.Errorf("tail(2) = %q", got)
	}
}

func TestLineLogRunawayLine(t *testing.T) {
	l := newLineLog(2)
	l.Write([]byte(strings.Repeat("x", 100<<10)))
	got := l.lines()
	if len(got) != 1 || len(got[0]) != 4096 {
		t.Errorf("a 100 KiB line without newline is kept as %d lines of %d bytes, want 1 of 4096", len(got), len(got[0]))
	}
}

func TestReadAvailable(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for i := range 3 {
		fmt.Fprintf(w, "http://127.0.0.1:%d/\n", 4000+i)
	}
	start := time.Now()
	got, err := readAvailable(r, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("readAvailable: %v", err)
	}
	if want := "http://127.0.0.1:4000/\nhttp://127.0.0.1:4001/\nhttp://127.0.0.1:4002/\n"; string(got) != want {
		t.Errorf("readAvailable = %q, want %q", got, want)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("readAvailable took %v on a pipe that stayed open", el)
	}
	// The deadline is cleared: a later read blocks until data comes.
	fmt.Fprint(w, "late\n")
	buf := make([]byte, 16)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "late\n" {
		t.Errorf("read after readAvailable = %q, %v", buf[:n], err)
	}
}

func TestParseCollyResult(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    collyResult
		wantErr bool
	}{
		{"one line", `{"pages":100000,"errors":3,"elapsed_s":41.5}` + "\n", collyResult{100000, 3, 41.5}, false},
		{"noise first", "warming up\n" + `{"pages":7,"errors":0,"elapsed_s":0.5}`, collyResult{7, 0, 0.5}, false},
		{"empty", "", collyResult{Pages: -1}, true},
		{"not json", "done\n", collyResult{Pages: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCollyResult([]byte(tt.out))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseCollyResult(%q) = %+v, %v; want %+v, error: %v", tt.out, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
