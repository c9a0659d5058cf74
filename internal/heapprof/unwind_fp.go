//go:build (amd64 || arm64) && !mmalloc_nofp

// Call stacks by frame pointers. See unwind.go.

package heapprof

import "unsafe"

// fpAvailable: this architecture keeps frame pointers, and the build did
// not turn their use off (tag mmalloc_nofp).
const fpAvailable = true

// framePointer returns its caller's frame pointer: the address where the
// caller saved its own caller's frame pointer, with the return address
// into that caller one word above it.
func framePointer() unsafe.Pointer
