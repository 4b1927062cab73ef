package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/trawl/trawl/bench/internal/gobuild"
)

// build fills in the binary paths of cfg that are empty by running go build
// into dir. Trawl's crawler and the benchmark's test site (cmd/testserver,
// run with -sample for a record of pages served over time) are built in the
// root module, Colly's peer in its own module under bench/peers/colly.
func build(ctx context.Context, cfg *config, dir string, progress io.Writer) error {
	src, err := root(ctx, cfg.Src)
	if err != nil {
		return err
	}
	targets := []gobuild.Target{
		{Path: &cfg.Testserver, Name: "testserver", Dir: src, Pkg: "./cmd/testserver"},
		{Path: &cfg.Crawler, Name: "crawler", Dir: src, Pkg: "./cmd/crawler"},
	}
	if !cfg.UI && !cfg.Keep { // -ui and -keep compare Trawl with itself
		targets = append(targets, gobuild.Target{Path: &cfg.Colly, Name: "colly", Dir: filepath.Join(src, "bench", "peers", "colly"), Pkg: "."})
	}
	return gobuild.Build(ctx, targets, dir, progress, "crawlbench")
}

// root returns the Trawl module's root (src, or the module around the working
// directory); outside a module it is a usage error.
func root(ctx context.Context, src string) (string, error) {
	r, err := gobuild.Root(ctx, src, "colly")
	if errors.Is(err, gobuild.ErrNotInModule) {
		return "", fmt.Errorf("%w: %w", errUsage, err)
	}
	return r, err
}
