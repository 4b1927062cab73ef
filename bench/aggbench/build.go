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
// into dir. Trawl's two commands are built in the root module, Lura's peer in
// its own module under bench/peers/lura.
func build(ctx context.Context, cfg *config, dir string, progress io.Writer) error {
	src, err := root(ctx, cfg.Src)
	if err != nil {
		return err
	}
	return gobuild.Build(ctx, []gobuild.Target{
		{Path: &cfg.Testserver, Name: "testserver", Dir: src, Pkg: "./cmd/testserver"},
		{Path: &cfg.Aggregator, Name: "aggregator", Dir: src, Pkg: "./cmd/aggregator"},
		{Path: &cfg.Lura, Name: "lura", Dir: filepath.Join(src, "bench", "peers", "lura"), Pkg: "."},
		{Path: &cfg.Plain, Name: "plain", Dir: src, Pkg: "./bench/peers/plain"},
	}, dir, progress, "aggbench")
}

// root returns the Trawl module's root (src, or the module around the working
// directory); outside a module it is a usage error.
func root(ctx context.Context, src string) (string, error) {
	r, err := gobuild.Root(ctx, src, "lura")
	if errors.Is(err, gobuild.ErrNotInModule) {
		return "", fmt.Errorf("%w: %w", errUsage, err)
	}
	return r, err
}
