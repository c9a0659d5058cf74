// The Allocator, its Options and its errors. See doc.go for the overview.

package mmalloc

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/chunk"
	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/mappings"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
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
	// ErrClosed: a call after Close, of the Allocator (its Caches and
	// Buffers included), of a Cache, of a SharedView or of an
	// arena.Region.
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
	// enough that mapping one (an mmap system call) is rare, small enough
	// that an empty one is worth giving back.
	DefaultChunkBytes = 4 << 20

	// DefaultRetainBytes is how many bytes of freed memory — empty chunks,
	// empty slabs, freed large mappings — are kept mapped for reuse. Reusing
	// them costs a memclr; mapping afresh costs an mmap and munmap plus a
	// page fault per 4 KiB page touched, several times more for a buffer of
	// a MiB. Trim gives them back to the OS.
	DefaultRetainBytes = 64 << 20

	// DefaultDecayTime is how long freed memory beyond RetainBytes stays
	// mapped unused before it goes back to the OS: long enough that a
	// program that frees and rebuilds its buffers in rounds of up to a
	// second reuses resident pages, short enough that a program that goes
	// idle is back within its budget a second later.
	DefaultDecayTime = time.Second

	// DefaultDecayBytes bounds the freed memory kept beyond RetainBytes
	// while it decays: past it, memory goes back at Free.
	DefaultDecayBytes = 1 << 30

	// MaxAllocBytes is the largest request accepted: half of the 47-bit
	// user address space. Larger ones fail with ErrInvalidSize. The
	// arena.Region has the same bound.
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

	// ChunkBytes: bytes mapped at a time for slabs (one chunk), a power of
	// two from 1 MiB to 1 GiB. 0 means DefaultChunkBytes (4 MiB).
	ChunkBytes int

	// Limit: the most bytes held at once (Snapshot.Held): mapped (chunks
	// and large mappings) and not released, as the Go runtime's memory
	// limit counts. An allocation that would pass
	// it fails with ErrOutOfMemory, but only once the Allocator has taken back
	// everything it holds beyond its live objects and the slabs of the
	// Caches still in use: retained memory, every P's cache's slabs, and
	// those of Caches dropped without Close (found by one garbage
	// collection, run when other Caches are open). So an allocation fails
	// only when what it needs, on top of the pages that hold live objects
	// and slab.OwnedBytesBound() per open Cache, passes the Limit.
	// 0 means no limit beyond the kernel's.
	Limit int64

	// RetainBytes: the most bytes of freed memory (empty chunks and slabs,
	// freed large mappings) kept mapped for reuse indefinitely; Trim gives
	// them back to the OS. 0 means DefaultRetainBytes (64 MiB); NoRetain
	// (or any negative value) keeps none, and no decay either, so that
	// every large Alloc is one mmap and its Free one munmap. Freed memory beyond the
	// budget decays (DecayTime). Besides it, each P's cache (and each
	// Cache) owns at most one slab per size class, whose free objects only
	// it hands out: slab.OwnedBytesBound() (about 11.4 MiB) per cache at
	// most.
	RetainBytes int64

	// DecayTime: freed memory beyond RetainBytes, up to DecayBytes of it,
	// stays mapped for reuse until it has gone unused for DecayTime, and
	// then goes back to the OS with no call from the user, starting
	// between DecayTime and 1.25 DecayTime after its last use and taking
	// as long as giving the pages back takes. So a program that frees
	// and rebuilds big buffers reuses resident pages instead of
	// mapping and faulting them afresh each round, and one that goes idle
	// is back within RetainBytes soon after. A timer does the work; it
	// runs only while retained memory passes RetainBytes, and Close stops
	// it. The decaying bytes count in Stats (Retained, Decaying), in Limit
	// and in the process budget, and go back before an allocation fails
	// for Limit. 0 means DefaultDecayTime (`time.Second`); a negative value keeps
	// nothing beyond RetainBytes: it goes back at Free.
	DecayTime time.Duration

	// DecayBytes: the most freed bytes kept beyond RetainBytes while they
	// decay; past it, memory goes back at Free. 0 means
	// DefaultDecayBytes (`1 << 30`); a negative value keeps none.
	DecayBytes int64

	// HugePages asks for transparent huge pages (madvise MADV_HUGEPAGE) on
	// every chunk and on large mappings of 2 MiB or more. Writing every
	// page of a fresh chunk then takes one fault per 2 MiB instead of one
	// per 4 KiB page, but a sparse use costs whole huge pages: a few bytes
	// touched per 64 KiB can make a whole chunk resident
	// (BenchmarkChunkFirstTouch in internal/chunk; see
	// bench/results/gotest-hugepages.txt). Worth it for large, densely used
	// heaps; off by default, so that RSS follows use.
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
	//   - Each such mapping, live or freed and not yet unmapped, costs the
	//     kernel two mappings (VMAs) where outside guard mode thousands
	//     share one, and vm.max_map_count bounds them for the whole process
	//     (65530 by default): past it, the Go runtime's next heap growth
	//     dies of a fatal error. So guard mode takes at most half of
	//     /proc/sys/vm/max_map_count, across every guard Allocator of the
	//     process: at most 16382 large objects by default. Past that, a
	//     large Alloc first unmaps the Allocator's freed mappings, then
	//     fails with ErrOutOfMemory.
	//
	// With debug.SetPanicOnFault(true), such a fault is a panic whose
	// error has an Addr method giving the faulting address.
	//
	// Cost: no per-P cache, no Cache stack (each call locks), and passes
	// over the canary and the freed slot; every large Alloc is an mmap,
	// page faults and an mprotect, every large Free an madvise and an
	// mprotect. The bench program measures it against the default mode,
	// Alloc+Free pairs and the churn workload: see bench/results/guard.txt.
	Guard bool

	// Shared takes every chunk and every large mapping from one anonymous
	// memory file (memfd_create) mapped MAP_SHARED, instead of private
	// anonymous memory, so that another process can map the same memory:
	// hand it File (in exec.Cmd.ExtraFiles, say) and the Offset of a
	// buffer, and it reads and writes the buffer through OpenShared and
	// SharedView.Bytes. See shared.go.
	//
	// The file grows as the Allocator maps memory and never shrinks; memory
	// given back (a Free past the retention budget, Trim, an empty chunk
	// unmapped) is punched out of it (fallocate FALLOC_FL_PUNCH_HOLE), so
	// that its pages follow the live bytes and the freed range reads as
	// zero in every process. The file is mapped into one reservation (see
	// Reserve; DefaultSharedReserveBytes of address space when Reserve is
	// 0), where an address and its file offset differ by a constant; an
	// allocation that finds no room left in it fails with ErrOutOfMemory.
	// Another process may write anywhere in the file, free memory
	// included, so no free memory is taken to read as zero: Alloc clears
	// every small object it hands out, even one never used before (see
	// SharedView). Everything else behaves as without Shared: size
	// classes, caches, Limit, RetainBytes, Stats and guard mode; only
	// Realloc of a large allocation copies instead of calling mremap. Off
	// by default.
	Shared bool

	// Reserve, if positive, reserves that many bytes of address space at
	// New, rounded up to whole pages, with one mmap(PROT_NONE,
	// MAP_NORESERVE): no memory and no commit charge. The reservation
	// starts on a chunk boundary (chunks are aligned to ChunkBytes), so
	// that k*ChunkBytes bytes hold k chunks wherever the kernel places
	// it: the least Reserve, ChunkBytes, holds one. Chunks and large
	// mappings are carved from it, each committed when mapped (mmap
	// MAP_FIXED over its range) and decommitted when unmapped (mmap
	// MAP_FIXED PROT_NONE, which drops its pages and its commit charge), so
	// that under strict overcommit the process is charged for what it uses
	// rather than for what it might. Mapped, Held, PeakHeld and Limit count
	// the committed bytes only.
	//
	// Past the reservation, an Allocator maps afresh, as without it (a
	// Shared one fails with ErrOutOfMemory instead). Realloc of a large
	// allocation copies instead of calling mremap, which would move it out
	// of the reservation. 0 means no reservation (for a Shared Allocator,
	// DefaultSharedReserveBytes); it must be at least ChunkBytes and at most
	// MaxReserveBytes, else New returns ErrInvalidOption. A reservation the
	// kernel refuses (under RLIMIT_AS, say) makes New return ErrOutOfMemory.
	Reserve int64

	// ProfileRate: on average one allocation is sampled per ProfileRate
	// bytes allocated, as runtime.MemProfileRate samples the Go heap (the
	// intervals are exponentially distributed); a sampled allocation
	// records its call stack until it is freed, and WriteHeapProfile
	// writes the samples as a pprof heap profile (profile.go).
	// 0 means DefaultProfileRate (512 KiB, the runtime's default); 1
	// samples every allocation, which CheckLeaks makes exact; a negative
	// value turns sampling off. An allocation not sampled costs one
	// subtraction, a Free one load (a hash and two more while samples are
	// live); a sampled allocation pays for walking its call stack (by
	// frame pointers on amd64 and arm64) and a lock
	// (bench/results/profile-sample.txt).
	ProfileRate int
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
	heap     *chunk.Heap
	large    *mappings.Registry
	centrals [slabs.ClassSlots]slabs.Central
	guard    *guardState // non-nil in guard mode; read-only
	decay    *decay      // non-nil while freed memory may decay; read-only (decay.go)
	inv      *invState   // non-nil in invariants builds; see invariants.go

	// locals is the current set of per-P caches (see locals.go). It is
	// replaced under lmu; lmu also keeps Stats from reading a set half
	// drained, and guards caches, the registry of live Caches.
	locals atomic.Pointer[localSet]
	lmu    sync.Mutex
	caches map[*cacheState]struct{}

	space *osmem.Reservation // Options.Shared or Reserve, else nil; read-only (shared.go)

	prof heapprof.Profile // sampled allocations; see profile.go

	closeOnce sync.Once
}

// New returns an Allocator configured by opts, or ErrInvalidOption.
func New(opts Options) (*Allocator, error) {
	if opts.LargeThreshold == 0 {
		opts.LargeThreshold = DefaultLargeThreshold
	}
	if opts.LargeThreshold < 0 || opts.LargeThreshold > slabs.MaxSmallBytes {
		return nil, fmt.Errorf("%w: LargeThreshold %d is outside 1..%d", ErrInvalidOption, opts.LargeThreshold, slabs.MaxSmallBytes)
	}
	if opts.ChunkBytes == 0 {
		opts.ChunkBytes = DefaultChunkBytes
	}
	if opts.ChunkBytes < chunk.GranuleBytes || opts.ChunkBytes > 1<<30 || opts.ChunkBytes&(opts.ChunkBytes-1) != 0 {
		return nil, fmt.Errorf("%w: ChunkBytes %d is not a power of two from 1 MiB to 1 GiB", ErrInvalidOption, opts.ChunkBytes)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: Limit %d is negative", ErrInvalidOption, opts.Limit)
	}
	if opts.RetainBytes == 0 {
		opts.RetainBytes = DefaultRetainBytes
	}
	if opts.DecayTime == 0 {
		opts.DecayTime = DefaultDecayTime
	}
	if opts.DecayBytes == 0 {
		opts.DecayBytes = DefaultDecayBytes
	}
	a := &Allocator{threshold: opts.LargeThreshold, src: osmem.NewSource(opts.Limit)}
	a.src.SetRetainBytes(max(opts.RetainBytes, 0))
	if opts.RetainBytes > 0 && opts.DecayTime > 0 && opts.DecayBytes > 0 {
		a.decay = newDecay(a, opts.DecayTime)
		a.src.SetDecay(opts.DecayBytes, a.decay.arm)
	}
	heap, err := chunk.NewHeap(a.src, chunk.HeapOptions{ChunkBytes: opts.ChunkBytes, HugePages: opts.HugePages, Shared: opts.Shared})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	a.heap = heap
	a.large = mappings.NewRegistry(a.src)
	a.large.SetHugePages(opts.HugePages)
	// Retained memory counts toward Limit; when a mapping would pass it,
	// give the retained memory back first: as much as the locks the
	// caller may hold allow. A mapping of large memory holds none; a chunk
	// mapping holds its class's lock and the Heap's, and the Heap calls
	// reclaim again once it has let its own go. A Central whose lock is
	// taken at that moment keeps its empty slabs: the reclaim is best
	// effort, never a wait on another class.
	reclaim := func(waitHeap bool) {
		for c := 1; c <= slabs.NumClasses; c++ {
			a.centrals[c].TryTrim(waitHeap)
		}
		a.large.TryTrim()
		a.heap.TryTrimEmpty()
	}
	a.src.SetReclaim(func() { reclaim(false) }) // the Heap's lock may be held
	heap.SetReclaim(func() { reclaim(true) })   // it is not: see Heap.SetReclaim
	for c := 1; c <= slabs.NumClasses; c++ {
		a.centrals[c].Init(c, heap)
	}
	if opts.Guard {
		a.guard = newGuard()
	}
	if invariants.Enabled {
		a.inv = &invState{}
	}
	a.initProfile(opts.ProfileRate)
	a.locals.Store(a.newLocalSet(runtime.GOMAXPROCS(0)))
	a.caches = make(map[*cacheState]struct{})
	if err := a.setReservation(opts); err != nil {
		return nil, err
	}
	return a, nil
}

// Alloc returns n bytes of zeroed memory outside the Go heap, as make would:
// len(b) == n, and cap(b) is the usable size (the size class, or n rounded up
// to whole pages), all of which the caller may use.
//
// Alignment: b starts at a multiple of the largest power of two that
// divides cap(b), up to the page size. So an n of 8 bytes or less is 8-byte
// aligned, any larger n at least 16-byte aligned (every size class above
// 8 B is a multiple of 16), an n whose class is a multiple of 64 (64, 128,
// 192, 256, 320, 384, 448 and every class from 512 B up) at least 64-byte
// aligned, and a large allocation page aligned. In guard mode a small
// object has the alignment of the class of n+1 and a large one
// GuardAlignBytes. AllocAligned gives a stated alignment.
//
// The memory MUST be freed with Free; the garbage collector never sees it
// and it MUST NOT hold Go pointers. Alloc(0) returns an empty slice and nil.
// A negative n, or one above MaxAllocBytes, returns ErrInvalidSize; a refused
// mapping or a passed Limit returns ErrOutOfMemory.
func (a *Allocator) Alloc(n int) ([]byte, error) {
	if invariants.Enabled && a.made() {
		defer a.checkAfter("Alloc")()
	}
	return a.allocZeroed(n)
}

// AllocUninit is Alloc without the clearing: the contents of the returned
// memory are unspecified and may hold bytes of earlier allocations. Use it
// when the caller overwrites the whole buffer anyway.
func (a *Allocator) AllocUninit(n int) ([]byte, error) {
	if invariants.Enabled && a.made() {
		defer a.checkAfter("AllocUninit")()
	}
	return a.allocUninit(n)
}

// The fast paths of the Allocator, like the Cache's, are each one
// function with the steps of Local inlined (Alloc, AllocUninit and Free
// are inlined into their callers): pin the P, take an object its cache
// has cached (or give one back), unpin.

// allocUninit is AllocUninit: the fast path, and alloc for the rest.
func (a *Allocator) allocUninit(n int) ([]byte, error) {
	if !a.made() {
		return nil, errNoAllocator
	}
	if uint(n-1) < uint(a.threshold) { // a closed Allocator's Ps have no cache: see Close
		c := slabs.ClassOf(n)
		if l := a.localOf(procPin()); l != nil {
			if p, size, _ := l.Alloc(c); size != 0 {
				sampled := l.sample.Take(int(size)) // see profile.go
				a.unpin(l)
				if sampled {
					return a.sampled(object(p, n, int(size)))
				}
				return object(p, n, int(size)), nil
			}
			a.unpin(l)
		} else {
			a.unpin(l)
		}
	}
	return a.alloc(nil, n, false)
}

// allocZeroed is Alloc: allocUninit, and the object cleared, after the
// unpin, unless it reads as zero.
func (a *Allocator) allocZeroed(n int) ([]byte, error) {
	if !a.made() {
		return nil, errNoAllocator
	}
	if uint(n-1) < uint(a.threshold) { // a closed Allocator's Ps have no cache: see Close
		c := slabs.ClassOf(n)
		if l := a.localOf(procPin()); l != nil {
			if p, size, z := l.Alloc(c); size != 0 {
				sampled := l.sample.Take(int(size)) // see profile.go
				a.unpin(l)
				b := object(p, n, int(size))
				if !z {
					clear(b[:size])
				}
				if sampled {
					return a.sampled(b)
				}
				return b, nil
			}
			a.unpin(l)
		} else {
			a.unpin(l)
		}
	}
	return a.alloc(nil, n, true)
}

// alloc is the rest of allocUninit and allocZeroed, of the Allocator's
// (st nil) and of a Cache's (st its state): the cache has no object of
// n's class cached (or the P has no cache), n is large or invalid, or
// the Allocator or the Cache is closed.
func (a *Allocator) alloc(st *cacheState, n int, zero bool) ([]byte, error) {
	if a.ended(st) {
		return nil, ErrClosed
	}
	if uint(n-1) >= uint(a.threshold) { // not 1 <= n <= threshold
		return a.counted(a.allocOther(n, zero))
	}
	c := slabs.ClassOf(n)
	l := a.hold(st)
	if l != nil {
		if p, z, ok := l.AllocNext(c); ok {
			sampled := l.sample.Take(slabs.ClassBytes(c)) // see profile.go
			a.release(st, l)
			b := objectCleared(p, c, n, zero && !z) // clears after the release
			if sampled {
				return a.sampled(b)
			}
			return b, nil
		}
	}
	a.release(st, l)
	b, err := a.refill(c, n, zero, st)
	return a.countedBy(st, b, err)
}

// ended reports whether the Allocator (st nil) or the Cache of st is
// closed.
func (a *Allocator) ended(st *cacheState) bool {
	if st != nil {
		return st.ended.Load()
	}
	return a.closed.Load()
}

// hold returns the cache a path of the Allocator (st nil) or of a Cache
// (st its state) works on, held: the P's, pinned, or nil when the P has
// none (GOMAXPROCS was raised, or the Allocator is closed); or the
// Cache's, locked (in race builds). release(st, l) must follow either way.
// While it is held, nothing may block.
func (a *Allocator) hold(st *cacheState) *local {
	if st != nil {
		st.mu.lock()
		return &st.l
	}
	return a.localOf(procPin())
}

// release ends what hold(st) began; l is what it returned.
func (a *Allocator) release(st *cacheState, l *local) {
	if st != nil {
		st.mu.unlock()
		return
	}
	a.unpin(l)
}

// object returns the object of size bytes at p as a slice of n bytes
// (n <= size) with capacity size. It reads nothing at p: an object of
// pages never touched stays out of RSS.
func object(p uintptr, n, size int) []byte {
	return unsafe.Slice((*byte)(osmem.AddrPointer(p)), size)[:n]
}

// objectCleared returns the object of class c at p as a slice of n bytes
// with the class's capacity, cleared first if clearIt.
func objectCleared(p uintptr, c, n int, clearIt bool) []byte {
	b := object(p, n, slabs.ClassBytes(c))
	if clearIt {
		clear(b[:cap(b)])
	}
	return b
}

// refill is the one refill path of every cache, a P's (st nil) and a
// Cache's (st its state): its slab of class c had no free object left.
// It gives the cache's slab of class c back to the Central, takes one
// with free objects in exchange, installs it and serves n bytes from it,
// so that the slab given back is a candidate itself when frees have left
// it worth reusing. The Central's lock is never taken while the cache is
// held. A refusal for Limit is tried once more after reclaimForLimit.
func (a *Allocator) refill(c, n int, zero bool, st *cacheState) ([]byte, error) {
	if a.guard != nil { // guard mode never uses the caches
		return a.guardAlloc(n, zero)
	}
	var old *slabs.Slab
	var unused int
	l := a.hold(st)
	if l != nil {
		old, unused = l.Install(c, nil)
	}
	a.release(st, l)
	s, err := a.centrals[c].Exchange(old, unused)
	if err != nil && a.reclaimForLimit(err, uintptr(a.heap.ChunkBytes()), st) {
		s, err = a.centrals[c].Acquire() // old was given back by the first try
	}
	if err != nil {
		return nil, err
	}
	l = a.hold(st)
	if l == nil {
		// The P has no cache: GOMAXPROCS was raised. Give every P one,
		// and serve this request from the slab straight away.
		a.release(st, l)
		a.centrals[c].Abandon(s, 0)
		a.growLocals()
		p, z, err := a.centrals[c].AllocOne()
		if err != nil {
			return nil, err
		}
		a.centrals[c].Publish(1, 0)
		return objectCleared(p, c, n, zero && !z), nil
	}
	// Another goroutine may have given the cache a slab meanwhile (a
	// P's cache is shared by whatever runs there): it goes back.
	old, unused = l.Install(c, s)
	p, z, _ := l.AllocNext(c) // s has a free object: Exchange chose it so
	a.release(st, l)
	if old != nil {
		a.centrals[c].Abandon(old, unused)
	}
	return objectCleared(p, c, n, zero && !z), nil
}

// sizeError is ErrInvalidSize for a request of n bytes, negative or above
// MaxAllocBytes, saying which.
func sizeError(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: %d bytes, a negative size", ErrInvalidSize, n)
	}
	return fmt.Errorf("%w: %d bytes, above MaxAllocBytes (%d)", ErrInvalidSize, n, MaxAllocBytes)
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
		return nil, sizeError(n)
	}
	if a.guard != nil {
		return a.guardAlloc(n, zero)
	}
	p, size, dirty, err := a.large.Alloc(uintptr(n))
	if err != nil && a.reclaimForLimit(err, mappings.RoundUp(uintptr(n)), nil) {
		p, size, dirty, err = a.large.Alloc(uintptr(n))
	}
	if err != nil {
		return nil, err
	}
	b := unsafe.Slice((*byte)(p), size)
	if zero {
		clear(b[:dirty]) // the rest reads as zero: fresh pages
	}
	return b[:n], nil
}

// Free gives back memory returned by Alloc. b may be resliced, as long as its
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
		return errNoAllocator
	}
	if invariants.Enabled {
		defer a.checkAfter("Free")()
	}
	return a.free(b, nil)
}

// free is Free, of the Allocator (c nil) and of the Cache c:
// its fast path, in the cache hold(st) gives. An object of a slab the
// cache owns, or of a chunk the cache remembers, or else of the chunk the
// registry finds (which the cache then remembers), goes straight back to
// its slab. Anything else, an empty slice, a sampled object or a refusal,
// takes the slow path, freeSlow.
//
// It is one function with the steps of a free through a cache
// (internal/slabs, Local) inlined into it; Free and Cache.Free inline
// into their callers, so that a free the cache serves is one call. It
// keeps c reachable to its end, so that a Cache dropped while its Free
// runs is not drained under it (see "A Cache stays reachable" in cache.go).
func (a *Allocator) free(b []byte, c *Cache) error {
	var st *cacheState
	if c != nil {
		st = c.st
	}
	addr := sliceAddr(b)
	if cap(b) == 0 || a.prof.MaybeLive(addr) { // see profile.go
		err := a.freeSlow(st, b, addr)
		runtime.KeepAlive(c)
		return err
	}
	var l *local // l := a.hold(st), spelled out: hold does not inline
	if st != nil {
		st.mu.lock()
		l = &st.l
	} else {
		l = a.localOf(procPin())
	}
	if l != nil {
		// The cache's cached word of b's class, read from its cap (if
		// b was resliced the guess may be wrong, and CachedIndex says
		// so), else the slab the chunk the cache remembers names.
		cls := slabs.ClassOf(cap(b))
		if i, ok := l.CachedIndex(cls, addr); ok {
			if l.FreeCached(cls, i) {
				a.release(st, l)
				runtime.KeepAlive(c)
				return nil
			}
		} else {
			s := l.Owner(addr)
			if s == nil {
				s = a.lookup(st, &l.Local, addr)
			}
			if i, ok := s.Index(addr); ok {
				if word, bit, ok := s.ClaimIndex(i); ok {
					settle := l.Freed(s, word, bit)
					a.release(st, l)
					if settle {
						s.Settle()
					}
					runtime.KeepAlive(c)
					return nil
				}
			}
		}
	}
	a.release(st, l)
	err := a.freeSlow(st, b, addr)
	runtime.KeepAlive(c)
	return err
}

// lookup returns the slab owning addr's page in the chunk of this
// Allocator that the registry finds, and makes l, the cache of st (nil:
// the P's), remember the chunk; nil if there is none (a large mapping, a
// foreign address, guard mode, where every Free goes to guard mode's
// checks, or a closed Cache, which remembers no chunk). It neither
// blocks nor allocates, so the cache may stay held.
func (a *Allocator) lookup(st *cacheState, l *slabs.Local, addr uintptr) *slabs.Slab {
	if a.guard != nil || (st != nil && st.ended.Load()) {
		return nil
	}
	ch := a.chunkOf(addr)
	if ch == nil {
		return nil
	}
	l.Remember(ch)
	return l.Owner(addr)
}

// freeSlow is free's slow path, of the Allocator (st nil) and of a Cache
// (st its state), addr being b's address: every check in its documented
// order, then the free is counted by the cache (or, when the P has none,
// by the Central).
func (a *Allocator) freeSlow(st *cacheState, b []byte, addr uintptr) error {
	if a.ended(st) {
		return ErrClosed
	}
	if cap(b) != 0 && a.prof.MaybeLive(addr) { // see profile.go
		a.dropSample(addr)
	}
	s, settle, done, err := a.checkFree(b, addr)
	if done {
		return err
	}
	l := a.hold(st)
	if l != nil {
		l.CountFree(s.Class())
	}
	a.release(st, l)
	if l == nil {
		a.centrals[s.Class()].Publish(0, 1)
	}
	if settle {
		s.Settle()
	}
	return nil
}

// checkFree is the part of Free's slow path past the cache: every check
// in its documented order, then the registry, for b at addr. It returns
// the slab of the object it freed (uncounted; settle as slabs.FreeObject
// says), or done, with Free's result, when nothing is left to do (an
// empty slice, guard mode, a large mapping, a refusal).
func (a *Allocator) checkFree(b []byte, addr uintptr) (s *slabs.Slab, settle, done bool, err error) {
	if a.closed.Load() {
		return nil, false, true, ErrClosed
	}
	if cap(b) == 0 {
		return nil, false, true, nil
	}
	if a.guard != nil {
		return nil, false, true, a.foreign(a.guardFree(b), addr, false)
	}
	ch := a.chunkOf(addr)
	if ch == nil {
		return nil, false, true, a.foreign(a.large.Free(addr), addr, false)
	}
	if s, settle, err = slabs.FreeObject(ch, addr); err != nil {
		return nil, false, true, err
	}
	return s, settle, false, nil
}

// chunkOf returns the chunk of this Allocator that holds addr, or nil (a
// large mapping, or not ours), from the registry.
func (a *Allocator) chunkOf(addr uintptr) *chunk.Chunk {
	ch := chunk.Lookup(addr)
	if ch == nil || ch.Heap() != a.heap {
		return nil
	}
	return ch
}

// foreign returns err, or, if err is ErrForeignPointer for addr, the one
// that says what addr may be: memory of another Allocator when it lies in
// one of that one's chunks, else what a slice (errs.Foreign, the error
// the registries make) or a Ref (ref true: errs.ForeignRef) may be. A
// slice of the Go heap is most often one that append grew past its cap,
// which a Ref seldom is: so only a slice's message names append.
func (a *Allocator) foreign(err error, addr uintptr, ref bool) error {
	if err == nil || !errors.Is(err, ErrForeignPointer) {
		return err
	}
	if ch := chunk.Lookup(addr); ch != nil && ch.Heap() != a.heap {
		return errs.OtherAllocator(addr)
	}
	if ref {
		return errs.ForeignRef(uint64(addr))
	}
	return err
}

// Trim returns to the OS every byte that holds no live allocation and can be
// given back: every P's cache gives its slabs back to the Centrals, empty
// slabs go back to their chunks, empty chunks and kept large mappings are
// unmapped, and the free pages of chunks still in use are released
// (MADV_DONTNEED). The slabs a live Cache owns stay with it until its
// Flush or Close. Trim runs on any goroutine and returns in bounded time,
// whatever GOMAXPROCS does meanwhile.
func (a *Allocator) Trim() error {
	if !a.made() {
		return errNoAllocator
	}
	if invariants.Enabled {
		defer a.checkAfter("Trim")()
	}
	if a.closed.Load() {
		return ErrClosed
	}
	if a.guard != nil {
		a.guard.trim(a)
	}
	a.drainLocals()
	for c := 1; c <= slabs.NumClasses; c++ {
		a.centrals[c].Trim()
	}
	a.heap.Trim()
	a.large.Trim()
	return nil
}

// Close unmaps all the Allocator's memory, live or not. Every slice it handed
// out becomes invalid: touching one faults. Later calls return ErrClosed.
// Stats still counts the allocations live at Close as live (they were
// never freed: Live == Allocs − Frees, in every row), with Mapped 0.
func (a *Allocator) Close() error {
	if !a.made() {
		return errNoAllocator
	}
	if invariants.Enabled {
		// Counted as a call, so that no check (one after a dropped
		// Cache's cleanup, say, which runs at any time) reads the
		// Centrals while Close empties them.
		defer a.checkAfter("Close")()
	}
	err := ErrClosed
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		// The fast paths do not look at a.closed, nor a Cache's at its
		// own flag: they find nothing in an empty cache, and no P finds
		// a cache at all.
		a.lmu.Lock()
		for st := range a.caches {
			st.ended.Store(true)
			st.mu.lock()
			st.l.Forget()
			st.mu.unlock()
		}
		a.closeLocals()
		a.lmu.Unlock()
		if a.decay != nil {
			a.decay.close()
		}
		for c := 1; c <= slabs.NumClasses; c++ {
			a.centrals[c].Close()
		}
		if a.guard != nil {
			a.guard.close(a)
		}
		a.heap.Close()
		a.large.Close()
		a.closeReservation()
		err = nil
	})
	return err
}

// Stats returns a snapshot of the Allocator's figures. It may be called at
// any time, also after Close. Every cache is counted, the per-P ones and
// every live Cache, so that at a quiescent point Live == Allocs − Frees
// exactly, in every row and in the totals; Cached counts the free objects
// caches have cached. Resident is measured as Allocator.Resident does,
// just after the rest, with one mincore call per mapping, a cost that
// grows with Mapped and not with the number of allocations. A nil or zero
// Allocator has the zero Snapshot.
//
// While other goroutines allocate and free, the counts are read one cache
// at a time, with no lock on their fast paths: every cache's frees first,
// then every cache's allocations. So no row's Live, nor the total, is ever
// negative, and a snapshot is off from the truth by at most what the call
// overlapped: each row's Allocs and Frees lie between their values when
// the call began and when it returned, and its Live between the row's live
// objects at some moment during the call and those live when it returned
// plus the frees made during the call. The large row is read under one
// lock: it is exact at that instant.
func (a *Allocator) Stats() stats.Snapshot {
	if !a.made() {
		return stats.Snapshot{}
	}
	a.lmu.Lock()
	s := a.stats()
	a.lmu.Unlock()
	s.Resident = a.Resident()
	return s
}

// stats is Stats with a.lmu held: no set of per-P caches is half drained,
// and no Cache is drained (Flush, Close, a cleanup) meanwhile.
func (a *Allocator) stats() stats.Snapshot {
	s := stats.Snapshot{
		Mapped: a.src.Mapped(), Released: a.src.Released(), Resident: -1, PeakHeld: a.src.Peak(), Limit: a.src.Limit(),
		Retained: a.src.Retained(), RetainBytes: a.src.RetainBytes(),
		Decaying: max(a.src.Retained()-a.src.RetainBytes(), 0),
		Mmaps:    a.src.Mmaps(), Munmaps: a.src.Munmaps(),
		ChunkBytes: int64(a.heap.ChunkBytes()),
		Classes:    make([]stats.Class, 0, slabs.NumClasses),
	}
	s.Held = s.Mapped - s.Released
	s.Chunks, s.EmptyChunks = a.heap.Counts()
	var gf guardFigures
	if g := a.guard; g != nil {
		// Guard mode counts every allocation and free under g.mu (no
		// cache counts any): holding it makes the rows exact.
		g.mu.Lock()
		defer g.mu.Unlock()
		gf = g.figures()
	}
	// Every location's frees are read before any location's allocations
	// (the Centrals', every P's cache's, every Cache's), each with an
	// atomic load. An object's allocation is counted before it is handed
	// out, so before its free is counted, wherever each is counted; and
	// counts only grow while a.lmu is held (draining a cache, which moves
	// its counts to the Centrals, takes it). So every free read has its
	// allocation read too: no row's Live is negative. See Stats for the
	// bound.
	var allocs, frees, cached [slabs.ClassSlots]uint64
	for c := 1; c <= slabs.NumClasses; c++ {
		frees[c] = a.centrals[c].Frees()
	}
	a.readCaches(func(l *slabs.Local) {
		for c := 1; c <= slabs.NumClasses; c++ {
			frees[c] += l.Frees(c)
		}
	})
	for c := 1; c <= slabs.NumClasses; c++ {
		allocs[c] = a.centrals[c].Allocs()
	}
	a.readCaches(func(l *slabs.Local) {
		for c := 1; c <= slabs.NumClasses; c++ {
			allocs[c] += l.Allocs(c)
			cached[c] += uint64(l.Cached(c))
		}
	})
	for c := 1; c <= slabs.NumClasses; c++ {
		size := slabs.ClassBytes(c)
		row := stats.Class{Size: size, SlabBytes: slabs.ClassSlabBytes(c), Slabs: a.centrals[c].Stats().Slabs,
			Allocs: allocs[c], Frees: frees[c], Cached: int64(cached[c])}
		row.Live = int64(row.Allocs - row.Frees)
		row.InUse = row.Live * int64(size)
		if a.guard != nil { // objects of n bytes in slots of n+1 or more
			row.InUse = gf.smallUse[c]
		}
		s.Classes = append(s.Classes, row)
		addRow(&s, row)
	}
	ls := a.large.Stats()
	s.Large = stats.Class{Live: ls.Live, InUse: ls.InUse, Allocs: ls.Allocs, Frees: ls.Frees}
	if a.guard != nil {
		s.Quarantined, s.Corrupted = gf.quarantined, gf.corrupted
		s.Large.Live += gf.large.Live
		s.Large.InUse += gf.large.InUse
		s.Large.Allocs += gf.large.Allocs
		s.Large.Frees += gf.large.Frees
	}
	addRow(&s, s.Large)
	return s
}

// addRow counts a row of s into its totals InUse, Live, Allocs and Frees.
func addRow(s *stats.Snapshot, c stats.Class) {
	s.InUse += c.InUse
	s.Live += c.Live
	s.Allocs += c.Allocs
	s.Frees += c.Frees
}

// readCaches runs f on every cache, every P's and every live Cache's, to
// read its counts. f must only read. a.lmu is held.
func (a *Allocator) readCaches(f func(l *slabs.Local)) {
	a.readLocals(f)
	for cs := range a.caches {
		cs.mu.lock()
		f(&cs.l.Local)
		cs.mu.unlock()
	}
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
		return int(mappings.RoundUp(uintptr(n)))
	default:
		return slabs.ClassBytes(slabs.ClassOf(n))
	}
}

// validate checks the invariants of every layer and that the stats agree
// with them. Tests call it after every step that matters; it must not run
// concurrently with other calls.
func (a *Allocator) validate() error {
	var guardHeld [slabs.ClassSlots]int64
	var guardMapped int64
	if a.guard != nil {
		var err error
		if guardHeld, guardMapped, err = a.guard.validate(); err != nil {
			return err
		}
	}
	// What every cache has cached in the slabs it owns; a slab owned by
	// two caches is a broken invariant, and so is any slab a cache owns
	// in guard mode, which serves every small object from the Centrals
	// under its lock (refill and lookup send every path there) and counts
	// on no cache holding an object of its own.
	cached := make(map[*slabs.Slab]int)
	var broken error
	own := func(l *slabs.Local) {
		l.Owns(func(s *slabs.Slab, r int) {
			switch _, dup := cached[s]; {
			case broken != nil:
			case a.guard != nil:
				broken = fmt.Errorf("mmalloc: guard mode, but a cache owns a slab of class %d", s.Class())
			case dup:
				broken = fmt.Errorf("mmalloc: a slab of class %d is owned by two caches", s.Class())
			}
			cached[s] = r
		})
	}
	// a.lmu is held to the end, so that no Cache is drained (a dropped
	// one's cleanup runs at any time) while the layers are compared.
	a.lmu.Lock()
	defer a.lmu.Unlock()
	a.readCaches(own)
	if broken != nil {
		return broken
	}
	s := a.stats()
	for c := 1; c <= slabs.NumClasses; c++ {
		held, err := a.centrals[c].Validate(func(s *slabs.Slab) int { return cached[s] })
		if err != nil {
			return err
		}
		// The owner bits say which objects callers hold; the caches'
		// counts say how many allocations and frees there were. Guard
		// mode holds its canaried and quarantined slots too.
		if live := s.Classes[c-1].Live; held != live+guardHeld[c] {
			return fmt.Errorf("mmalloc: class %d has %d objects held in its slabs, but %d allocations live + %d held by guard mode",
				c, held, live, guardHeld[c])
		}
	}
	if err := a.heap.Validate(); err != nil {
		return err
	}
	if err := a.large.Validate(); err != nil {
		return err
	}
	if err := a.validateReservation(); err != nil {
		return err
	}
	inuse, empty := a.heap.Counts()
	_, kept := a.large.Kept()
	want := int64(inuse+empty)*int64(a.heap.ChunkBytes()) + a.large.Stats().InUse + kept + guardMapped
	if s.Mapped != want {
		return fmt.Errorf("mmalloc: Mapped is %d, chunks and large mappings hold %d", s.Mapped, want)
	}
	if rel := a.heap.Released(); s.Released != rel {
		return fmt.Errorf("mmalloc: Released is %d, the chunks' clean free pages hold %d", s.Released, rel)
	}
	if cap := a.src.RetainCap(); s.Retained > cap {
		return fmt.Errorf("mmalloc: %d bytes retained, over the budget and decay allowance %d", s.Retained, cap)
	}
	var emptySlabs int64
	for c := 1; c <= slabs.NumClasses; c++ {
		emptySlabs += a.centrals[c].EmptyBytes()
	}
	if charged := a.heap.Charged() + kept + emptySlabs; charged != s.Retained {
		return fmt.Errorf("mmalloc: %d bytes charged to the retention budget, but free pages, kept mappings and empty slabs hold %d", s.Retained, charged)
	}
	// The Source never lets held memory pass Limit (a compare-and-swap),
	// so that needs no check here; the large row's Live is counted apart
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

// Free gives b back to the Default Allocator.
func Free(b []byte) error { return Default().Free(b) }

// noCopy makes go vet's copylocks check flag copies of an Allocator.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
