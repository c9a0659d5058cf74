// Package errs holds the sentinel errors shared by every layer, so that an
// error made deep in an engine (internal/slabs, internal/chunk,
// internal/mappings) or in package arena is the very value package mmalloc
// exports, and errors.Is works across them without translation. Each
// meaning has one value: a closed Allocator, a closed chunk heap and a
// released Region all report ErrClosed (package arena's ErrReleased wraps
// it), whichever package the error comes from.
package errs

import (
	"errors"
	"fmt"
)

// The sentinels. Package mmalloc re-exports each under the same name;
// package arena re-exports those its Region returns.
var (
	ErrInvalidSize    = errors.New("mmalloc: invalid size")
	ErrForeignPointer = errors.New("mmalloc: pointer was not allocated by this allocator")
	ErrInvalidPointer = errors.New("mmalloc: pointer is not the start of an allocation")
	ErrDoubleFree     = errors.New("mmalloc: object is not allocated (double free)")
	ErrOutOfMemory    = errors.New("mmalloc: out of memory")
	ErrClosed         = errors.New("mmalloc: allocator is closed")
	ErrInvalidOption  = errors.New("mmalloc: invalid option")
	ErrPointerType    = errors.New("mmalloc: type holds Go pointers")
	ErrUninitialized  = errors.New("mmalloc: nil or zero value, not made by its constructor")

	// ErrCorrupted is guard mode's report of memory written where no
	// caller may write: past an object's end, or after its Free.
	ErrCorrupted = errors.New("mmalloc: memory corrupted")
)

// Foreign returns ErrForeignPointer for a slice whose first byte, addr,
// lies in no allocation of the Allocator, naming what such a slice may
// be. The commonest is a slice grown by append past its cap, which append
// copied to the Go heap: the allocation it came from is then still live,
// and leaks unless the slice that was allocated is freed.
func Foreign(addr uintptr) error {
	return fmt.Errorf("%w: %#x is in no allocation of this Allocator: it is memory of another Allocator, "+
		"memory already unmapped, or Go heap memory (from make or a literal, or a slice grown by append past its cap, "+
		"which append moved to the Go heap: free the slice that was allocated, which is still live)",
		ErrForeignPointer, addr)
}

// ForeignRef returns ErrForeignPointer for a Ref, r, that names no
// allocation of the Allocator.
func ForeignRef(r uint64) error {
	return fmt.Errorf("%w: Ref %#x names no allocation of this Allocator: it is a Ref of another Allocator, "+
		"of memory already unmapped, or a number that no AllocRef or RefOf gave", ErrForeignPointer, r)
}

// OtherAllocator returns ErrForeignPointer for addr, which lies in a chunk
// of another Allocator.
func OtherAllocator(addr uintptr) error {
	return fmt.Errorf("%w: %#x lies in memory of another Allocator: pass it to that one", ErrForeignPointer, addr)
}

// DoubleFree returns ErrDoubleFree for what (an address, an object),
// saying what freed it: a Free, or a Realloc that moved the allocation,
// after which the old slice is freed and only the one Realloc returned
// may be used.
func DoubleFree(what string) error {
	return fmt.Errorf("%w: %s: freed already, by Free or by a Realloc that moved it (after a Realloc, use the slice it returned)",
		ErrDoubleFree, what)
}
