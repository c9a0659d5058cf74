// Region arenas: bump allocation from mapped chunks, freed all at once.
// See doc.go for the overview.

package arena

import (
	"fmt"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/ptrfree"
)

// Defaults and bounds of a Region.
const (
	// DefaultRegionChunkBytes is what a Region maps at a time: one mmap
	// per MiB of small allocations, and a first chunk whose
	// untouched pages cost no memory.
	DefaultRegionChunkBytes = 1 << 20

	// DefaultRegionRetainBytes is how many chunk bytes Reset keeps mapped
	// for the next round; chunks beyond it are unmapped.
	DefaultRegionRetainBytes = 16 << 20

	// bigDivisor: requests above ChunkBytes/bigDivisor get a mapping of
	// their own, so that moving to a new chunk wastes at most a quarter of
	// the old one.
	bigDivisor = 4

	// regionAlignBytes is the alignment of Alloc, as malloc's max_align_t.
	regionAlignBytes = 16
)

// RegionOptions configures a Region. The zero value is the documented
// default of every field.
type RegionOptions struct {
	// ChunkBytes: bytes mapped at a time for small requests, a multiple of
	// the page size up to 1 GiB. 0 means DefaultRegionChunkBytes (1 MiB).
	// Requests above ChunkBytes/4 get a mapping of their own.
	ChunkBytes int

	// RetainBytes: the most chunk bytes Reset keeps mapped for reuse. 0
	// means DefaultRegionRetainBytes (16 MiB); a negative value keeps none.
	RetainBytes int64

	// Limit: the most bytes the Region maps at once; an allocation that
	// would pass it fails with mmalloc.ErrOutOfMemory. 0 means no limit.
	Limit int64

	// ProfileRate: a positive value samples on average one allocation
	// per ProfileRate bytes, as mmalloc.Options.ProfileRate does (1:
	// every allocation), for WriteHeapProfile. Unlike there, 0 (or a
	// negative value) leaves sampling off; see profile.go for why.
	ProfileRate int
}

// Region is a region allocator: Alloc bumps a pointer through chunks mapped
// from the OS, Reset forgets every allocation at once and keeps the chunks
// for the next round, Close unmaps everything. Its memory is outside
// the Go heap, invisible to the garbage collector, and MUST NOT hold Go
// pointers (NewValue and MakeSlice refuse types that can).
//
// A Region is NOT safe for concurrent use: one goroutine at a time (give
// each goroutine its own, or guard one with a mutex). It takes no lock and
// no atomic, so that Alloc stays a few nanoseconds; concurrent use is a data
// race that the race detector reports. It must not be copied (go vet
// reports copies). After Reset, memory handed out before MUST NOT
// be used (it is handed out again); after Close it is unmapped and
// touching it faults. Every call after Close returns mmalloc.ErrClosed.
//
// A Region's errors are package mmalloc's sentinels, as for an Allocator:
// test them with errors.Is against mmalloc.ErrInvalidSize,
// ErrOutOfMemory, ErrPointerType, ErrInvalidOption, ErrUninitialized,
// ErrClosed and ErrProfileName.
//
// The zero Region is an empty Region with the default RegionOptions, ready to use:
// it maps nothing until its first allocation. A nil *Region returns
// mmalloc.ErrUninitialized from every call that returns an error, and Stats
// returns the zero RegionStats.
type Region struct {
	_ noCopy

	// Invariants, checked by validate:
	//
	//	next == end == 0, or chunks[cur].base <= next <= end == chunks[cur].base + chunkBytes
	//	chunks[cur].base <= cleared <= end, and dirtyEnd <= end
	//	Mapped == len(chunks)*chunkBytes + sum of big mappings' bytes
	//	closed implies no chunk and no big mapping

	src        *osmem.Source
	chunkBytes uintptr
	bigBytes   uintptr // requests above it get their own mapping
	retain     int64
	clearAhead uintptr // bytes cleared at a time in a reused chunk: chunkBytes (see doc.go)

	next, end uintptr // bump pointer and end of the current chunk (0, 0: none)
	limit     uintptr // where the fast path stops: end, or the next sample before it
	cleared   uintptr // bytes of the current chunk in [next, cleared) read as zero
	dirtyEnd  uintptr // bytes of the current chunk at or past it read as zero

	chunks []mapping // every chunk mapped; [0, cur] used this round
	cur    int       // index of the current chunk, -1 before the first
	big    []mapping // mappings of big requests, unmapped at Reset
	closed bool

	allocs uint64 // allocations since New
	used   int64  // bytes handed out since Reset
	resets uint64

	// Sampling; see profile.go.
	prof       heapprof.Profile
	sample     heapprof.Sampler
	sampleFrom uintptr // the bump pointer when sample last counted
}

// mapping is one region of address space a Region mapped.
type mapping struct {
	base, bytes uintptr
	dirty       uintptr // bytes from base that may be non-zero
}

// NewRegion returns an empty Region configured by opts (nothing is mapped until
// the first Alloc), or an error wrapping mmalloc.ErrInvalidOption.
func NewRegion(opts RegionOptions) (*Region, error) {
	if opts.ChunkBytes == 0 {
		opts.ChunkBytes = DefaultRegionChunkBytes
	}
	cb := uintptr(opts.ChunkBytes)
	if opts.ChunkBytes < 0 || cb%osmem.PageBytes != 0 || cb > 1<<30 {
		return nil, fmt.Errorf("%w: ChunkBytes %d is not a multiple of %d up to 1 GiB", errs.ErrInvalidOption, opts.ChunkBytes, osmem.PageBytes)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: Limit %d is negative", errs.ErrInvalidOption, opts.Limit)
	}
	a := &Region{}
	a.setup(opts)
	return a, nil
}

// setup makes a, a zero Region, ready to allocate as opts (valid) say.
func (a *Region) setup(opts RegionOptions) {
	if opts.ChunkBytes == 0 {
		opts.ChunkBytes = DefaultRegionChunkBytes
	}
	if opts.RetainBytes == 0 {
		opts.RetainBytes = DefaultRegionRetainBytes
	}
	cb := uintptr(opts.ChunkBytes)
	a.src, a.chunkBytes, a.bigBytes = osmem.NewSource(opts.Limit), cb, cb/bigDivisor
	a.retain, a.cur, a.clearAhead = opts.RetainBytes, -1, cb
	a.initProfile(opts.ProfileRate)
}

// ready makes a zero Region one with the default RegionOptions. Every call that
// may map, unmap or report asks it first; the fast path of Alloc need not,
// since a zero Region has no chunk and so always takes the slow path.
func (a *Region) ready() {
	if a.src == nil {
		a.setup(RegionOptions{})
	}
}

// Alloc returns n zeroed bytes, 16-byte aligned, with len and cap n. The
// memory lives until the next Reset or Close. Alloc(0) returns an empty
// slice. A negative n or one above mmalloc.MaxAllocBytes returns mmalloc.ErrInvalidSize, a
// refused mapping mmalloc.ErrOutOfMemory, and a call after Close mmalloc.ErrClosed;
// none of them changes anything.
func (a *Region) Alloc(n int) ([]byte, error) {
	if a == nil {
		return nil, errs.ErrUninitialized
	}
	if invariants.Enabled {
		defer a.checkAfter("Alloc")
	}
	if n <= 0 || n > osmem.MaxAllocBytes {
		if a.closed {
			return nil, errs.ErrClosed
		}
		if n == 0 {
			return []byte{}, nil
		}
		if n < 0 {
			return nil, fmt.Errorf("%w: %d bytes, a negative size", errs.ErrInvalidSize, n)
		}
		return nil, fmt.Errorf("%w: %d bytes, above mmalloc.MaxAllocBytes (%d)", errs.ErrInvalidSize, n, osmem.MaxAllocBytes)
	}
	p, err := a.alloc(uintptr(n), regionAlignBytes)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// alloc returns n (0 < n <= mmalloc.MaxAllocBytes) zeroed bytes aligned to align (a
// power of two up to the page size).
func (a *Region) alloc(n, align uintptr) (unsafe.Pointer, error) {
	p := (a.next + align - 1) &^ (align - 1)
	if p+n <= a.limit { // never true after Close, nor without a chunk
		a.next = p + n
		a.used += int64(n)
		a.allocs++
		if p+n > a.cleared {
			a.clearTo(p + n)
		}
		return osmem.AddrPointer(p), nil
	}
	return a.allocSlow(n, align)
}

// clearTo clears the current chunk from a.cleared past upto, clearAhead
// bytes at least, stopping where the chunk was never written.
func (a *Region) clearTo(upto uintptr) {
	to := min(max(upto, a.cleared+a.clearAhead), a.dirtyEnd)
	if to > a.cleared {
		clear(unsafe.Slice((*byte)(osmem.AddrPointer(a.cleared)), to-a.cleared))
	}
	a.cleared = to
	if to == a.dirtyEnd {
		a.cleared = a.end // the rest was never written
	}
}

// allocSlow serves a request that passes the next sample (profile.go) or
// does not fit the current chunk: a mapping of its own for a big one, else
// the next chunk (kept from an earlier round, or mapped now).
func (a *Region) allocSlow(n, align uintptr) (unsafe.Pointer, error) {
	a.ready()
	if a.closed {
		return nil, errs.ErrClosed
	}
	if p := (a.next + align - 1) &^ (align - 1); p+n <= a.end {
		return a.allocSampled(n, align)
	}
	if n > a.bigBytes {
		size := (n + osmem.PageBytes - 1) &^ (osmem.PageBytes - 1)
		p, err := a.src.Map(size)
		if err != nil {
			return nil, err
		}
		a.big = append(a.big, mapping{base: uintptr(p), bytes: size})
		a.used += int64(n)
		a.allocs++
		a.sampleBig(p, n)
		return p, nil
	}
	if a.cur+1 == len(a.chunks) {
		p, err := a.src.Map(a.chunkBytes)
		if err != nil {
			return nil, err
		}
		a.chunks = append(a.chunks, mapping{base: uintptr(p), bytes: a.chunkBytes})
	}
	a.syncSample()
	a.leaveChunk()
	a.cur++
	c := &a.chunks[a.cur]
	a.next, a.end, a.cleared, a.dirtyEnd = c.base, c.base+c.bytes, c.base, c.base+c.dirty
	if c.dirty == 0 {
		a.cleared = a.end // fresh: reads as zero
	}
	a.restartSample()
	return a.alloc(n, align)
}

// leaveChunk records how far the current chunk was written.
func (a *Region) leaveChunk() {
	if a.cur >= 0 {
		c := &a.chunks[a.cur]
		c.dirty = max(c.dirty, a.next-c.base)
	}
}

// Reset forgets every allocation at once: the memory handed out so far
// MUST NOT be used any more, and will be handed out again, zeroed. Chunks
// are kept mapped for reuse up to RegionOptions.RetainBytes and the rest are
// unmapped, as are the mappings of big requests. After Close it returns
// mmalloc.ErrClosed.
func (a *Region) Reset() error {
	if a == nil {
		return errs.ErrUninitialized
	}
	if invariants.Enabled {
		defer a.checkAfter("Reset")
	}
	if a.closed {
		return errs.ErrClosed
	}
	a.ready()
	a.forgetSamples()
	a.leaveChunk()
	for _, m := range a.big {
		a.src.Unmap(osmem.AddrPointer(m.base), m.bytes)
	}
	clear(a.big)
	a.big = a.big[:0]
	keep := len(a.chunks)
	if a.retain < 0 {
		keep = 0
	} else {
		keep = min(keep, int(a.retain/int64(a.chunkBytes)))
	}
	for _, m := range a.chunks[keep:] {
		a.src.Unmap(osmem.AddrPointer(m.base), m.bytes)
	}
	a.chunks = a.chunks[:keep]
	a.cur, a.next, a.end, a.cleared, a.dirtyEnd = -1, 0, 0, 0, 0
	a.restartSample()
	a.used = 0
	a.resets++
	return nil
}

// Close unmaps every byte of the Region. The memory handed out MUST NOT be
// used any more (touching it faults), and every later call returns
// mmalloc.ErrClosed, a second Close included.
func (a *Region) Close() error {
	if a == nil {
		return errs.ErrUninitialized
	}
	if invariants.Enabled {
		defer a.checkAfter("Close")
	}
	if err := a.Reset(); err != nil {
		return err
	}
	for _, m := range a.chunks {
		a.src.Unmap(osmem.AddrPointer(m.base), m.bytes)
	}
	a.chunks = nil
	a.big = nil
	a.closed = true
	return nil
}

// RegionStats are a Region's figures.
type RegionStats struct {
	Mapped     int64  // bytes mapped now: chunks and big mappings
	Chunks     int    // chunks mapped (in use this round or kept)
	Big        int    // mappings of big requests, this round
	Used       int64  // bytes handed out since the last Reset
	Allocs     uint64 // allocations since New
	Resets     uint64 // calls of Reset (Close included)
	Mmaps      uint64 // mmap calls since New
	Munmaps    uint64 // munmap calls since New
	ChunkBytes int64  // size of one chunk
	PeakMapped int64  // most bytes mapped at once
	Closed     bool   // Close was called
}

// Stats returns a's figures. It may be called at any time, after Close
// too; a nil Region has the zero RegionStats.
func (a *Region) Stats() RegionStats {
	if a == nil {
		return RegionStats{}
	}
	a.ready()
	return RegionStats{
		Mapped: a.src.Mapped(), Chunks: len(a.chunks), Big: len(a.big), Used: a.used,
		Allocs: a.allocs, Resets: a.resets, Mmaps: a.src.Mmaps(), Munmaps: a.src.Munmaps(),
		ChunkBytes: int64(a.chunkBytes), PeakMapped: a.src.Peak(), Closed: a.closed,
	}
}

// NewValue returns a pointer to a new zero value of type T in ar, aligned
// for T, as new(T) would. T must hold no Go pointers (else mmalloc.ErrPointerType,
// naming the field path); a T above mmalloc.MaxAllocBytes returns mmalloc.ErrInvalidSize,
// and a refused mapping mmalloc.ErrOutOfMemory. The value lives until ar's next
// Reset or Close; there is no individual free. No value of T is made on
// the Go heap, whatever T's size: the zero value is the cleared memory.
func NewValue[T any](ar *Region) (*T, error) {
	if ar == nil {
		return nil, errs.ErrUninitialized
	}
	if invariants.Enabled {
		defer ar.checkAfter("NewValue")
	}
	if ar.closed {
		return nil, errs.ErrClosed
	}
	l := ptrfree.Of[T]()
	if l.Err != nil {
		return nil, l.Err
	}
	if l.Size > osmem.MaxAllocBytes {
		return nil, fmt.Errorf("%w: a %d-byte value, above mmalloc.MaxAllocBytes (%d)", errs.ErrInvalidSize, l.Size, osmem.MaxAllocBytes)
	}
	if l.Size == 0 {
		return new(T), nil
	}
	p, err := ar.alloc(l.Size, l.Align)
	if err != nil {
		return nil, err
	}
	return (*T)(p), nil
}

// MakeSlice returns a zeroed slice of T in ar with the given length and
// capacity, as make([]T, length, capacity) would. T must hold no Go
// pointers (else mmalloc.ErrPointerType). A negative length, a capacity below the
// length or one whose bytes pass mmalloc.MaxAllocBytes returns mmalloc.ErrInvalidSize. The
// slice lives until ar's next Reset or Close.
func MakeSlice[T any](ar *Region, length, capacity int) ([]T, error) {
	if ar == nil {
		return nil, errs.ErrUninitialized
	}
	if invariants.Enabled {
		defer ar.checkAfter("MakeSlice")
	}
	if ar.closed {
		return nil, errs.ErrClosed
	}
	l := ptrfree.Of[T]()
	if l.Err != nil {
		return nil, l.Err
	}
	size := int(min(l.Size, osmem.MaxAllocBytes+1)) // above mmalloc.MaxAllocBytes, one element is too many
	if length < 0 || capacity < length || (size > 0 && capacity > osmem.MaxAllocBytes/size) {
		return nil, fmt.Errorf("%w: length %d, capacity %d of %d-byte elements", errs.ErrInvalidSize, length, capacity, l.Size)
	}
	if capacity == 0 || size == 0 {
		return make([]T, length, capacity), nil
	}
	p, err := ar.alloc(uintptr(capacity*size), l.Align)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*T)(p), capacity)[:length], nil
}

// validate checks a's invariants; tests call it.
func (a *Region) validate() error {
	if a.src == nil { // a zero Region, never used
		if a.next != 0 || a.end != 0 || len(a.chunks)+len(a.big) > 0 || a.closed {
			return fmt.Errorf("arena: a Region without a Source has state (bump %#x..%#x, %d chunks)", a.next, a.end, len(a.chunks))
		}
		return nil
	}
	if a.cur < 0 || a.next == 0 {
		if a.next != 0 || a.end != 0 {
			return fmt.Errorf("arena: bump pointer %#x..%#x without a current chunk", a.next, a.end)
		}
	} else {
		c := a.chunks[a.cur]
		if a.next < c.base || a.next > a.end || a.end != c.base+a.chunkBytes {
			return fmt.Errorf("arena: bump pointer %#x..%#x outside chunk %#x", a.next, a.end, c.base)
		}
		if a.cleared < c.base || a.cleared > a.end || a.dirtyEnd > a.end {
			return fmt.Errorf("arena: cleared %#x or dirty end %#x outside chunk %#x", a.cleared, a.dirtyEnd, c.base)
		}
	}
	if a.limit < a.next || a.limit > a.end || a.sampleFrom > a.next {
		return fmt.Errorf("arena: fast path limit %#x or sample mark %#x outside %#x..%#x", a.limit, a.sampleFrom, a.next, a.end)
	}
	mapped := int64(len(a.chunks)) * int64(a.chunkBytes)
	for _, m := range a.big {
		mapped += int64(m.bytes)
	}
	if mapped != a.src.Mapped() {
		return fmt.Errorf("arena: %d bytes mapped, chunks and big mappings hold %d", a.src.Mapped(), mapped)
	}
	if a.closed && mapped != 0 {
		return fmt.Errorf("arena: closed with %d bytes mapped", mapped)
	}
	return nil
}

// noCopy makes go vet's copylocks check flag copies of a Region.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
