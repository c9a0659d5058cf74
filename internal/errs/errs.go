// Package errs holds the sentinel errors shared by every layer, so that an
// error made deep in slab, large or arena is the very value package mmalloc
// exports, and errors.Is works across them without translation. Each
// meaning has one value: a closed Allocator, a closed chunk heap and a
// released Region all report ErrClosed (the arena's ErrReleased
// wraps it), whichever package the error comes from.
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

// Foreign returns ErrForeignPointer for addr, with what most often makes a
// Free see memory it never handed out: a slice grown by append past its
// cap, which append copied to the Go heap. The allocation it came from is
// then still live, and leaks unless the slice that was allocated is freed.
func Foreign(addr uintptr) error {
	return fmt.Errorf("%w: %#x (if this slice was grown by append past its cap, append moved it to the Go heap: free the slice that was allocated, which is still live)",
		ErrForeignPointer, addr)
}
