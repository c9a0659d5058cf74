// Resizing a large mapping in place or by moving its pages. See doc.go.

package mappings

import (
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// Usable returns the mapped size of the live mapping that starts at addr.
// Otherwise it returns the error Free would (errs.ErrInvalidPointer,
// errs.ErrDoubleFree or errs.ErrForeignPointer). It changes nothing.
func (r *Registry) Usable(addr uintptr) (uintptr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if size, ok := r.spans[addr]; ok {
		return size, nil
	}
	return 0, r.classify(addr)
}

// Remap resizes the live mapping that starts at addr to hold n bytes
// (rounded up to whole pages) with one mremap(MREMAP_MAYMOVE): the kernel
// moves page tables and copies no byte. It returns the mapping's address
// (new if the kernel moved it) and its new size. Bytes up to the smaller of
// the two sizes are kept; pages added at the end read as zero.
//
// An addr that is not a live mapping's start returns the error Free would;
// a refused mremap or a passed limit an error wrapping errs.ErrOutOfMemory.
// Either way nothing changes; if the Registry was closed meanwhile, the
// mapping is unmapped and errs.ErrClosed returned. The mapping is out of
// the registry while the kernel works, so a concurrent Free of the same
// address (a caller's race) finds it missing rather than unmapping it
// under the mremap, and Validate run meanwhile may count its bytes in use
// without its entry.
func (r *Registry) Remap(addr, n uintptr) (unsafe.Pointer, uintptr, error) {
	if r.src == nil {
		return nil, 0, errs.ErrUninitialized
	}
	newSize := RoundUp(n)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, 0, errs.ErrClosed
	}
	size, ok := r.spans[addr]
	if !ok {
		err := r.classify(addr)
		r.mu.Unlock()
		return nil, 0, err
	}
	if newSize == size {
		r.mu.Unlock()
		return osmem.AddrPointer(addr), size, nil
	}
	delete(r.spans, addr)
	r.mu.Unlock()

	q, err := r.src.Remap(osmem.AddrPointer(addr), size, newSize)
	if err == nil && r.huge && newSize >= hugeBytes && size < newSize {
		// A mapping grown past a huge page gets the advice Alloc gives
		// one mapped at that size.
		osmem.AdviseHuge(q, newSize)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.spans[addr] = size
		return nil, 0, err
	}
	if r.closed { // Close ran meanwhile and could not unmap what the kernel held: undo
		r.src.Unmap(q, newSize)
		return nil, 0, errs.ErrClosed
	}
	base := uintptr(q)
	r.spans[base] = newSize
	r.forget(base)
	if base != addr {
		// The old address is gone: a later Free of it is a double free.
		r.remember(addr)
	}
	r.inUse += int64(newSize) - int64(size)
	return q, newSize, nil
}
