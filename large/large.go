// One mapping per large allocation, and the registry of them. See doc.go.

package large

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// recentFrees is how many freed mappings are remembered to tell a double
// free apart from a foreign pointer.
const recentFrees = 64

// Registry owns the large mappings of one allocator.
type Registry struct {
	src *osmem.Source

	mu     sync.Mutex
	spans  map[uintptr]uintptr  // first address → mapped bytes
	recent [recentFrees]uintptr // first addresses freed lately, a ring
	next   int                  // next slot of recent to overwrite
	closed bool

	inUse  int64
	allocs uint64
	frees  uint64
}

// NewRegistry returns an empty Registry mapping through src.
func NewRegistry(src *osmem.Source) *Registry {
	return &Registry{src: src, spans: make(map[uintptr]uintptr)}
}

// RoundUp returns n rounded up to whole pages, the usable size of a large
// allocation of n bytes. n must be positive and at most MaxBytes.
func RoundUp(n uintptr) uintptr {
	return (n + osmem.PageBytes - 1) &^ (osmem.PageBytes - 1)
}

// Alloc maps a region for n bytes and returns it and its usable size. The
// region reads as zero. Errors wrap errs.OutOfMemory (and the errno or the
// limit) or are errs.Closed.
func (r *Registry) Alloc(n uintptr) (unsafe.Pointer, uintptr, error) {
	size := RoundUp(n)
	p, err := r.src.Map(size)
	if err != nil {
		return nil, 0, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.src.Unmap(p, size)
		return nil, 0, errs.Closed
	}
	r.spans[uintptr(p)] = size
	r.forget(uintptr(p))
	r.inUse += int64(size)
	r.allocs++
	r.mu.Unlock()
	return p, size, nil
}

// Owns reports whether addr is the first byte of a live mapping, and its size.
func (r *Registry) Owns(addr uintptr) (uintptr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.spans[addr]
	return n, ok
}

// Free unmaps the mapping that starts at addr. Otherwise it changes nothing
// and returns errs.InvalidPointer for an address inside a live mapping,
// errs.DoubleFree for one freed lately, and errs.ForeignPointer for the rest.
func (r *Registry) Free(addr uintptr) error {
	r.mu.Lock()
	size, ok := r.spans[addr]
	if !ok {
		err := r.classify(addr)
		r.mu.Unlock()
		return err
	}
	delete(r.spans, addr)
	r.recent[r.next] = addr
	r.next = (r.next + 1) % recentFrees
	r.inUse -= int64(size)
	r.frees++
	r.mu.Unlock()
	r.src.Unmap(addrPointer(addr), size)
	return nil
}

// classify explains why addr is not a live mapping's start. r.mu is held.
func (r *Registry) classify(addr uintptr) error {
	for base, size := range r.spans {
		if addr > base && addr < base+size {
			return fmt.Errorf("%w: %#x is %d bytes into the %d-byte mapping at %#x",
				errs.InvalidPointer, addr, addr-base, size, base)
		}
	}
	for _, a := range r.recent {
		if a == addr && addr != 0 {
			return fmt.Errorf("%w: the mapping at %#x was already freed", errs.DoubleFree, addr)
		}
	}
	return fmt.Errorf("%w: %#x", errs.ForeignPointer, addr)
}

// forget drops addr from the recently-freed ring (it was mapped again).
func (r *Registry) forget(addr uintptr) {
	for i, a := range r.recent {
		if a == addr {
			r.recent[i] = 0
		}
	}
}

// Close unmaps every live mapping; later Allocs return errs.Closed.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for base, size := range r.spans {
		r.src.Unmap(addrPointer(base), size)
		r.inUse -= int64(size)
	}
	clear(r.spans)
}

// Stats are a Registry's figures.
type Stats struct {
	Live, InUse   int64
	Allocs, Frees uint64
}

// Stats returns r's figures.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Live: int64(len(r.spans)), InUse: r.inUse, Allocs: r.allocs, Frees: r.frees}
}

// Validate checks that the counters agree with the map.
func (r *Registry) Validate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum int64
	for base, size := range r.spans {
		if base%osmem.PageBytes != 0 || size%osmem.PageBytes != 0 || size == 0 {
			return fmt.Errorf("large: mapping %#x+%d is not page aligned", base, size)
		}
		sum += int64(size)
	}
	if sum != r.inUse {
		return fmt.Errorf("large: counts %d bytes in use, mappings hold %d", r.inUse, sum)
	}
	if uint64(len(r.spans)) != r.allocs-r.frees && !r.closed {
		return fmt.Errorf("large: %d mappings but allocs-frees = %d", len(r.spans), r.allocs-r.frees)
	}
	return nil
}

// addrPointer turns the address of a mapping (never Go memory) into a pointer.
func addrPointer(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
