// Chunks and the Heap that maps, carves and unmaps them. See doc.go.

package chunk

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// PageBytes is the unit in which chunks are carved, and pageShift its log2.
var (
	PageBytes = osmem.PageBytes
	pageShift = uint(bits.TrailingZeros64(uint64(osmem.PageBytes)))
)

// unitShift is log2 of the unit of a chunk's second, coarser page table
// (Chunk.units): 64 KiB, or the page if that is bigger. Slabs are whole
// units, and first fit keeps runs of whole units on unit boundaries, so
// every slab's pages are whole units of the table: one entry per 64 KiB
// instead of sixteen. A 4 MiB chunk's unit table is 512 bytes, which a
// big heap's Frees keep in cache; its page table is 8 KiB.
var unitShift = max(16, pageShift)

// ErrClosed is returned by a Heap after Close: the value package mmalloc
// exports, since a Heap closes with its Allocator.
var ErrClosed = errs.ErrClosed

// ErrAddressSpace is returned (wrapped in osmem.ErrNoMemory) when the kernel
// places a chunk where the registry cannot index it.
var ErrAddressSpace = errors.New("chunk: mapped outside the indexed address space")

// Chunk is one aligned mapping of Heap.ChunkBytes bytes, carved into runs of
// pages. Its identity fields are read-only after creation; the page bitmaps
// belong to the owning Heap and are protected by its mutex; owners are read
// without a lock and written with atomic stores under the Heap's mutex.
//
// Invariant: nfree == popcount(free), a page is free iff owners[page]
// is nil, and units[u], if not nil, is the owner of every page of unit u.
type Chunk struct {
	base  uintptr // first byte, aligned to bytes
	bytes uintptr // size of the mapping
	heap  *Heap   // owner; read-only
	pages int

	// Protected by heap.mu.
	free  []uint64 // bit set: page is free
	dirty []uint64 // bit set: page may hold non-zero bytes
	nfree int
	state chunkState

	owners []unsafe.Pointer // per page: the user of the run holding it, or nil
	// units is owners per unit (1<<unitShift bytes): the user of a run that
	// covers the whole unit, else nil. Read and written as owners is.
	units []unsafe.Pointer
}

type chunkState uint8

const (
	chunkInUse chunkState = iota // some page in use
	chunkEmpty                   // no page in use, kept mapped for reuse
	chunkGone                    // unmapped; the Chunk is only a stale reference
)

// Heap returns the Heap that mapped c.
func (c *Chunk) Heap() *Heap { return c.heap }

// Base returns the chunk's first address.
func (c *Chunk) Base() uintptr { return c.base }

// Page returns the index of the page holding addr (which must lie in c).
// A shift, not a division: this is on every Free's path.
func (c *Chunk) Page(addr uintptr) int { return int((addr - c.base) >> pageShift) }

// Owner returns what was recorded for the run holding page i, or nil if the
// page is free. It takes no lock.
func (c *Chunk) Owner(i int) unsafe.Pointer { return atomic.LoadPointer(&c.owners[i]) }

// Heap maps chunks from one osmem.Source and hands out page runs from them.
// It is safe for concurrent use; mu guards every chunk's bitmaps and state.
type Heap struct {
	mu sync.Mutex

	src        *osmem.Source
	reclaim    func() // see SetReclaim; read-only
	chunkBytes uintptr
	huge       bool // advise transparent huge pages on new chunks
	shared     bool // another process may write free pages: no run reads as zero

	inuse  []*Chunk // chunks with at least one used page; protected by mu
	empty  []*Chunk // empty chunks kept for reuse, newest last; protected by mu
	hint   uintptr  // where to try the next chunk mapping; protected by mu
	closed bool     // protected by mu
}

// HeapOptions configures a Heap.
type HeapOptions struct {
	ChunkBytes int  // power of two, multiple of GranuleBytes
	HugePages  bool // madvise(MADV_HUGEPAGE) on every chunk

	// Shared says the chunks are pages of a memory file that another
	// process maps too: it may write into a clean free page at any time,
	// so a run is never reported as reading zero, and every object carved
	// from it is cleared as it is handed out.
	Shared bool
}

// NewHeap returns a Heap mapping through src.
func NewHeap(src *osmem.Source, o HeapOptions) (*Heap, error) {
	cb := uintptr(o.ChunkBytes)
	if o.ChunkBytes <= 0 || cb%GranuleBytes != 0 || cb&(cb-1) != 0 {
		return nil, fmt.Errorf("chunk: chunk size %d is not a power-of-two multiple of %d", o.ChunkBytes, GranuleBytes)
	}
	return &Heap{src: src, chunkBytes: cb, huge: o.HugePages, shared: o.Shared}, nil
}

// Source returns the Source the Heap maps through.
func (h *Heap) Source() *osmem.Source { return h.src }

// ChunkBytes returns the size of every chunk.
func (h *Heap) ChunkBytes() uintptr { return h.chunkBytes }

// SetReclaim sets a function AllocPages calls when it cannot map a chunk,
// after letting the Heap's lock go (so f may call FreePages): it should
// give retained memory back (for instance, empty slabs kept by their
// owners), and AllocPages then tries once more. Call it before the Heap
// is used.
func (h *Heap) SetReclaim(f func()) { h.reclaim = f }

// AllocPages finds a run of n free pages, maps a new chunk if none has room,
// and records owner for each page of the run. It returns the run's chunk,
// first page, and whether the run is known to read as zero (never in a
// Shared Heap).
func (h *Heap) AllocPages(n int, owner unsafe.Pointer) (c *Chunk, page int, zeroed bool, err error) {
	return h.AllocPagesFor(n, owner, nil)
}

// AllocPagesFor is AllocPages for an owner that lock-free readers find
// through the page table (Chunk.Owner, Memo.Owner): place, if not nil, is
// called with the run before the owner is recorded for its pages, so that
// the owner is complete before any reader can see it. place runs under the
// Heap's lock and must not call the Heap.
func (h *Heap) AllocPagesFor(n int, owner unsafe.Pointer, place func(c *Chunk, page int, zeroed bool)) (c *Chunk, page int, zeroed bool, err error) {
	if n <= 0 || uintptr(n)*PageBytes > h.chunkBytes {
		return nil, 0, false, fmt.Errorf("chunk: %d pages do not fit a chunk", n)
	}
	c, page, zeroed, err = h.allocPages(n, owner, place)
	if errors.Is(err, osmem.ErrNoMemory) && h.reclaim != nil && h.src.Retained() > 0 {
		h.reclaim()
		c, page, zeroed, err = h.allocPages(n, owner, place)
	}
	return c, page, zeroed, err
}

func (h *Heap) allocPages(n int, owner unsafe.Pointer, place func(*Chunk, int, bool)) (c *Chunk, page int, zeroed bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, false, ErrClosed
	}
	// First fit over the chunks in use, in the order of h.inuse (which
	// the swap-remove of emptied chunks reorders).
	for _, c := range h.inuse {
		if c.nfree < n {
			continue
		}
		if p := c.findRun(n); p >= 0 {
			if err := c.markHeld(p, n); err != nil {
				return nil, 0, false, err
			}
			return c, p, c.take(p, n, owner, place), nil
		}
	}
	k := len(h.empty)
	if k > 0 {
		c = h.empty[k-1]
	} else if c, err = h.mapChunk(); err != nil {
		return nil, 0, false, err
	}
	if err := c.markHeld(0, n); err != nil {
		if k == 0 { // a new chunk: keep it as the empty one, or give it back
			if h.keepEmpty(c) {
				c.state = chunkEmpty
				h.empty = append(h.empty, c)
			} else {
				h.unmapChunk(c)
			}
		}
		return nil, 0, false, err
	}
	if k > 0 {
		h.empty = h.empty[:k-1]
	}
	c.state = chunkInUse
	h.inuse = append(h.inuse, c)
	return c, 0, c.take(0, n, owner, place), nil
}

// markHeld counts the clean pages of the run of n pages at page back as
// held (see osmem.Source.MarkHeld): they hold no memory until touched,
// and count as released until taken. h.mu is held.
func (c *Chunk) markHeld(page, n int) error {
	clean := 0
	for i := page; i < page+n; i++ {
		if c.dirty[i/64]&(1<<(i%64)) == 0 {
			clean++
		}
	}
	return c.heap.src.MarkHeld(uintptr(clean) * PageBytes)
}

// FreePages returns the run of n pages at page of c. The pages stay
// resident, charged to the retention budget, if it has room; else they are
// released at once (MADV_DONTNEED). A chunk left empty is kept mapped if
// it is the only empty one and retention is on, else unmapped.
func (h *Heap) FreePages(c *Chunk, page, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.freePages(c, page, n)
}

// TryFreePages is FreePages if the Heap's lock is free, and reports
// whether it was (a caller that may hold the lock uses it).
func (h *Heap) TryFreePages(c *Chunk, page, n int) bool {
	if !h.mu.TryLock() {
		return false
	}
	defer h.mu.Unlock()
	h.freePages(c, page, n)
	return true
}

func (h *Heap) freePages(c *Chunk, page, n int) {
	if c.state == chunkGone {
		return
	}
	// Every unit the run touches loses its entry: its pages no longer
	// share an owner.
	first, last := unitOf(page), unitOf(page+n-1)
	for u := first; u <= last; u++ {
		atomic.StorePointer(&c.units[u], nil)
	}
	for i := page; i < page+n; i++ {
		c.free[i/64] |= 1 << (i % 64)
		atomic.StorePointer(&c.owners[i], nil)
	}
	c.nfree += n
	if !h.src.TryRetain(uintptr(n) * PageBytes) {
		h.src.Release(osmem.AddrPointer(c.base+uintptr(page)*PageBytes), uintptr(n)*PageBytes)
		h.src.MarkReleased(uintptr(n) * PageBytes)
		for i := page; i < page+n; i++ {
			c.dirty[i/64] &^= 1 << (i % 64)
		}
	}
	if c.nfree < c.pages || c.state != chunkInUse {
		return
	}
	h.removeInuse(c)
	if h.closed || !h.keepEmpty(c) {
		h.unmapChunk(c)
		return
	}
	c.state = chunkEmpty
	h.empty = append(h.empty, c)
}

// Trim unmaps every empty chunk and releases the physical pages of every
// free run in chunks still in use (they read as zero afterwards).
func (h *Heap) Trim() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.empty {
		h.unmapChunk(c)
	}
	h.empty = h.empty[:0]
	for _, c := range h.inuse {
		c.releaseFreeDirty()
	}
}

// TrimBytes gives back at least n bytes of the free, dirty pages charged
// to the retention budget, or all of them: it unmaps the kept empty chunks
// that hold some, then releases free dirty runs of the chunks in use. It
// returns the bytes of charged pages given back.
func (h *Heap) TrimBytes(n int64) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var done int64
	kept := h.empty[:0]
	for _, c := range h.empty {
		if d := c.freeDirty(); d > 0 && done < n {
			done += int64(d) * int64(PageBytes)
			h.unmapChunk(c)
			continue
		}
		kept = append(kept, c)
	}
	clear(h.empty[len(kept):])
	h.empty = kept
	for _, c := range h.inuse {
		if done >= n {
			break
		}
		done += c.releaseFreeDirtyBytes(n - done)
	}
	return done
}

// TryTrimEmpty unmaps the kept empty chunks if the Heap's lock is free
// (it may be called while the caller holds it, and then does nothing).
func (h *Heap) TryTrimEmpty() {
	if !h.mu.TryLock() {
		return
	}
	defer h.mu.Unlock()
	for _, c := range h.empty {
		h.unmapChunk(c)
	}
	h.empty = h.empty[:0]
}

// Charged returns the bytes of free pages charged to the retention budget
// (free and dirty), for validation.
func (h *Heap) Charged() int64 { return h.sumPages((*Chunk).freeDirty) }

// sumPages returns the bytes of the pages count finds in every chunk.
func (h *Heap) sumPages(count func(*Chunk) int) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int
	for _, c := range h.inuse {
		n += count(c)
	}
	for _, c := range h.empty {
		n += count(c)
	}
	return int64(n) * int64(PageBytes)
}

// Close unmaps every chunk, in use or not. Later AllocPages calls fail.
func (h *Heap) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, c := range h.empty {
		h.unmapChunk(c)
	}
	for _, c := range h.inuse {
		h.unmapChunk(c)
	}
	h.empty, h.inuse = nil, nil
}

// Counts returns the number of chunks in use and kept empty.
func (h *Heap) Counts() (inuse, empty int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.inuse), len(h.empty)
}

// Validate checks the Heap's invariants and returns the first one broken.
func (h *Heap) Validate() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.inuse {
		if err := c.validate(chunkInUse); err != nil {
			return err
		}
		if c.nfree == c.pages {
			return fmt.Errorf("chunk: chunk %#x is empty but listed in use", c.base)
		}
	}
	for _, c := range h.empty {
		if err := c.validate(chunkEmpty); err != nil {
			return err
		}
		if c.nfree != c.pages {
			return fmt.Errorf("chunk: chunk %#x listed empty has %d pages in use", c.base, c.pages-c.nfree)
		}
	}
	if limit := h.src.RetainCap(); len(h.empty) > 1 && int64(len(h.empty)-1)*int64(h.chunkBytes) > limit {
		return fmt.Errorf("chunk: %d empty chunks kept, more than the budget %d allows", len(h.empty), limit)
	}
	return nil
}

func (c *Chunk) validate(want chunkState) error {
	if c.state != want {
		return fmt.Errorf("chunk: chunk %#x in state %d, listed as %d", c.base, c.state, want)
	}
	if Lookup(c.base) != c || Lookup(c.base+c.bytes-1) != c {
		return fmt.Errorf("chunk: chunk %#x is not registered", c.base)
	}
	n := 0
	for i := 0; i < c.pages; i++ {
		isFree := c.free[i/64]&(1<<(i%64)) != 0
		if isFree {
			n++
		}
		if isFree != (c.Owner(i) == nil) {
			return fmt.Errorf("chunk: chunk %#x page %d: free=%v but owner=%p", c.base, i, isFree, c.Owner(i))
		}
	}
	if n != c.nfree {
		return fmt.Errorf("chunk: chunk %#x counts %d free pages, bitmap has %d", c.base, c.nfree, n)
	}
	for u := range c.units {
		owner := atomic.LoadPointer(&c.units[u])
		if owner == nil {
			continue
		}
		for i := u * unitPages(); i < (u+1)*unitPages(); i++ {
			if c.Owner(i) != owner {
				return fmt.Errorf("chunk: chunk %#x unit %d names %p, but page %d is %p's", c.base, u, owner, i, c.Owner(i))
			}
		}
	}
	return nil
}

// mapChunk maps, registers and returns a new empty chunk. h.mu is held.
func (h *Heap) mapChunk() (*Chunk, error) {
	p, err := h.src.MapAligned(h.chunkBytes, h.chunkBytes, h.hint)
	if err != nil {
		return nil, err
	}
	base := uintptr(p)
	pages := int(h.chunkBytes / PageBytes)
	words := (pages + 63) / 64
	c := &Chunk{
		base: base, bytes: h.chunkBytes, heap: h, pages: pages,
		free: make([]uint64, words), dirty: make([]uint64, words),
		nfree: pages, owners: make([]unsafe.Pointer, pages),
		units: make([]unsafe.Pointer, h.chunkBytes>>unitShift),
	}
	for i := range pages {
		c.free[i/64] |= 1 << (i % 64)
	}
	// Every page is free and clean: none holds memory until taken.
	h.src.MarkReleased(h.chunkBytes)
	if !register(c) {
		h.src.UnmapReleased(p, h.chunkBytes, h.chunkBytes)
		return nil, fmt.Errorf("%w: %w at %#x", osmem.ErrNoMemory, ErrAddressSpace, base)
	}
	if h.huge {
		osmem.AdviseHuge(p, h.chunkBytes)
	}
	// The kernel hands out addresses top-down: the next chunk most likely
	// fits just below this one, already aligned.
	if base >= h.chunkBytes {
		h.hint = base - h.chunkBytes
	}
	return c, nil
}

// keepEmpty decides whether the newly empty chunk c stays mapped: with
// retention on, one empty chunk always may (a workload hovering at a chunk
// boundary then never maps and unmaps on every turn), and more may while
// they hold resident pages already charged to the budget, up to the
// budget's worth of chunks (the decay allowance included). h.mu is held.
func (h *Heap) keepEmpty(c *Chunk) bool {
	limit := h.src.RetainCap()
	switch {
	case limit <= 0:
		return false
	case len(h.empty) == 0:
		return true
	default:
		return c.freeDirty() > 0 && int64(len(h.empty))*int64(h.chunkBytes) < limit
	}
}

// unmapChunk deregisters and unmaps c, and gives its charged pages back
// to the retention budget. h.mu is held.
func (h *Heap) unmapChunk(c *Chunk) {
	if d := c.freeDirty(); d > 0 {
		h.src.Unretain(uintptr(d) * PageBytes)
	}
	deregister(c)
	for i := range c.owners {
		atomic.StorePointer(&c.owners[i], nil)
	}
	for u := range c.units {
		atomic.StorePointer(&c.units[u], nil)
	}
	c.state = chunkGone
	h.src.UnmapReleased(osmem.AddrPointer(c.base), c.bytes, uintptr(c.freeClean())*PageBytes)
}

func (h *Heap) removeInuse(c *Chunk) {
	for i, x := range h.inuse {
		if x == c {
			last := len(h.inuse) - 1
			h.inuse[i] = h.inuse[last]
			h.inuse[last] = nil
			h.inuse = h.inuse[:last]
			return
		}
	}
}

// findRun returns the first page of a run of n free pages, or -1.
func (c *Chunk) findRun(n int) int {
	run := 0
	for w, word := range c.free {
		if word == 0 {
			run = 0
			continue
		}
		if word == ^uint64(0) && run+64 < n {
			run += 64
			continue
		}
		for b := 0; b < 64; b++ {
			i := w*64 + b
			if i >= c.pages {
				return -1
			}
			if word&(1<<b) == 0 {
				run = 0
				continue
			}
			run++
			if run == n {
				return i - n + 1
			}
		}
	}
	return -1
}

// take marks n pages at page used and dirty, records owner, and reports
// whether they read as zero: all were clean, and no other process can
// have written them (the Heap is not Shared). Dirty free pages leave the
// retention budget as they are reused. h.mu is held.
func (c *Chunk) take(page, n int, owner unsafe.Pointer, place func(*Chunk, int, bool)) bool {
	dirty := 0
	for i := page; i < page+n; i++ {
		w, bit := i/64, uint64(1)<<(i%64)
		c.free[w] &^= bit
		if c.dirty[w]&bit != 0 {
			dirty++
		}
		c.dirty[w] |= bit
	}
	c.nfree -= n
	if dirty > 0 {
		c.heap.src.Unretain(uintptr(dirty) * PageBytes)
	}
	zeroed := dirty == 0 && !c.heap.shared
	if place != nil {
		place(c, page, zeroed)
	}
	for i := page; i < page+n; i++ {
		atomic.StorePointer(&c.owners[i], owner)
	}
	// The units the run covers whole, after the pages: an entry is never
	// ahead of its pages.
	for u := unitOf(page + unitPages() - 1); (u+1)*unitPages() <= page+n; u++ {
		atomic.StorePointer(&c.units[u], owner)
	}
	return zeroed
}

// unitPages returns the pages of one unit of Chunk.units.
func unitPages() int { return 1 << (unitShift - pageShift) }

// unitOf returns the unit of Chunk.units holding page i.
func unitOf(i int) int { return i >> (unitShift - pageShift) }

// freeClean counts the free pages that hold no memory: the ones counted
// as released. h.mu is held.
func (c *Chunk) freeClean() int {
	n := 0
	for w := range c.free {
		n += bits.OnesCount64(c.free[w] &^ c.dirty[w])
	}
	return n
}

// Released returns the bytes of free pages that hold no memory, in every
// chunk, for validation: what the Source counts as released.
func (h *Heap) Released() int64 { return h.sumPages((*Chunk).freeClean) }

// freeDirty counts the free pages that may hold bytes: the ones charged to
// the retention budget. h.mu is held.
func (c *Chunk) freeDirty() int {
	n := 0
	for w := range c.free {
		n += bits.OnesCount64(c.free[w] & c.dirty[w])
	}
	return n
}

// releaseFreeDirty gives back the physical pages of free, dirty runs, and
// their charge to the retention budget. h.mu is held.
func (c *Chunk) releaseFreeDirty() { c.releaseFreeDirtyBytes(math.MaxInt64) }

// releaseFreeDirtyBytes is releaseFreeDirty that stops once at least n
// bytes are released, and returns the bytes released. h.mu is held.
func (c *Chunk) releaseFreeDirtyBytes(n int64) int64 {
	var done int64
	start := -1
	flush := func(end int) {
		if start >= 0 {
			bytes := uintptr(end-start) * PageBytes
			c.heap.src.Release(osmem.AddrPointer(c.base+uintptr(start)*PageBytes), bytes)
			c.heap.src.Unretain(bytes)
			c.heap.src.MarkReleased(bytes)
			for i := start; i < end; i++ {
				c.dirty[i/64] &^= 1 << (i % 64)
			}
			start = -1
			done += int64(bytes)
		}
	}
	for i := 0; i < c.pages && done < n; i++ {
		w, bit := i/64, uint64(1)<<(i%64)
		if c.free[w]&c.dirty[w]&bit != 0 {
			if start < 0 {
				start = i
			}
		} else {
			flush(i)
		}
	}
	flush(c.pages)
	return done
}

// Memo remembers the page tables of a few chunks (memoChunks), so that
// the owner of an address in one of them can be read without the
// registry: an index, a comparison and two loads. Chunks are aligned to
// their size, so a chunk's place in the Memo is read from an address's
// bits above the chunk size: chunks that are neighbours in the address
// space, as a heap's chunks mostly are, take different places. The zero
// Memo remembers nothing. A Memo is not safe for concurrent use; it
// belongs to one cache, of one Heap (whose chunks share their size).
//
// A Memo may outlive its chunks' mappings. Every page of a chunk is free
// before the chunk is unmapped, so a Memo of an unmapped chunk reads every
// address as free (nil), and the caller falls back to the registry.
type Memo struct {
	e     [memoChunks]memoEntry
	shift uint // log2 of the chunks' size
}

// memoChunks is how many chunks a Memo remembers: a cache whose frees
// wander over a live set of a few chunks (16 MiB of 4 MiB chunks) finds
// them all without the registry.
const memoChunks = 4

// memoEntry is one chunk a Memo remembers.
type memoEntry struct {
	base   uintptr
	bytes  uintptr // 0: nothing remembered
	units  unsafe.Pointer
	owners unsafe.Pointer
}

// Set makes m remember c, in the place of the chunk it remembered there.
func (m *Memo) Set(c *Chunk) {
	m.shift = uint(bits.TrailingZeros64(uint64(c.bytes)))
	m.e[(c.base>>(m.shift&63))%memoChunks] = memoEntry{base: c.base, bytes: c.bytes,
		units: unsafe.Pointer(unsafe.SliceData(c.units)), owners: unsafe.Pointer(unsafe.SliceData(c.owners))}
}

// Owner returns what was recorded for addr's page when addr lies in a
// remembered chunk, else nil. It takes no lock.
func (m *Memo) Owner(addr uintptr) unsafe.Pointer {
	e := &m.e[(addr>>(m.shift&63))%memoChunks]
	off := addr - e.base
	if off >= e.bytes {
		return nil
	}
	// off < bytes, so the indexes are within units and owners. The unit
	// table answers for every page of a run of whole units (every slab's),
	// from one small table; the page table for the rest.
	if p := atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(e.units, (off>>(unitShift&63))*unsafe.Sizeof(e.units)))); p != nil {
		return p
	}
	return atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(e.owners, (off>>(pageShift&63))*unsafe.Sizeof(e.owners))))
}
