package main

import (
	"os"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	rs := []result{{pages: 30, active: time.Second}, {pages: 10, active: time.Second}, {pages: 20, active: time.Second}}
	if got := median(rs, result.rate); got != 20 {
		t.Errorf("median of 30, 10, 20 = %v, want 20", got)
	}
	if got := median(rs[:2], result.rate); got != 20 {
		t.Errorf("median of 30, 10 = %v, want 20", got)
	}
}

// TestProcCPU reads this process's CPU from /proc after burning some.
func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	got, ok := procCPU(os.Getpid())
	if !ok || got <= 0 {
		t.Errorf("procCPU(self) = %v, %v; want some CPU", got, ok)
	}
	if _, ok := procCPU(-1); ok {
		t.Error("procCPU of no process succeeded")
	}
}
