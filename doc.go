// Package mmalloc allocates memory outside the Go heap: byte buffers mapped
// straight from the kernel with anonymous mmap and given back with munmap,
// which the garbage collector neither scans, nor counts toward GOGC, nor
// pauses for.
//
// It is for programs that hold many or large buffers — caches, network and
// storage buffers, columnar data — whose cost on the Go heap is GC work
// proportional to them. Memory from mmalloc is manual: it MUST be freed
// with Free, it MUST NOT be used after Free, and it MUST NOT hold Go pointers
// (the collector cannot see them there and would free what they point to).
//
// # Basics
//
//	a, err := mmalloc.New(mmalloc.Options{})
//	b, err := a.Alloc(64 << 10) // zeroed, len 64 KiB, like make
//	...
//	err = a.Free(b)
//
// Alloc returns zeroed memory; AllocUninit skips the clearing; AllocAligned
// (aligned.go) places it at a multiple of a power of two up to the page
// size, as Arrow's buffers (64 B) and O_DIRECT (the page) need. Without
// it, Alloc(n) is aligned to the largest power of two dividing its usable
// size: 8 B for n <= 8, at least 16 B above, the page for large
// allocations (see Alloc). Free reports
// every misuse it can detect with a sentinel error (ErrForeignPointer,
// ErrInvalidPointer, ErrDoubleFree, ErrClosed) and changes nothing when it
// does. Stats tells what is mapped, in use and live, per size class; Trim
// gives every unused byte back to the OS; Close unmaps everything.
//
// # Beyond Alloc and Free
//
//   - Realloc (realloc.go) resizes in place within the size class, grows
//     and shrinks large allocations with mremap (no byte copied), and moves
//     the rest; bad input gets Free's errors.
//   - NewValue, MakeSlice, FreeValue, FreeSlice (typed.go) hold values of
//     pointer-free types; a type that can hold a Go pointer, at any depth,
//     is refused with ErrPointerType naming the field.
//   - Buffer (buffer.go) is a bytes.Buffer whose bytes are off-heap and
//     which grows through Realloc.
//   - SetProcessBudget (budget.go) keeps the Go memory limit at one budget
//     minus what mmalloc holds (mapped and not given back to the OS), for
//     the Go heap and mmalloc together.
//   - Ref (ref.go) is an allocation's address as an integer: AllocRef,
//     FreeRef and Bytes let a program index its buffers with maps and
//     slices that hold no Go pointer, which the collector never scans.
//   - Allocator.Publish (expvar.go) shows Stats at /debug/vars;
//     Allocator.Metrics (metrics.go) returns an iterator over them, under
//     runtime/metrics-style names for a collector such as Prometheus's,
//     with Resident: the bytes of the mappings in RAM.
//   - Options.Shared (shared.go) takes the memory from one memory file
//     that another process maps with OpenShared, reading and writing a
//     buffer at the offset Allocator.Offset gives; Options.Reserve carves
//     it from one reservation of address space, committed as used.
//   - WriteHeapProfile, ServeHeapProfile and CheckLeaks (profile.go): a
//     heap profile of the allocations, sampled as the runtime samples the
//     Go heap (Options.ProfileRate), in the pprof format, served over
//     HTTP, and a leak check for tests.
//   - Package arena's Region is a region allocator: bump allocation,
//     everything forgotten at once by Reset, unmapped by Close.
//   - Packages arrowmem, parquetmem and httpmem plug mmalloc into Apache
//     Arrow's memory.Allocator, parquet-go's BufferPool and
//     httputil.BufferPool, satisfying them structurally: the module
//     imports neither Arrow nor parquet-go. Their users' own test suites
//     prove them (integration/, a module of its own).
//
// # Packages
//
// Each layer's design lives in one place, the doc.go of the package that
// holds its code:
//
//   - internal/slabs: size classes, slabs, each class's Central, and the
//     caches (internal/slabs/doc.go).
//   - internal/chunk: the chunks slabs are carved from, and the registry
//     that finds the chunk of any address (internal/chunk/doc.go).
//   - internal/mappings: the large allocations, one mapping each
//     (internal/mappings/doc.go).
//   - internal/osmem: every system call that maps or unmaps, and the
//     figures and limits of one Source; internal/heapprof: the sampled
//     heap profile.
//   - arena: the Region allocator, a layer of its own, with its design.
//
// The engines stay under internal/ because package mmalloc is their only
// caller: their types and calls change with every change to the
// allocator, and exported they would be frozen as public API. The public
// packages slab, large and stats export only what a program can use — the
// size-class table, the usable size of a large allocation, the figures —
// and each says in its first lines where its engine's design is.
//
// # Design
//
// The structures, one line each (the engines' docs say more):
//
//   - Allocator: the public face; a per-P cache for each P, one
//     slabs.Central per size class, a chunk.Heap of chunks and a
//     mappings.Registry, all mapping through one osmem.Source that counts
//     calls and holds the byte limit and the retention budget.
//   - Cache: a per-goroutine cache handle, for the fastest path.
//   - cache (slabs.Local): per size class, the one slab it owns and the
//     free objects of it cached to hand out, with the class's counts;
//     one per P, or one per Cache. A cache owns at most one slab per class
//     (slab.OwnedBytesBound, about 11.4 MiB, in all).
//   - size class (internal/slabs; package slab exports the table): 89
//     object sizes from 8 B to 128 KiB, at most 12.5% apart from 128 B up;
//     generated by internal/slabs/mksizeclasses.go.
//   - slab (internal/slabs): a run of pages serving one class, with one
//     owner bit per object (set while a caller holds it) and a count of
//     the objects out, kept on the Go heap, never in the memory handed out.
//     It is owned by one cache, or on its class's Central's lists.
//   - chunk (internal/chunk): an aligned mapping (4 MiB by default) carved
//     into slabs; a process-wide radix registry maps any address to its
//     chunk in two loads, without a lock.
//   - large mapping (internal/mappings): one mmap per request above
//     Options.LargeThreshold (128 KiB), kept for reuse on Free within the
//     retention budget, else unmapped.
//
// The path of Alloc(n):
//
//  1. Validate n: 0 returns an empty slice, a negative or oversized n
//     ErrInvalidSize.
//  2. n > LargeThreshold: reuse a kept mapping that fits (cleared with
//     memclr), else grow the largest smaller kept one with mremap (its new
//     pages read as zero), else map n rounded up to pages (fresh pages
//     read as zero).
//  3. Otherwise find n's size class, pin the goroutine to its P (as
//     sync.Pool does: no lock) and take the lowest object cached in the
//     slab the P's cache owns for the class, reading only the class's
//     line of the cache; with none reserved, reserve the free objects of
//     the slab's next owner word (one atomic add). (A Cache does the same
//     with its own slabs, unpinned.) Objects come out in address order,
//     so consecutive allocations share cache lines and pages, and an
//     object freed into the cached word comes out first, once one more
//     object of its class has been freed through the cache.
//  4. The slab has nothing free left: give it back to the class's Central
//     and take another, in one visit under its mutex: a partial slab (at
//     least an eighth free), else a kept empty slab, else a new slab carved
//     from a chunk with room (chunk.Heap.AllocPagesFor), else from a newly
//     mapped chunk.
//  5. Set the object's owner bit (one atomic OR); clear the object unless
//     it is known to read as zero (never used since its pages were mapped
//     or released, and not in a Shared Allocator's file, which another
//     process may write: the reservation notes which) or the caller chose
//     AllocUninit.
//
// The path of Free(b):
//
//  1. cap(b) == 0: nothing to do. Otherwise take b's first address.
//  2. The fast path, pinned (or through a Cache), with no lock: if the
//     address is an object of the owner word the cache takes objects from for
//     the class of cap(b) (a guess, which the index confirms), or else lies
//     in one of the few chunks the cache remembers — else in the chunk of
//     this Allocator the registry finds, which the cache then remembers —
//     read the slab owning it from that chunk's unit table (one entry per
//     64 KiB) or page table, find the object index with one multiply and a
//     rotate (which also tells whether the address starts an object), and
//     clear its owner bit with one atomic AND, which tells whether it was
//     set. An object of the cached word is kept by the cache, and
//     cached again at the class's next free through it: so a loop that
//     allocates and frees reuses two objects' lines, as a free list would,
//     while a second Free of an object is refused even after one more
//     allocation of its class. On success go to step 4; on any refusal,
//     and for an address in no chunk of this Allocator, take the slow
//     path: steps 3 to 5, every check in its documented order.
//  3. After Close: ErrClosed. Find the chunk in the registry (not a chunk
//     of this Allocator: go to step 5); find the slab owning the page,
//     check that the address starts an object (else ErrInvalidPointer)
//     whose owner bit is set (else ErrDoubleFree), and clear the bit.
//  4. Count the object out of its slab (one atomic add; a cache counts the
//     frees into the slab it owns itself, and takes them off in one add
//     later; an object it keeps stays counted). The object is free where
//     it lies: no list of freed objects exists. If no cache owns
//     the slab and this Free made an eighth of it free, or all of it, the
//     Central moves it (one lock): to the partial list, or, empty, it is
//     kept within the retention budget or goes back to its chunk, whose
//     free pages are kept within the same budget or released, and a chunk
//     that empties is kept or unmapped.
//  5. Ask the large registry, which keeps or unmaps a mapping starting
//     there, or explains why not (interior, freed lately, foreign). In
//     guard mode every Free takes guard mode's path instead (guard.go).
//
// # Memory states
//
// A page of a chunk is free and clean (reads as zero, costs no RSS), in a
// slab, or free and dirty (it held objects and is still resident). Freed
// memory that stays resident — free dirty pages, kept empty slabs, kept
// large mappings — is charged to one retention budget (Options.RetainBytes,
// 64 MiB by default); what does not fit is kept for a while, up to
// Options.DecayBytes, and given back once it has gone unused for
// Options.DecayTime (decay.go); beyond that it goes back at once, with
// MADV_DONTNEED or munmap. Before a mapping would pass Options.Limit, the
// retained memory is given back first (kept empty slabs to their chunks,
// empty chunks and kept large mappings to the OS), and the mapping tried
// again. So as frees happen, what the allocator holds beyond its live
// objects is at most the budget, what decays beyond it, and the slabs the
// caches own (one per class per cache: slab.OwnedBytesBound each).
// Snapshot.Released counts the mapped bytes that hold no memory;
// Snapshot.Held, Mapped - Released, is what the process holds, and what
// Limit bounds. Trim gives all the retained memory back, takes every P's
// cache's slabs back, and unmaps empty chunks: after every buffer is
// freed, Trim brings the process back to its starting RSS.
//
// # Concurrency
//
// An Allocator is safe for concurrent use. A P's cache is used only while
// its goroutine is pinned, and the set of them is loaded after pinning.
// Trim (and a P found without a cache after GOMAXPROCS was raised)
// installs a new set and drains the old one on the calling goroutine,
// after a stop-the-world (runtime.ReadMemStats), which waits for every
// pinned section to end: nothing depends on where the scheduler runs a
// goroutine (race builds lock each cache with a mutex instead, which the
// race detector can check). Owner bits and slab counts change without a
// lock, by atomic operations, so that of two Frees racing on one object
// exactly one succeeds. Each size class's Central has its own mutex; the
// chunk heap and the large registry have one each; the chunk registry is
// read with atomic loads. Lock order: the Allocator's cache lock (lmu),
// then guard mode's lock (guard.go), then Central, then Heap.
//
// # Guard mode
//
// Options.Guard trades speed for finding memory bugs, for tests and
// staging. Alloc and Free take one locked path (guard.go) that bypasses
// the per-P caches and every Cache; slices have cap == len. Large objects
// end at a PROT_NONE guard page, so an overflow faults at once, and Free
// makes their mapping PROT_NONE, so a use after free faults (with
// debug.SetPanicOnFault(true), as a panic whose Addr is the address
// touched). Small objects carry canary bytes after their end, checked by
// Free (ErrCorrupted, and the slot is retired); freed slots are poisoned
// and quarantined, and a write after free breaks the poison, which is
// checked when the slot leaves the quarantine and reported by
// CheckGuards. Stats counts the quarantine and the corruptions found.
// Each large object costs the kernel two mappings, which the process's
// vm.max_map_count bounds: guard mode takes at most half of it, across
// every guard Allocator, and past that refuses with ErrOutOfMemory
// (Options.Guard).
//
// # Checking builds
//
// Built with the invariants tag (go test -tags invariants), every public
// call that may change an Allocator (invariants.go lists them) runs
// validate — the equations between slabs, chunks, caches and stats — when
// it returns, and panics if one is broken; Regions check theirs likewise
// (package arena). Normal builds compile the checks out.
//
// # Caveats
//
//   - With buffers off the Go heap, the Go heap is small and GOGC=100 runs
//     the collector far more often. Give the process one budget with
//     SetProcessBudget, which keeps the Go memory limit at the budget minus
//     what mmalloc holds, and turn GOGC off (debug.SetGCPercent(-1)): the
//     collector then runs only when the Go heap nears its share. A memory
//     limit set by hand (GOMEMLIMIT, debug.SetMemoryLimit) must leave room
//     for what mmalloc holds.
//   - Close unmaps memory that may still be referenced: any later access
//     faults. Do not call it while other calls are in progress.
//   - Free detects a double free only while the object's slab still exists;
//     once a chunk is unmapped its addresses are foreign to the allocator.
package mmalloc
