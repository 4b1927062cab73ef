//go:build unix

package dedupe

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// allocSlots returns n zeroed slots outside the Go heap (anonymous memory,
// touched page by page as the table fills), so that the set does not count
// towards the garbage collector's heap goal: with GOGC=200, a 16 MiB table
// in the heap let the heap grow by another 32 MiB before a collection. It
// falls back to the heap when the mapping fails. free releases what
// allocSlots mapped.
func allocSlots(n int) (s []atomic.Uint64, mapped bool) {
	b, err := syscall.Mmap(-1, 0, n*slotBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]atomic.Uint64, n), false
	}
	return unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(unsafe.SliceData(b))), n), true
}

// freeSlots unmaps slots that allocSlots mapped.
func freeSlots(s []atomic.Uint64) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*slotBytes)
	_ = syscall.Munmap(b)
}
