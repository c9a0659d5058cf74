// One mapping per large allocation, and the registry of them. See doc.go.

package mappings

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// recentFrees is how many freed mappings are remembered to tell a double
// free apart from a foreign pointer.
const recentFrees = 64

// maxKept bounds how many freed mappings are kept for reuse (their bytes
// are bounded by the Source's retention budget), so that the best-fit
// search stays short.
const maxKept = 64

// Registry owns the large mappings of one allocator. It is safe for
// concurrent use (see doc.go). The zero Registry has no Source to map
// from: its Alloc, AllocAtLeast and Remap return errs.ErrUninitialized,
// and it owns nothing. Make one with NewRegistry.
type Registry struct {
	src *osmem.Source

	mu     sync.Mutex
	spans  map[uintptr]uintptr  // live mappings: first address → mapped bytes
	kept   []osmem.Span         // freed mappings kept for reuse, oldest first
	recent [recentFrees]uintptr // first addresses freed lately, a ring
	next   int                  // next slot of recent to overwrite
	closed bool

	huge bool // advise huge pages on mappings of hugeBytes or more; read-only

	inUse  int64
	allocs uint64
	frees  uint64
}

// NewRegistry returns an empty Registry mapping through src.
func NewRegistry(src *osmem.Source) *Registry {
	return &Registry{src: src, spans: make(map[uintptr]uintptr)}
}

// hugeBytes is the size of a transparent huge page on x86-64 and arm64
// with 4 KiB pages: smaller mappings cannot hold one.
const hugeBytes = 2 << 20

// SetHugePages asks for transparent huge pages on new mappings of 2 MiB or
// more. Call it before the Registry is used.
func (r *Registry) SetHugePages(on bool) { r.huge = on }

// RoundUp returns n rounded up to whole pages, the usable size of a large
// allocation of n bytes. n must be positive and at most
// osmem.MaxAllocBytes.
func RoundUp(n uintptr) uintptr {
	return (n + osmem.PageBytes - 1) &^ (osmem.PageBytes - 1)
}

// Alloc returns a region for n bytes, its usable size, and how many of its
// first bytes may hold old bytes (a kept mapping reused, or grown); the
// rest reads as zero (fresh pages). The usable size is always RoundUp(n),
// the one cap rule: a kept mapping is reused if it is at least that and at
// most an eighth bigger (the smallest such one wins), and its spare pages
// are unmapped; else the largest kept mapping smaller than it is grown
// (smallerKept); else a fresh one is mapped. Errors wrap
// errs.ErrOutOfMemory (and the errno or the limit) or are errs.ErrClosed.
func (r *Registry) Alloc(n uintptr) (unsafe.Pointer, uintptr, uintptr, error) {
	return r.alloc(n, true)
}

// AllocAtLeast is Alloc for a caller that will grow into what it gets (a
// growing buffer): it takes the smallest kept mapping of at least n bytes
// whatever it would waste, so that growth fills resident pages instead of
// faulting fresh ones, and maps afresh only when none is kept.
func (r *Registry) AllocAtLeast(n uintptr) (unsafe.Pointer, uintptr, uintptr, error) {
	return r.alloc(n, false)
}

func (r *Registry) alloc(n uintptr, bounded bool) (unsafe.Pointer, uintptr, uintptr, error) {
	if r.src == nil {
		return nil, 0, 0, errs.ErrUninitialized
	}
	size := RoundUp(n)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, 0, 0, errs.ErrClosed
	}
	if best := r.bestKept(size, bounded); best >= 0 {
		sp := r.kept[best]
		r.kept = append(r.kept[:best], r.kept[best+1:]...)
		r.src.Unretain(sp.Size)
		give := sp.Size
		if bounded {
			give = size
		}
		r.spans[sp.Base] = give
		r.inUse += int64(give)
		r.allocs++
		r.mu.Unlock()
		if give < sp.Size { // the spare pages go back: no one may use them
			r.src.Unmap(osmem.AddrPointer(sp.Base+give), sp.Size-give)
		}
		return osmem.AddrPointer(sp.Base), give, give, nil
	}
	if g := r.smallerKept(size); g >= 0 {
		sp := r.kept[g]
		r.kept = append(r.kept[:g], r.kept[g+1:]...)
		r.src.Unretain(sp.Size)
		r.remember(sp.Base)
		r.mu.Unlock()
		p, err := r.grow(sp, size)
		if err != nil {
			if !errors.Is(err, errs.ErrClosed) {
				r.keepAgain(sp) // a refusal changes nothing
			}
			return nil, 0, 0, err
		}
		return p, size, sp.Size, nil // the pages added read as zero
	}
	r.mu.Unlock()

	p, err := r.src.Map(size)
	if err != nil {
		return nil, 0, 0, err
	}
	if r.huge && size >= hugeBytes {
		osmem.AdviseHuge(p, size)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.src.Unmap(p, size)
		return nil, 0, 0, errs.ErrClosed
	}
	r.spans[uintptr(p)] = size
	r.forget(uintptr(p))
	r.inUse += int64(size)
	r.allocs++
	r.mu.Unlock()
	return p, size, 0, nil
}

// bestKept returns the index of the smallest kept mapping of at least size
// bytes, or -1; with bounded, only one that wastes at most an eighth of
// itself qualifies. r.mu is held.
func (r *Registry) bestKept(size uintptr, bounded bool) int {
	best := -1
	for i, sp := range r.kept {
		if sp.Size >= size && (!bounded || sp.Size-size <= sp.Size/8) && (best < 0 || sp.Size < r.kept[best].Size) {
			best = i
		}
	}
	return best
}

// smallerKept returns the index of the largest kept mapping smaller than
// size, or -1; always -1 where mappings cannot be remapped. Growing it
// with mremap keeps its resident pages and adds fresh ones after them:
// an allocation that writes its bytes in order then faults only past
// them. A program that builds a buffer bigger than the one it freed the
// round before (an Arrow builder reserving the next power of two) pays
// no page fault for the bytes the old one held. r.mu is held.
func (r *Registry) smallerKept(size uintptr) int {
	if !r.src.Remappable() {
		return -1
	}
	best := -1
	for i, sp := range r.kept {
		if sp.Size < size && (best < 0 || sp.Size > r.kept[best].Size) {
			best = i
		}
	}
	return best
}

// keepAgain puts back the kept mapping sp that grow could not resize, or
// unmaps it if the Registry was closed or the budget has no room left.
func (r *Registry) keepAgain(sp osmem.Span) {
	r.mu.Lock()
	if !r.closed && r.src.TryRetain(sp.Size) {
		r.forget(sp.Base)
		r.kept = append(r.kept, sp)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.src.Unmap(osmem.AddrPointer(sp.Base), sp.Size)
}

// grow resizes the kept mapping sp, taken out of the kept list, to size
// bytes with mremap and registers it as a live mapping. If the mremap
// fails sp is left as it was; if the Registry was closed meanwhile the
// grown mapping is unmapped and errs.ErrClosed returned.
func (r *Registry) grow(sp osmem.Span, size uintptr) (unsafe.Pointer, error) {
	q, err := r.src.Remap(osmem.AddrPointer(sp.Base), sp.Size, size)
	if err != nil {
		return nil, err
	}
	if r.huge && size >= hugeBytes {
		osmem.AdviseHuge(q, size)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.src.Unmap(q, size)
		return nil, errs.ErrClosed
	}
	r.spans[uintptr(q)] = size
	r.forget(uintptr(q))
	r.inUse += int64(size)
	r.allocs++
	return q, nil
}

// Owns reports whether addr is the first byte of a live mapping, and its size.
func (r *Registry) Owns(addr uintptr) (uintptr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.spans[addr]
	return n, ok
}

// Free releases the mapping that starts at addr: it is kept for reuse if
// the retention budget allows, else unmapped. Otherwise Free changes
// nothing and returns errs.ErrInvalidPointer for an address inside a live
// mapping, errs.ErrDoubleFree for one freed lately, and errs.ErrForeignPointer
// for the rest.
func (r *Registry) Free(addr uintptr) error {
	r.mu.Lock()
	size, ok := r.spans[addr]
	if !ok {
		err := r.classify(addr)
		r.mu.Unlock()
		return err
	}
	delete(r.spans, addr)
	r.inUse -= int64(size)
	r.frees++
	var evict osmem.Span
	if !r.closed && r.src.TryRetain(size) {
		if len(r.kept) == maxKept {
			evict = r.kept[0]
			r.kept = append(r.kept[:0], r.kept[1:]...)
			r.src.Unretain(evict.Size)
			r.remember(evict.Base)
		}
		r.kept = append(r.kept, osmem.Span{Base: addr, Size: size})
		r.mu.Unlock()
		if evict.Size > 0 {
			r.src.Unmap(osmem.AddrPointer(evict.Base), evict.Size)
		}
		return nil
	}
	r.remember(addr)
	r.mu.Unlock()
	r.src.Unmap(osmem.AddrPointer(addr), size)
	return nil
}

// remember notes addr as freed lately. r.mu is held.
func (r *Registry) remember(addr uintptr) {
	r.recent[r.next] = addr
	r.next = (r.next + 1) % recentFrees
}

// Trim unmaps every kept mapping.
func (r *Registry) Trim() {
	r.mu.Lock()
	r.trimLocked()
}

// TrimBytes unmaps kept mappings, oldest first, until at least n bytes are
// unmapped or none is kept, and returns the bytes unmapped. Each leaves
// the retention budget once it is unmapped, so that whoever sees the
// retained bytes fall sees the memory gone.
func (r *Registry) TrimBytes(n int64) int64 {
	r.mu.Lock()
	var gone []osmem.Span
	var done int64
	for len(r.kept) > 0 && done < n {
		sp := r.kept[0]
		r.kept = r.kept[1:]
		r.remember(sp.Base)
		gone = append(gone, sp)
		done += int64(sp.Size)
	}
	r.mu.Unlock()
	for _, sp := range gone {
		r.src.Unmap(osmem.AddrPointer(sp.Base), sp.Size)
		r.src.Unretain(sp.Size)
	}
	return done
}

// TryTrim is Trim if the Registry's lock is free, else nothing.
func (r *Registry) TryTrim() {
	if r.mu.TryLock() {
		r.trimLocked()
	}
}

// trimLocked unmaps every kept mapping; it is entered with r.mu held and
// unlocks it before the munmap calls.
func (r *Registry) trimLocked() {
	kept := r.kept
	r.kept = nil
	for _, sp := range kept {
		r.src.Unretain(sp.Size)
		r.remember(sp.Base)
	}
	r.mu.Unlock()
	for _, sp := range kept {
		r.src.Unmap(osmem.AddrPointer(sp.Base), sp.Size)
	}
}

// Kept returns how many freed mappings are kept, and their bytes.
func (r *Registry) Kept() (n int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.kept {
		bytes += int64(sp.Size)
	}
	return len(r.kept), bytes
}

// classify explains why addr is not a live mapping's start. r.mu is held.
func (r *Registry) classify(addr uintptr) error {
	for base, size := range r.spans {
		if addr > base && addr < base+size {
			return fmt.Errorf("%w: %#x is %d bytes into the %d-byte mapping at %#x",
				errs.ErrInvalidPointer, addr, addr-base, size, base)
		}
	}
	for _, sp := range r.kept {
		if addr == sp.Base {
			return errs.DoubleFree(fmt.Sprintf("the mapping at %#x", addr))
		}
		if addr > sp.Base && addr < sp.Base+sp.Size {
			return errs.DoubleFree(fmt.Sprintf("%#x lies in a mapping", addr))
		}
	}
	for _, a := range r.recent {
		if a == addr && addr != 0 {
			return errs.DoubleFree(fmt.Sprintf("the mapping at %#x", addr))
		}
	}
	return errs.Foreign(addr)
}

// forget drops addr from the recently-freed ring (it was mapped again).
func (r *Registry) forget(addr uintptr) {
	for i, a := range r.recent {
		if a == addr {
			r.recent[i] = 0
		}
	}
}

// Close unmaps every live mapping; later Allocs return errs.ErrClosed.
// The figures stay as they were (Stats): the mappings live at Close were
// never freed, and count as live.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for base, size := range r.spans {
		r.src.Unmap(osmem.AddrPointer(base), size)
	}
	clear(r.spans)
	for _, sp := range r.kept {
		r.src.Unretain(sp.Size)
		r.src.Unmap(osmem.AddrPointer(sp.Base), sp.Size)
	}
	r.kept = nil
}

// Stats holds a Registry's counts, where Live == Allocs - Frees, also after
// Close.
type Stats struct {
	Live, InUse   int64
	Allocs, Frees uint64
}

// Stats returns r's figures.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Live: int64(r.allocs - r.frees), InUse: r.inUse, Allocs: r.allocs, Frees: r.frees}
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
	if sum != r.inUse && !r.closed {
		return fmt.Errorf("large: counts %d bytes in use, mappings hold %d", r.inUse, sum)
	}
	var kept int64
	for _, sp := range r.kept {
		if _, live := r.spans[sp.Base]; live {
			return fmt.Errorf("large: mapping %#x is both live and kept", sp.Base)
		}
		kept += int64(sp.Size)
	}
	var charged int64 // a zero Registry has no Source, and keeps nothing
	if r.src != nil {
		charged = r.src.Retained()
	}
	if kept > charged {
		return fmt.Errorf("large: %d bytes kept but only %d charged to the budget", kept, charged)
	}
	if uint64(len(r.spans)) != r.allocs-r.frees && !r.closed {
		return fmt.Errorf("large: %d mappings but allocs-frees = %d", len(r.spans), r.allocs-r.frees)
	}
	return nil
}
