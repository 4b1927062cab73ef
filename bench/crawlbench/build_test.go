package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	got, err := root(t.Context(), "")
	if err != nil {
		t.Fatalf("root: %v", err)
	}
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("root(\"\") = %q, want %q (the root module, not bench/peers/colly's)", got, want)
	}
}

func TestBuildRejectsWrongSource(t *testing.T) {
	cfg := config{Src: t.TempDir(), Testserver: "given"}
	var progress bytes.Buffer
	err := build(t.Context(), &cfg, t.TempDir(), &progress)
	if err == nil || !strings.Contains(err.Error(), "Trawl module root") {
		t.Errorf("build with -src %s = %v, want an error naming the module root", cfg.Src, err)
	}
	if cfg.Crawler != "" || cfg.Colly != "" || cfg.Testserver != "given" {
		t.Errorf("build changed the paths after failing: %+v", cfg)
	}
	if progress.Len() != 0 {
		t.Errorf("build ran something: %q", progress.String())
	}
}
