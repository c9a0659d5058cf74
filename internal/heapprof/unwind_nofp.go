//go:build !(amd64 || arm64) || mmalloc_nofp

// Without frame pointers every stack is taken by runtime.Callers. See
// unwind.go.

package heapprof

import "unsafe"

const fpAvailable = false

func framePointer() unsafe.Pointer { return nil }
