// The Allocator, its Options and its errors. See doc.go for the overview.

package mmalloc

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/large"
	"github.com/mmalloc/mmalloc/slab"
	"github.com/mmalloc/mmalloc/stats"
)

// Errors returned by the Allocator. Test for them with errors.Is: most are
// wrapped with the address or size that caused them.
var (
	// ErrInvalidSize: a negative size, or one no mapping can hold.
	ErrInvalidSize = errs.ErrInvalidSize
	// ErrForeignPointer: Free of memory this Allocator did not hand out
	// (the Go heap, a global, another Allocator, memory already unmapped).
	ErrForeignPointer = errs.ErrForeignPointer
	// ErrInvalidPointer: Free of an address inside an allocation, not at
	// its first byte.
	ErrInvalidPointer = errs.ErrInvalidPointer
	// ErrDoubleFree: Free of memory this Allocator owns that holds no live
	// allocation: a second Free of a small object whose slot has not been
	// handed out again, or of a recently unmapped large allocation.
	ErrDoubleFree = errs.ErrDoubleFree
	// ErrOutOfMemory: the kernel refused a mapping (the errno is wrapped,
	// so errors.Is(err, unix.ENOMEM) works) or Options.Limit would be passed.
	ErrOutOfMemory = errs.ErrOutOfMemory
	// ErrClosed: the Allocator was closed.
	ErrClosed = errs.ErrClosed
	// ErrInvalidOption: New was given Options it cannot honour.
	ErrInvalidOption = errs.ErrInvalidOption
)

// Defaults of the Options fields.
const (
	// DefaultLargeThreshold is the largest request served from slabs. Above
	// it an allocation gets its own mapping, as glibc's M_MMAP_THRESHOLD.
	DefaultLargeThreshold = slab.MaxSmallBytes // 128 KiB

	// DefaultChunkBytes is the size of the chunks slabs are carved from: big
	// enough that mapping one (about 5 µs) is rare, small enough that an
	// empty one is worth giving back.
	DefaultChunkBytes = 4 << 20

	// DefaultRetainBytes is how many bytes of freed memory — empty chunks,
	// empty slabs, freed large mappings — are kept mapped for reuse. Reusing
	// them costs a memclr; mapping afresh costs an mmap and munmap (about
	// 5 µs) plus a fault per 4 KiB page touched (1.4–2.5 µs each), so a
	// 1 MiB buffer is about ten times cheaper reused. Trim releases them.
	DefaultRetainBytes = 64 << 20

	// MaxAllocBytes is the largest request accepted: half of the 47-bit
	// user address space. Larger ones fail with ErrInvalidSize. The
	// region arena's arena.MaxAllocBytes is the same bound.
	MaxAllocBytes = osmem.MaxAllocBytes
)

// NoRetain, as Options.RetainBytes, keeps no freed memory mapped: every
// large Free is one munmap and every empty chunk is unmapped at once.
const NoRetain = -1

// Options configures an Allocator. The zero value is the documented default
// of every field.
type Options struct {
	// LargeThreshold: requests above it get a mapping of their own.
	// 0 means DefaultLargeThreshold (128 KiB); it may be lowered, not raised.
	LargeThreshold int

	// ChunkSize: bytes the arena maps at a time for slabs, a power of two
	// from 1 MiB to 1 GiB. 0 means DefaultChunkBytes (4 MiB).
	ChunkSize int

	// Limit: the most bytes mapped at once (chunks + large mappings). An
	// allocation that would pass it fails with ErrOutOfMemory. 0 means no
	// limit beyond the kernel's.
	Limit int64

	// RetainBytes: the most bytes of freed memory (empty chunks and slabs,
	// freed large mappings) kept mapped for reuse; Trim releases them.
	// 0 means DefaultRetainBytes (64 MiB); NoRetain (or any negative value)
	// keeps none, so that every large Alloc is one mmap and its Free one
	// munmap. Besides the budget, the free objects resting in each P's cache
	// keep their slabs resident until Trim: at most one slab per size class
	// per P, 11 MiB per P in all.
	RetainBytes int64

	// HugePages asks for transparent huge pages (madvise MADV_HUGEPAGE) on
	// every chunk and on large mappings of 2 MiB or more. Measured here
	// (go test -bench ChunkFirstTouch ./arena): writing every page of a fresh
	// 4 MiB chunk takes 0.17 ms instead of 1.58 ms, but touching one byte
	// per 64 KiB makes 4 MiB resident instead of 0.25 MiB. Worth it for
	// large, densely used heaps; off by default, so that RSS follows use.
	HugePages bool

	// Guard turns on guard mode, for tests and staging: it catches writes
	// past an object's end and writes after Free. Every call takes one
	// lock and the checks below; see guard.go. Off by default.
	//
	//   - Every slice has cap == len, so only unsafe code, cgo or the
	//     kernel can write past it.
	//   - A small object gets the class of n+1 and canary bytes from n to
	//     its slot's end, checked by Free: an overflow returns
	//     ErrCorrupted and the slot is never reused. A freed slot is
	//     poisoned and quarantined (GuardQuarantineBytes, first in first
	//     out); its poison is checked as it leaves, and a write after free
	//     is reported by CheckGuards.
	//   - A request of LargeThreshold bytes or more gets a mapping of its
	//     own with a PROT_NONE guard page after it, the object ending at
	//     the guard (rounded to GuardAlignBytes): an overflow faults at
	//     once. Free makes the whole mapping PROT_NONE (a use after free
	//     faults) and unmaps it later; no large mapping is kept for reuse.
	//
	// With debug.SetPanicOnFault(true), such a fault is a panic whose
	// error has an Addr method giving the faulting address.
	//
	// Cost: no per-P cache, no Cache stack (each call locks), and passes
	// over the canary and the freed slot; every large Alloc is an mmap,
	// page faults and an mprotect, every large Free an madvise and an
	// mprotect. Measured with the bench program against the default mode
	// (bench/results/guard.txt): Alloc+Free pairs 4× slower at 16 B, 8× at
	// 1 KiB, 18× at 32 KiB, 31× at 1 MiB; the churn workload 11×.
	Guard bool
}

// Allocator hands out memory outside the Go heap.
//
// An Allocator is safe for concurrent use by many goroutines; memory may be
// freed on another goroutine than the one that allocated it. It must not be
// copied after first use. Close must not run while other calls on the same
// Allocator are still in progress; calls made after Close return ErrClosed.
//
// The zero Allocator (and a nil one) is not usable: every method that
// returns an error returns ErrUninitialized, Stats returns the zero
// Snapshot and UsableSize 0. Make one with New.
//
// Memory from an Allocator is invisible to the garbage collector: never store
// Go pointers in it.
type Allocator struct {
	_ noCopy

	threshold int // requests above it are large; read-only
	closed    atomic.Bool

	src      *osmem.Source
	heap     *arena.Heap
	large    *large.Registry
	centrals [slab.NumClasses]slab.Central
	locals   []local     // one cache per P, indexed by P id
	guard    *guardState // non-nil in guard mode; read-only
	inv      *invState   // non-nil in invariants builds; see invariants.go

	closeOnce sync.Once
}

// New returns an Allocator configured by opts, or ErrInvalidOption.
func New(opts Options) (*Allocator, error) {
	if opts.LargeThreshold == 0 {
		opts.LargeThreshold = DefaultLargeThreshold
	}
	if opts.LargeThreshold < 0 || opts.LargeThreshold > slab.MaxSmallBytes {
		return nil, fmt.Errorf("%w: LargeThreshold %d is outside 1..%d", ErrInvalidOption, opts.LargeThreshold, slab.MaxSmallBytes)
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkBytes
	}
	if opts.ChunkSize < arena.GranuleBytes || opts.ChunkSize > 1<<30 || opts.ChunkSize&(opts.ChunkSize-1) != 0 {
		return nil, fmt.Errorf("%w: ChunkSize %d is not a power of two from 1 MiB to 1 GiB", ErrInvalidOption, opts.ChunkSize)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: Limit %d is negative", ErrInvalidOption, opts.Limit)
	}
	if opts.RetainBytes == 0 {
		opts.RetainBytes = DefaultRetainBytes
	}
	a := &Allocator{threshold: opts.LargeThreshold, src: osmem.NewSource(opts.Limit)}
	a.src.SetRetainLimit(max(opts.RetainBytes, 0))
	heap, err := arena.NewHeap(a.src, arena.HeapOptions{ChunkBytes: opts.ChunkSize, HugePages: opts.HugePages})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	a.heap = heap
	a.large = large.NewRegistry(a.src)
	a.large.SetHugePages(opts.HugePages)
	// Retained memory counts toward Limit; when a mapping would pass it,
	// give the retained memory back first: as much as the locks the
	// caller may hold allow. A mapping of large memory holds none; a chunk
	// mapping holds its class's lock and the Heap's, and the Heap calls
	// reclaim again once it has let its own go. A Central whose lock is
	// taken at that moment keeps its empty slabs: the reclaim is best
	// effort, never a wait on another class.
	reclaim := func(waitHeap bool) {
		for c := 1; c < slab.NumClasses; c++ {
			a.centrals[c].TryTrim(waitHeap)
		}
		a.large.TryTrim()
		a.heap.TryTrimEmpty()
	}
	a.src.SetReclaim(func() { reclaim(false) }) // the Heap's lock may be held
	heap.SetReclaim(func() { reclaim(true) })   // it is not: see Heap.SetReclaim
	for c := 1; c < slab.NumClasses; c++ {
		a.centrals[c].Init(c, heap)
	}
	if opts.Guard {
		a.guard = newGuard()
	}
	if invariants {
		a.inv = &invState{}
	}
	a.locals = make([]local, runtime.GOMAXPROCS(0))
	for i := range a.locals {
		a.locals[i].Prepare()
	}
	return a, nil
}

// Alloc returns n bytes of zeroed memory outside the Go heap, as make would:
// len(b) == n, and cap(b) is the usable size (the size class, or n rounded up
// to whole pages), all of which the caller may use. Objects of 16 bytes or
// more are 16-byte aligned, large ones page aligned.
//
// The memory MUST be released with Free; the garbage collector never sees it
// and it MUST NOT hold Go pointers. Alloc(0) returns an empty slice and nil.
// A negative n, or one above MaxAllocBytes, returns ErrInvalidSize; a refused
// mapping or a passed Limit returns ErrOutOfMemory.
func (a *Allocator) Alloc(n int) ([]byte, error) {
	if !a.made() {
		return nil, ErrUninitialized
	}
	if invariants {
		defer a.checkAfter("Alloc")()
	}
	return a.alloc(n, true)
}

// AllocUninit is Alloc without the clearing: the contents of the returned
// memory are unspecified and may hold bytes of earlier allocations. Use it
// when the caller overwrites the whole buffer anyway.
func (a *Allocator) AllocUninit(n int) ([]byte, error) {
	if !a.made() {
		return nil, ErrUninitialized
	}
	if invariants {
		defer a.checkAfter("AllocUninit")()
	}
	return a.alloc(n, false)
}

func (a *Allocator) alloc(n int, zero bool) ([]byte, error) {
	if uint(n-1) < uint(a.threshold) { // 1 <= n <= threshold
		if a.closed.Load() {
			return nil, ErrClosed
		}
		c := slab.ClassOf(n)
		l := a.pin()
		if l != nil {
			if e, ok := l.Pop(c); ok {
				a.unpin(l)
				return e.Bytes(c, zero)[:n], nil // clears after the unpin
			}
		}
		a.unpin(l)
		return a.allocSlow(c, n, zero)
	}
	return a.allocOther(n, zero)
}

// allocSlow refills the P's stack of class c from the Central and hands
// out one object of the batch.
func (a *Allocator) allocSlow(c, n int, zero bool) ([]byte, error) {
	if a.guard != nil { // guard mode never fills the per-P caches
		return a.guardAlloc(n, zero)
	}
	var batch [slab.MaxBatch]slab.Entry
	got, err := a.centrals[c].AllocBatch(batch[:slab.RefillBatch(c)])
	if err != nil {
		return nil, err
	}
	fit := 0
	l := a.pin()
	if l != nil {
		l.CountAlloc(c)
		fit = l.Fill(c, batch[1:got])
	}
	a.unpin(l)
	if l == nil {
		a.centrals[c].Publish(1, 0)
	}
	if rest := batch[1+fit : got]; len(rest) > 0 {
		a.centrals[c].FreeBatch(rest)
	}
	return batch[0].Bytes(c, zero)[:n], nil
}

// allocOther serves n == 0, bad sizes and large requests.
func (a *Allocator) allocOther(n int, zero bool) ([]byte, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	if n == 0 {
		return []byte{}, nil
	}
	if n < 0 || n > MaxAllocBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidSize, n)
	}
	if a.guard != nil {
		return a.guardAlloc(n, zero)
	}
	p, size, dirty, err := a.large.Alloc(uintptr(n))
	if err != nil {
		return nil, err
	}
	b := unsafe.Slice((*byte)(p), size)
	if zero && dirty {
		clear(b)
	}
	return b[:n], nil
}

// Free releases memory returned by Alloc. b may be resliced, as long as its
// first element is the allocation's first byte; a b with cap(b) == 0 is
// ignored. After Free the memory MUST NOT be used: it may be unmapped, or
// handed out again.
//
// A b this Allocator did not hand out returns ErrForeignPointer, one inside
// an allocation ErrInvalidPointer, a second Free ErrDoubleFree, and any call
// after Close ErrClosed. None of them changes anything.
//
// The commonest foreign b is a slice grown by append past its cap: append
// copies it to the Go heap, so its Free returns ErrForeignPointer (whose
// message says so) while the allocation it came from stays live and leaks.
// Free the slice Alloc returned, and never append past cap(b).
func (a *Allocator) Free(b []byte) error {
	if !a.made() {
		return ErrUninitialized
	}
	if invariants {
		defer a.checkAfter("Free")()
	}
	// The fast path, pinned: an object of the chunk the P's cache
	// remembers, or else of the chunk the registry finds (which the cache
	// then remembers), goes onto its stack. Anything else, refusals
	// included, takes the slow path.
	if cap(b) != 0 && !a.closed.Load() {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		l := a.pin()
		if l != nil {
			s, i := l.Object(addr)
			if s == nil {
				s, i = a.lookupObject(&l.Local, addr)
			}
			if s != nil {
				own, bit := s.OwnerBit(i)
				if e, ok := s.Claim(addr, own, bit); ok {
					kept := l.Push(e)
					a.unpin(l)
					if !kept {
						a.spill(e)
					}
					return nil
				}
			}
		}
		a.unpin(l)
	}
	return a.free(b)
}

// free is Free's slow path: the object goes to the P's cache.
func (a *Allocator) free(b []byte) error {
	e, ch, done, err := a.release(b)
	if done {
		return err
	}
	a.keep(e, ch)
	return nil
}

// release is the slow path of Allocator.Free and Cache.Free: every check in
// its documented order, then the registry. It returns the released object
// and its chunk for the caller to keep, or done, with Free's result, when
// nothing is left to keep (an empty slice, guard mode, a large mapping, a
// refusal).
func (a *Allocator) release(b []byte) (e slab.Entry, ch *arena.Chunk, done bool, err error) {
	if a.closed.Load() {
		return e, nil, true, ErrClosed
	}
	if cap(b) == 0 {
		return e, nil, true, nil
	}
	if a.guard != nil {
		return e, nil, true, a.guardFree(b)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if ch = a.chunkOf(addr); ch == nil {
		return e, nil, true, a.large.Free(addr)
	}
	if e, err = slab.Release(ch, addr); err != nil {
		return e, nil, true, err
	}
	return e, ch, false, nil
}

// lookupObject is Local.Object through the registry, for an address
// outside the chunk l remembers: it finds addr's chunk, makes l remember
// it, and returns the slab and index of the object starting at addr, or
// nil. It neither blocks nor allocates, so the P may stay pinned. In guard
// mode it finds nothing: guard mode never keeps objects in a cache (and so
// a cache never remembers a chunk), every Free goes to its checks.
func (a *Allocator) lookupObject(l *slab.Local, addr uintptr) (*slab.Slab, int) {
	if a.guard != nil {
		return nil, 0
	}
	ch := a.chunkOf(addr)
	if ch == nil {
		return nil, 0
	}
	l.Remember(ch)
	return l.Object(addr)
}

// chunkOf returns the chunk of this Allocator that holds addr, or nil (a
// large mapping, or not ours), from the registry.
func (a *Allocator) chunkOf(addr uintptr) *arena.Chunk {
	ch := arena.Lookup(addr)
	if ch == nil || ch.Heap() != a.heap {
		return nil
	}
	return ch
}

// keep puts e, just released from chunk ch, on the P's stack, and makes
// the P's cache remember ch.
func (a *Allocator) keep(e slab.Entry, ch *arena.Chunk) {
	kept := false
	l := a.pin()
	if l != nil {
		l.Remember(ch)
		kept = l.Push(e)
	}
	a.unpin(l)
	if !kept {
		a.spill(e)
	}
}

// spill makes room on the P's full stack of e's class by moving its older
// half back to the Central, then keeps e. A P with no cache (GOMAXPROCS
// was raised after New) sends e straight to the Central.
func (a *Allocator) spill(e slab.Entry) {
	var batch [slab.MaxBatch]slab.Entry
	c := e.Class()
	k := 0
	l := a.pin()
	if l != nil {
		k = l.Spill(c, batch[:])
		l.Push(e)
	} else {
		batch[0], k = e, 1
		a.centrals[c].Publish(0, 1)
	}
	a.unpin(l)
	a.centrals[c].FreeBatch(batch[:k])
}

// Trim returns to the OS every byte that holds no live allocation and can be
// given back: the free objects of every P's cache go back to their slabs,
// empty slabs go back to their chunks, empty chunks and kept large mappings
// are unmapped, and the free pages of chunks still in use are released
// (MADV_DONTNEED). Objects held in a Cache stay there until its Flush.
func (a *Allocator) Trim() error {
	if !a.made() {
		return ErrUninitialized
	}
	if invariants {
		defer a.checkAfter("Trim")()
	}
	if a.closed.Load() {
		return ErrClosed
	}
	if a.guard != nil {
		a.guard.trim(a)
	}
	a.flushLocals()
	for c := 1; c < slab.NumClasses; c++ {
		a.centrals[c].Trim()
	}
	a.heap.Trim()
	a.large.Trim()
	return nil
}

// flushLocals moves every free object of every P's cache back to its slab.
func (a *Allocator) flushLocals() {
	perLocal := 0
	for c := 1; c < slab.NumClasses; c++ {
		perLocal += slab.StackLen(c)
	}
	buf := make([]slab.Entry, perLocal*len(a.locals))
	counts := make([][slab.NumClasses]int, len(a.locals))
	a.eachLocal(func(pid int, l *slab.Local) {
		off := pid * perLocal
		for c := 1; c < slab.NumClasses; c++ {
			counts[pid][c] = l.Drain(c, buf[off:])
			off += slab.StackLen(c)
		}
	})
	for pid := range a.locals {
		off := pid * perLocal
		for c := 1; c < slab.NumClasses; c++ {
			if k := counts[pid][c]; k > 0 {
				a.centrals[c].FreeBatch(buf[off : off+k])
			}
			off += slab.StackLen(c)
		}
	}
}

// Close unmaps all the Allocator's memory, live or not. Every slice it handed
// out becomes invalid: touching one faults. Later calls return ErrClosed.
func (a *Allocator) Close() error {
	if !a.made() {
		return ErrUninitialized
	}
	err := ErrClosed
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		for c := 1; c < slab.NumClasses; c++ {
			a.centrals[c].Close()
		}
		if a.guard != nil {
			a.guard.close(a)
		}
		a.heap.Close()
		a.large.Close()
		err = nil
	})
	return err
}

// Stats returns a snapshot of the Allocator's figures. It may be called at
// any time, also after Close. The allocations and frees of a Cache are
// counted when it refills, spills or flushes. A nil or zero Allocator has
// the zero Snapshot.
func (a *Allocator) Stats() stats.Snapshot {
	if !a.made() {
		return stats.Snapshot{}
	}
	s := stats.Snapshot{
		Mapped: a.src.Mapped(), PeakMapped: a.src.Peak(), Limit: a.src.Limit(),
		Retained: a.src.Retained(), RetainLimit: a.src.RetainLimit(),
		Mmaps: a.src.Mmaps(), Munmaps: a.src.Munmaps(),
		ChunkBytes: int64(a.heap.ChunkBytes()),
		Classes:    make([]stats.Class, 0, slab.NumClasses-1),
	}
	s.Chunks, s.EmptyChunks = a.heap.Counts()
	type counts struct{ allocs, frees, cached [slab.NumClasses]uint64 }
	per := make([]counts, len(a.locals))
	a.readLocals(func(pid int, l *slab.Local) {
		for c := 1; c < slab.NumClasses; c++ {
			per[pid].allocs[c], per[pid].frees[c] = l.Counts(c)
			per[pid].cached[c] = uint64(l.Len(c))
		}
	})
	for c := 1; c < slab.NumClasses; c++ {
		cs := a.centrals[c].Stats()
		row := stats.Class{Size: cs.Size, SlabBytes: cs.SlabBytes, Slabs: cs.Slabs, Allocs: cs.Allocs, Frees: cs.Frees}
		for _, p := range per {
			row.Allocs += p.allocs[c]
			row.Frees += p.frees[c]
			row.Cached += int64(p.cached[c])
		}
		row.Live = int64(row.Allocs - row.Frees)
		row.InUse = row.Live * int64(row.Size)
		s.Classes = append(s.Classes, row)
		s.Add(row)
	}
	ls := a.large.Stats()
	s.Large = stats.Class{Live: ls.Live, InUse: ls.InUse, Allocs: ls.Allocs, Frees: ls.Frees}
	if a.guard != nil {
		var large [4]int64
		s.Quarantined, s.Corrupted, large = a.guard.figures()
		s.Large.Live += large[0]
		s.Large.InUse += large[1]
		s.Large.Allocs += uint64(large[2])
		s.Large.Frees += uint64(large[3])
	}
	s.Add(s.Large)
	return s
}

// UsableSize returns the capacity Alloc(n) gives: the size class of n, or n
// rounded up to whole pages; in guard mode, n. It returns 0 for n <= 0,
// n > MaxAllocBytes, or a nil or zero Allocator. Every path that hands out
// memory keeps to it: cap(b) == UsableSize(n) for the b of Alloc(n),
// AllocUninit(n), a Cache's Alloc(n) and Realloc(_, n).
func (a *Allocator) UsableSize(n int) int {
	switch {
	case n <= 0 || n > MaxAllocBytes || !a.made():
		return 0
	case a.guard != nil:
		return n
	case n > a.threshold:
		return int(large.RoundUp(uintptr(n)))
	default:
		return slab.ClassBytes(slab.ClassOf(n))
	}
}

// validate checks the invariants of every layer and that the stats agree
// with them. Tests call it after every step that matters.
func (a *Allocator) validate() error {
	var guardHeld [slab.NumClasses]int64
	var guardMapped int64
	if a.guard != nil {
		var err error
		if guardHeld, guardMapped, err = a.guard.validate(); err != nil {
			return err
		}
	}
	for c := 1; c < slab.NumClasses; c++ {
		if err := a.centrals[c].Validate(); err != nil {
			return err
		}
	}
	if err := a.heap.Validate(); err != nil {
		return err
	}
	if err := a.large.Validate(); err != nil {
		return err
	}
	s := a.Stats()
	inuse, empty := a.heap.Counts()
	_, kept := a.large.Kept()
	want := int64(inuse+empty)*int64(a.heap.ChunkBytes()) + a.large.Stats().InUse + kept + guardMapped
	if s.Mapped != want {
		return fmt.Errorf("mmalloc: Mapped is %d, chunks and large mappings hold %d", s.Mapped, want)
	}
	if s.Retained > s.RetainLimit {
		return fmt.Errorf("mmalloc: %d bytes retained, over the budget %d", s.Retained, s.RetainLimit)
	}
	var emptySlabs int64
	for c := 1; c < slab.NumClasses; c++ {
		emptySlabs += a.centrals[c].EmptyBytes()
	}
	if charged := a.heap.Charged() + kept + emptySlabs; charged != s.Retained {
		return fmt.Errorf("mmalloc: %d bytes charged to the retention budget, but free pages, kept mappings and empty slabs hold %d", s.Retained, charged)
	}
	// With no Cache holding objects (or with every Cache counted, in
	// invariants builds), every object out of the slabs is either live, in
	// a P's cache, or held by guard mode.
	slack := a.cacheSlack()
	for i, row := range s.Classes {
		c := i + 1
		out := a.centrals[c].Stats().Out
		if out != row.Live+row.Cached+slack[c]+guardHeld[c] {
			return fmt.Errorf("mmalloc: class %d has %d objects out of its slabs, %d live + %d cached + %d in Caches + %d guarded",
				c, out, row.Live, row.Cached, slack[c], guardHeld[c])
		}
	}
	// A class row's Live is Allocs - Frees by definition, and the Source
	// never lets Mapped pass Limit; the large row's Live is counted apart
	// (the registry's live mappings, guard mode's live large objects).
	if s.Large.Allocs-s.Large.Frees != uint64(s.Large.Live) {
		return fmt.Errorf("mmalloc: large allocs %d - frees %d != live %d", s.Large.Allocs, s.Large.Frees, s.Large.Live)
	}
	return nil
}

var (
	defaultOnce  sync.Once
	defaultAlloc *Allocator
)

// Default returns the process-wide Allocator behind the package-level Alloc
// and Free, creating it with the default Options on first use.
func Default() *Allocator {
	defaultOnce.Do(func() {
		a, err := New(Options{})
		if err != nil {
			panic("mmalloc: default options rejected: " + err.Error()) // cannot happen: defaults are valid
		}
		defaultAlloc = a
	})
	return defaultAlloc
}

// Alloc allocates n zeroed bytes from the Default Allocator.
func Alloc(n int) ([]byte, error) { return Default().Alloc(n) }

// Free releases b to the Default Allocator.
func Free(b []byte) error { return Default().Free(b) }

// noCopy makes go vet's copylocks check flag copies of an Allocator.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
