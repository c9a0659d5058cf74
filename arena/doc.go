// Package arena is mmalloc's memory layer: it maps memory from the OS in
// chunks, finds the chunk of any address without a lock, carves chunks into
// runs of pages, and unmaps them when they are empty. See the mmalloc
// package for the overview.
//
// What a program calls here is the Region (region.go): a region allocator,
// what Go's experimental arena package calls an arena. Alloc, NewValue and
// MakeSlice bump a pointer through chunks the Region maps for itself, Reset
// forgets every allocation at once, Release unmaps every byte. Its section
// is at the end. A Region's errors are package mmalloc's sentinels
// (mmalloc.ErrInvalidSize, mmalloc.ErrOutOfMemory, ...), plus ErrReleased.
//
// The chunk heap behind mmalloc.Allocator is the engine of this layer. It
// lives in internal/chunk, since only package mmalloc can call it, and is
// described here, with the layer.
//
// # Words
//
//   - arena: this layer, and only it.
//   - chunk: one aligned mapping, carved into pages.
//   - Region: the region allocator a program creates with NewRegion.
//   - Allocator (package mmalloc): the general allocator, whose small
//     objects come from slabs (package slab) carved from chunks, and whose
//     large ones get mappings of their own (package large).
//
// # Structures
//
//   - Chunk: one mapping of Heap.ChunkBytes bytes (a power of two of at
//     least 1 MiB), aligned to its own size. It keeps two bitmaps of its
//     pages (free; dirty: may hold non-zero bytes) and, per page, the owner
//     recorded by whoever took the run (a slab), all on the Go heap.
//   - Heap: the chunks of one allocator: those in use, and empty ones kept
//     mapped for reuse within a byte budget.
//   - registry: process-wide, two levels (16 K roots × 16 K leaves of
//     1 MiB granules, covering the 48-bit address space); Lookup is two
//     atomic loads.
//
// # Paths
//
// AllocPages(n):
//  1. First fit over the chunks in use (in the order of the in-use list,
//     which removing an emptied chunk reorders). Dirty free pages
//     taken leave the retention budget.
//  2. Else reuse a kept empty chunk, else map a new one: MapAligned first
//     tries the address just below the last chunk (the kernel allocates
//     top-down, so it is usually free and aligned: one mmap), else maps
//     chunk+align bytes and unmaps the misaligned ends.
//  3. Count the run's clean pages as held again (Source.Recommit, which
//     refuses past a Limit); mark the run used and dirty, record its
//     owner; report whether every page was clean (then it reads as zero),
//     except in a Shared heap: its chunks are pages of a memory file that
//     another process may write into while they are free, so no run is
//     known to read as zero there.
//
// A clean free page holds no memory, and the Source counts it as released:
// a new chunk's pages (MarkReleased when mapped), and pages given back with
// MADV_DONTNEED by FreePages or Trim.
//
// FreePages: mark the run free. Its pages stay resident (dirty), charged to
// the Source's retention budget, if it has room; else they are released at
// once (MADV_DONTNEED) and become clean. A chunk left empty is kept mapped
// if it is the only empty one, or holds charged pages within the budget;
// else it is marked gone, deregistered and unmapped.
//
// Trim: unmap every kept empty chunk, and MADV_DONTNEED the free dirty runs
// of chunks in use, which makes them clean again.
//
// # Memory states
//
// A chunk is in use, empty (kept mapped) or gone (unmapped; a stale *Chunk
// may still be held by a concurrent Lookup, whose caller then finds no
// owner under its lock). A page is used, free-dirty or free-clean.
//
// # Locking
//
// Heap.mu protects every chunk's bitmaps, counts and state, and the Heap's
// lists. Page owners (the page table, and the unit table: one entry per
// 64 KiB run of whole units, such as a slab) are written under Heap.mu
// with atomic stores and read with atomic loads by Free without the lock. Registry leaves are created
// under a global mutex; entries are atomic.
//
// # Regions
//
// A Region maps chunks of RegionOptions.ChunkBytes (1 MiB by default) with plain
// mmap (no alignment, no registry: nothing is ever looked up by address)
// and keeps them in a list, in the order it uses them.
//
// Alloc(n):
//  1. Round the bump pointer up to the alignment (16 bytes, or the type's
//     for NewValue and MakeSlice); if n fits before the end of the current
//     chunk, move the pointer past it and return. That is the whole fast
//     path: an add, a compare, two stores.
//  2. n above ChunkBytes/4: map n rounded to pages on its own.
//  3. Else move to the next chunk of the list, mapping it if there is none,
//     and allocate from its start. The rest of the old chunk is wasted (at
//     most a quarter of it, by step 2).
//
// Memory states: a chunk's bytes are used (below the bump pointer, this
// round), dirty (used in an earlier round, below the chunk's dirty mark) or
// clean (never written since mapped). Reset makes every used byte dirty;
// a reused chunk's dirty bytes are cleared with one memclr when its first
// allocation is made, so Alloc always returns zeroed memory and the fast
// path only compares against the cleared mark. Measured alternatives
// (BenchmarkRegionRound, 4096 objects a round): clearing each allocation
// alone costs 1.4x for 64-byte objects and is even (within 3%) at 1 KiB;
// clearing 8 KiB ahead at a time costs 1.05x at 64 B and 1.1x at 1 KiB.
//
// Reset unmaps the big mappings and the chunks beyond RegionOptions.RetainBytes
// (16 MiB by default) and rewinds to the first chunk. Release unmaps the
// rest; later calls fail with ErrReleased.
//
// Heap profiles (profile.go): with RegionOptions.ProfileRate set, the fast
// path's bound is the end of the chunk or the point where the next sample
// falls, whichever comes first, so sampling adds nothing to step 1; the
// allocation that passes the point takes the slow path and is recorded.
// Reset and Release count every live sample as freed. Off by default.
//
// A Region is used by one goroutine at a time and takes no lock (its
// profile, which WriteHeapProfile may read from any goroutine, has one).
package arena
