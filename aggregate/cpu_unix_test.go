//go:build unix

package aggregate

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system) this process has used, GC
// workers included: unlike wall time, it hardly depends on what else runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
