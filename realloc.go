// Realloc: resizing an allocation in place, by remapping it, or by moving
// it. See doc.go for the overview.

package mmalloc

import (
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/chunk"
	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/mappings"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// reallocCopiedBytes counts, for the whole process, the bytes Realloc has
// copied from an old allocation to a new one. Growth by mremap adds nothing
// to it; tests read it to show so.
var reallocCopiedBytes atomic.Int64

// Realloc resizes the allocation b to n bytes and returns it, as C's realloc
// does, keeping b[:min(len(b), n)]. The result has len n and reads as zero
// from len(b) on: the bytes of b past len(b), up to its usable size, count
// as unused and are not kept. After a successful Realloc b MUST NOT be used
// (unless the result starts at the same address: then it is the same memory).
//
// The result keeps the one cap rule: cap(result) == UsableSize(n). How it
// resizes, cheapest first:
//
//   - a small allocation resized to an n of its own size class, or a
//     large one resized to the same number of pages (UsableSize(n) is
//     its usable size either way): the same memory is returned, with the
//     bytes from len(b) to n cleared. A small one shrunk to a smaller
//     class moves, as below, so that every allocation has one usable
//     size, the same in cap, Bytes, Stats and the heap profile.
//   - large to large (both above Options.LargeThreshold): one
//     mremap(MREMAP_MAYMOVE). The kernel grows or shrinks the mapping,
//     moving its page tables if it must; no byte is copied, and pages added
//     at the end are fresh zero pages. A shrink gives the tail back to the OS.
//     (With Options.Shared or Options.Reserve, a move as below instead.)
//   - any other change of size (small to small of another class, small to
//     large, large to small): a new allocation, a copy of the kept bytes,
//     and a Free of b.
//
// A b with cap(b) == 0 makes Realloc act as Alloc(n). Realloc(b, 0) frees b
// and returns an empty slice. A negative n, or one above MaxAllocBytes,
// returns ErrInvalidSize; a b that Free would refuse returns the same error
// (ErrForeignPointer, ErrInvalidPointer, ErrDoubleFree, or ErrClosed after
// Close); a refused mapping returns ErrOutOfMemory. On any error b is left
// as it was, still allocated, and nothing changes.
func (a *Allocator) Realloc(b []byte, n int) ([]byte, error) {
	if !a.made() {
		return nil, errNoAllocator
	}
	if invariants.Enabled {
		defer a.checkAfter("Realloc")()
	}
	nb, err := a.realloc(b, n, true)
	return nb, a.foreign(err, sliceAddr(b), false)
}

// realloc is Realloc; with zero false, the bytes of the result past len(b)
// are left unspecified (Buffer overwrites them anyway).
func (a *Allocator) realloc(b []byte, n int, zero bool) ([]byte, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	if cap(b) == 0 {
		return a.alloc(nil, n, zero)
	}
	if n < 0 || n > MaxAllocBytes {
		return nil, sizeError(n)
	}
	if a.guard != nil {
		return a.guardRealloc(b, n, zero)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	keep := min(len(b), n)

	if ch := chunk.Lookup(addr); ch != nil && ch.Heap() == a.heap {
		cls, err := slabs.Usable(ch, addr)
		if err != nil {
			return nil, err
		}
		// In place only within the object's class: its slot's size is
		// then UsableSize(n), the one usable size that cap, Bytes, Stats
		// and the profile all give the allocation.
		if n > 0 && n <= a.threshold && slabs.ClassOf(n) == cls {
			mem := unsafe.Slice((*byte)(osmem.AddrPointer(addr)), slabs.ClassBytes(cls))
			if zero && len(b) < n {
				clear(mem[len(b):n])
			}
			a.profileFree(addr) // see profile.go: a resize frees and allocates
			return a.counted(mem[:n], nil)
		}
		return a.move(b, n, keep, zero)
	}

	size, err := a.large.Usable(addr)
	if err != nil {
		return nil, err
	}
	if n <= a.threshold {
		return a.move(b, n, keep, zero)
	}
	if mappings.RoundUp(uintptr(n)) == size {
		mem := unsafe.Slice((*byte)(osmem.AddrPointer(addr)), size)
		if zero && len(b) < n {
			clear(mem[len(b):n])
		}
		a.profileFree(addr) // see profile.go: a resize frees and allocates
		return a.counted(mem[:n], nil)
	}
	if !a.src.Remappable() { // Options.Shared or Reserve
		return a.move(b, n, keep, zero)
	}
	// The sample leaves before the mapping may move off addr, where
	// another allocation could be sampled at once; it is put back if the
	// remap fails.
	sample := a.prof.Detach(addr)
	p, newSize, err := a.large.Remap(addr, uintptr(n))
	if err != nil && a.reclaimForLimit(err, mappings.RoundUp(uintptr(n)), nil) {
		p, newSize, err = a.large.Remap(addr, uintptr(n))
	}
	if err != nil {
		a.prof.Reattach(addr, sample)
		return nil, err
	}
	mem := unsafe.Slice((*byte)(p), newSize)
	// Pages past the old size are fresh; the old pages past len(b) may
	// hold whatever the caller wrote there.
	if end := min(n, int(size)); zero && len(b) < end {
		clear(mem[len(b):end])
	}
	return a.counted(mem[:n], nil)
}

// allocGrowable moves b (small, or empty) into a large allocation of at
// least n bytes for a caller that will grow into it: a kept mapping of any
// larger size is taken if there is one (mappings.Registry.AllocAtLeast). The
// result's bytes past len(b) are unspecified.
func (a *Allocator) allocGrowable(b []byte, n int) ([]byte, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	if n <= a.threshold || n > MaxAllocBytes || a.guard != nil {
		return a.realloc(b, n, false)
	}
	p, size, _, err := a.large.AllocAtLeast(uintptr(n))
	if err != nil && a.reclaimForLimit(err, mappings.RoundUp(uintptr(n)), nil) {
		p, size, _, err = a.large.AllocAtLeast(uintptr(n))
	}
	if err != nil {
		return nil, err
	}
	nb, _ := a.counted(unsafe.Slice((*byte)(p), size), nil)
	copy(nb, b)
	if cap(b) > 0 {
		if err := a.Free(b); err != nil {
			_ = a.Free(nb)
			return nil, err
		}
		reallocCopiedBytes.Add(int64(len(b)))
	}
	return nb[:n], nil
}

// move reallocates b by allocating n bytes, copying b[:keep] and freeing b.
// n == 0 only frees.
func (a *Allocator) move(b []byte, n, keep int, zero bool) ([]byte, error) {
	nb, err := a.alloc(nil, n, zero)
	if err != nil {
		return nil, err
	}
	copy(nb, b[:keep])
	if err := a.Free(b); err != nil {
		// Only a caller freeing b concurrently gets here: undo.
		_ = a.Free(nb)
		return nil, err
	}
	reallocCopiedBytes.Add(int64(keep))
	return nb, nil
}
