//go:build !linux

package main

import (
	"errors"
	"time"
)

// cpuTime is not implemented here: it reads Linux's /proc. CPU per request
// is then left out of the report.
func cpuTime(int) (time.Duration, error) {
	return 0, errors.New("CPU time of another process is read from /proc, which this system lacks")
}

// peakRSS is not implemented here either.
func peakRSS(int) (int64, error) {
	return 0, errors.New("peak RSS of another process is read from /proc, which this system lacks")
}
