//go:build !unix

package dedupe

import "sync/atomic"

// allocSlots returns n zeroed slots on the heap (see slots_unix.go).
func allocSlots(n int) (s []atomic.Uint64, mapped bool) {
	return make([]atomic.Uint64, n), false
}

// freeSlots does nothing: the garbage collector frees heap slots.
func freeSlots([]atomic.Uint64) {}
