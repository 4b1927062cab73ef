// Package gobuild builds the programs a benchmark compares: Trawl's commands
// in the root module and a peer in its own module under bench/peers, so that
// each harness measures binaries built the same way.
package gobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotInModule is returned by ModuleRoot outside a Go module.
var ErrNotInModule = errors.New("not inside a Go module")

// Target is one program to build.
type Target struct {
	Path *string // set to the built binary's path; a target whose Path is already set is not built
	Name string  // the binary's file name
	Dir  string  // where go build runs: the root of the module that holds Pkg
	Pkg  string  // the package to build, relative to Dir ("./cmd/crawler", ".")
}

// Build runs go build for every target whose Path is empty, writing the
// binaries into dir and each command line, prefixed, to progress.
func Build(ctx context.Context, targets []Target, dir string, progress io.Writer, prefix string) error {
	for _, t := range targets {
		if *t.Path != "" {
			continue
		}
		out := filepath.Join(dir, t.Name)
		fmt.Fprintf(progress, "%s: (cd %s && go build -o %s %s)\n", prefix, t.Dir, out, t.Pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, t.Pkg)
		cmd.Dir = t.Dir
		var msg bytes.Buffer
		cmd.Stdout, cmd.Stderr = &msg, &msg
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s in %s: %w\n%s", t.Pkg, t.Dir, err, bytes.TrimSpace(msg.Bytes()))
		}
		*t.Path = out
	}
	return nil
}

// ModuleRoot returns the directory of the main module around the working
// directory, as the go command sees it.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%w: run from the Trawl module or pass -src", ErrNotInModule)
	}
	return filepath.Dir(gomod), nil
}

// Root returns the Trawl module's root: src, or when src is "" the module
// around the working directory. It fails when that directory has no module
// for the peer under bench/peers/<peer>, and with ErrNotInModule outside a
// module.
func Root(ctx context.Context, src, peer string) (string, error) {
	if src == "" {
		var err error
		if src, err = ModuleRoot(ctx); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(src, "bench", "peers", peer, "go.mod")); err != nil {
		return "", fmt.Errorf("%s does not look like the Trawl module root (use -src): %w", src, err)
	}
	return src, nil
}
