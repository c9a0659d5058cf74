// Aligned allocation: memory whose first byte's address is a multiple of a
// power of two up to the page size. See doc.go for the overview.

package mmalloc

import (
	"fmt"

	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// AllocAligned returns n bytes of zeroed memory whose first byte's address
// is a multiple of align: a power of two from 1 to the page size
// (os.Getpagesize(), 4 KiB on linux/amd64). 64 suits Arrow's buffers
// (cache lines, SIMD loads); the page suits O_DIRECT and DMA hand-off. The
// memory is freed with Free (or FreeRef), like any allocation, and is
// resized with Realloc, which keeps the alignment only when it resizes in
// place or by mremap (see Realloc): a move gives Alloc's alignment.
//
// It serves m, n rounded up to a multiple of align, as Alloc(m) would: the
// size class of every such m is a multiple of align (a test checks every
// size and alignment), its objects lie at multiples of their size from a
// page boundary, and a large allocation is page aligned. So len(b) == n
// and cap(b) == UsableSize(m): the usable size of what it got, which
// Bytes(RefOf(b)), Stats and the heap profile count, and which the caller
// may use. In guard mode cap(b) == n, as for Alloc: a small object takes
// the class of n+1 rounded up to align, with canary bytes after its end,
// and a large one ends at its guard page rounded down to align.
//
// AllocAligned(0, align) returns an empty slice. An align that is not a
// power of two, or is above the page size, returns ErrInvalidSize (its
// message names the alignment), as does an n that Alloc refuses; the
// other errors are Alloc's.
func (a *Allocator) AllocAligned(n, align int) ([]byte, error) {
	if !a.made() {
		return nil, ErrUninitialized
	}
	if invariants.Enabled {
		defer a.checkAfter("AllocAligned")()
	}
	m, err := a.alignedSize(n, align)
	if err != nil || m == 0 {
		return emptyOr(err)
	}
	if a.guard != nil {
		return a.counted(a.guardAllocAligned(n, align))
	}
	b, err := a.allocZeroed(m)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// AllocAligned is Allocator.AllocAligned through the Cache: n zeroed bytes
// aligned to align, with the same cap and errors.
func (c *Cache) AllocAligned(n, align int) ([]byte, error) {
	if !c.made() {
		return nil, ErrUninitialized
	}
	a := c.st.a
	if invariants.Enabled {
		defer a.checkAfter("Cache.AllocAligned")()
	}
	if c.st.ended.Load() {
		return nil, ErrClosed
	}
	m, err := a.alignedSize(n, align)
	if err != nil || m == 0 {
		return emptyOr(err)
	}
	if a.guard != nil {
		return a.counted(a.guardAllocAligned(n, align))
	}
	b, err := c.allocZeroed(m)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// alignedSize checks AllocAligned's arguments and returns the size it
// serves, n rounded up to a multiple of align (0 for n == 0).
func (a *Allocator) alignedSize(n, align int) (int, error) {
	if a.closed.Load() {
		return 0, ErrClosed
	}
	if align <= 0 || align&(align-1) != 0 || uintptr(align) > osmem.PageBytes {
		return 0, fmt.Errorf("%w: alignment %d is not a power of two from 1 to the page size (%d)", ErrInvalidSize, align, osmem.PageBytes)
	}
	if n < 0 || n > MaxAllocBytes {
		return 0, fmt.Errorf("%w: %d bytes", ErrInvalidSize, n)
	}
	return (n + align - 1) &^ (align - 1), nil
}

// alignedClass returns the size class that holds m bytes at alignment
// align (m a multiple of align, at most slabs.MaxSmallBytes): m's own
// class, whose size is a multiple of align. The size-class table keeps it
// so (TestAlignedClasses); the loop is the guarantee should it not.
func alignedClass(m, align int) int {
	c := slabs.ClassOf(m)
	for slabs.ClassBytes(c)%align != 0 {
		c++
	}
	return c
}

// guardAllocAligned is guardAlloc at an alignment: a small object takes
// the class of n+1 rounded up to align, a large one ends at its guard page
// rounded down to align (at least GuardAlignBytes). cap == len == n.
func (a *Allocator) guardAllocAligned(n, align int) ([]byte, error) {
	g := a.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.closed.Load() {
		return nil, ErrClosed
	}
	if m := (n + align) &^ (align - 1); m <= a.threshold { // room for a canary byte
		return g.allocSmallIn(a, n, alignedClass(m, align), true)
	}
	return g.allocLargeAt(a, n, uintptr(max(align, GuardAlignBytes)))
}

// emptyOr is AllocAligned's result for n == 0 (an empty slice) or for a
// refusal (nil and its error).
func emptyOr(err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return []byte{}, nil
}
