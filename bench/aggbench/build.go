package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/trawl/trawl/bench/internal/gobuild"
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
	if err := gobuild.CheckRoot(src, "lura"); err != nil {
		return err
	}
	return gobuild.Build(ctx, []gobuild.Target{
		{Path: &cfg.Testserver, Name: "testserver", Dir: src, Pkg: "./cmd/testserver"},
		{Path: &cfg.Aggregator, Name: "aggregator", Dir: src, Pkg: "./cmd/aggregator"},
		{Path: &cfg.Lura, Name: "lura", Dir: filepath.Join(src, "bench", "peers", "lura"), Pkg: "."},
	}, dir, progress, "aggbench")
}

// moduleRoot returns the root of the module around the working directory; outside
// one it is a usage error.
func moduleRoot(ctx context.Context) (string, error) {
	root, err := gobuild.ModuleRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errUsage, err)
	}
	return root, nil
}
