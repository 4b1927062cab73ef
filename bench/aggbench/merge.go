package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// mergeBenchArgs is the go test command line of the in-process merge
// benchmark (package aggregate's BenchmarkMerge: pre-made raw bodies of
// about 1 KiB from 3 and 10 backends, no HTTP).
func mergeBenchArgs() []string {
	return []string{"test", "-run", "^$", "-bench", "^BenchmarkMerge$", "-benchmem", "-count", "1", "./aggregate"}
}

// mergeResult is one line of the merge benchmark.
type mergeResult struct {
	Name        string `json:"name"`     // as go test prints it, e.g. "BenchmarkMerge/3-2"
	Backends    int    `json:"backends"` // from the sub-benchmark's name; 0 when it has none
	NsPerOp     num    `json:"ns_per_op"`
	BytesPerOp  num    `json:"bytes_per_op"`
	AllocsPerOp num    `json:"allocs_per_op"`
}

// runMergeBench runs the merge benchmark in the module at src (the module
// around the working directory when src is "").
func runMergeBench(ctx context.Context, src string) ([]mergeResult, error) {
	src, err := root(ctx, src)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", mergeBenchArgs()...)
	cmd.Dir = src
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("(cd %s && go %s): %w\n%s", src, strings.Join(mergeBenchArgs(), " "), err, bytes.TrimSpace(out.Bytes()))
	}
	res := parseBenchOutput(out.String())
	if len(res) == 0 {
		return nil, fmt.Errorf("go %s printed no benchmark line:\n%s", strings.Join(mergeBenchArgs(), " "), out.String())
	}
	return res, nil
}

// parseBenchOutput returns the benchmark lines of go test output: a name
// starting with "Benchmark", an iteration count, then value-unit pairs.
func parseBenchOutput(out string) []mergeResult {
	var res []mergeResult
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		r := mergeResult{Name: f[0], NsPerOp: nan(), BytesPerOp: nan(), AllocsPerOp: nan()}
		if _, sub, ok := strings.Cut(f[0], "/"); ok {
			sub, _, _ = strings.Cut(sub, "-") // the GOMAXPROCS suffix
			r.Backends, _ = strconv.Atoi(sub)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.NsPerOp = num(v)
			case "B/op":
				r.BytesPerOp = num(v)
			case "allocs/op":
				r.AllocsPerOp = num(v)
			}
		}
		res = append(res, r)
	}
	return res
}
