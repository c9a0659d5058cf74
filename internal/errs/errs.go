// Package errs holds the sentinel errors shared by every layer, so that an
// error made deep in slab or large is the very value package mmalloc exports
// and errors.Is works across them without translation.
package errs

import "errors"

// The sentinels. Package mmalloc re-exports each under the same name.
var (
	InvalidSize    = errors.New("mmalloc: invalid size")
	ForeignPointer = errors.New("mmalloc: pointer was not allocated by this allocator")
	InvalidPointer = errors.New("mmalloc: pointer is not the start of an allocation")
	DoubleFree     = errors.New("mmalloc: object is not allocated (double free)")
	OutOfMemory    = errors.New("mmalloc: out of memory")
	Closed         = errors.New("mmalloc: allocator is closed")
	InvalidOption  = errors.New("mmalloc: invalid option")
	PointerType    = errors.New("mmalloc: type holds Go pointers")
)
