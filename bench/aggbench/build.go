package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// build fills in the binary paths of cfg that are empty by running go build
// into dir. Trawl's two commands are built in the root module, Lura's peer in
// its own module under bench/peers/lura.
func build(ctx context.Context, cfg *config, dir string, progress io.Writer) error {
	src := cfg.Src
	if src == "" {
		var err error
		if src, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(src, "bench", "peers", "lura", "go.mod")); err != nil {
		return fmt.Errorf("%s does not look like the Trawl module root (use -src): %w", src, err)
	}
	targets := []struct {
		path *string
		name string
		dir  string // where go build runs: Lura's peer is its own module
		pkg  string
	}{
		{&cfg.Testserver, "testserver", src, "./cmd/testserver"},
		{&cfg.Aggregator, "aggregator", src, "./cmd/aggregator"},
		{&cfg.Lura, "lura", filepath.Join(src, "bench", "peers", "lura"), "."},
	}
	for _, t := range targets {
		if *t.path != "" {
			continue
		}
		out := filepath.Join(dir, t.name)
		fmt.Fprintf(progress, "aggbench: (cd %s && go build -o %s %s)\n", t.dir, out, t.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, t.pkg)
		cmd.Dir = t.dir
		var msg bytes.Buffer
		cmd.Stdout, cmd.Stderr = &msg, &msg
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s in %s: %w\n%s", t.pkg, t.dir, err, bytes.TrimSpace(msg.Bytes()))
		}
		*t.path = out
	}
	return nil
}

// moduleRoot returns the directory of the main module around the working
// directory, as the go command sees it.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%w: not inside a Go module; run from the Trawl module or pass -src", errUsage)
	}
	return filepath.Dir(gomod), nil
}
