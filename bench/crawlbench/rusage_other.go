//go:build !unix

package main

import "os"

// peakRSS returns 0: this system's rusage is not read.
func peakRSS(*os.ProcessState) int64 { return 0 }
