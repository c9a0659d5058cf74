// Package chunk is the engine that maps memory for mmalloc's slabs: the
// Heap maps chunks from an osmem.Source, carves them into runs of pages,
// and unmaps them once they are empty, and the process-wide registry finds
// the chunk of any address without a lock. Package mmalloc is its only
// caller (its slabs come from package slabs); no public package exports
// it. This is the whole design of the layer.
//
// # Words
//
//   - chunk: one aligned mapping, carved into pages.
//   - run: consecutive pages of one chunk, taken by one owner (a slab).
//   - owner: what the taker of a run records for its pages, read back by
//     address on every Free.
//
// # Structures
//
//   - Chunk: one mapping of Heap.ChunkBytes bytes (a power of two of at
//     least GranuleBytes, 1 MiB), aligned to its own size. It keeps
//     two bitmaps of its pages (free; dirty: may hold non-zero bytes), the
//     count of free pages, its state, and two tables of owners, all on the
//     Go heap: the page table (one owner per page) and the unit table (one
//     entry per 64 KiB unit, set while one run covers the whole unit).
//     Slabs are whole units, and first fit keeps them on unit boundaries,
//     so Free reads every slab's owner from the unit table, which is small
//     enough to stay in cache (512 bytes for a 4 MiB chunk).
//   - Heap: the chunks of one allocator: a list of those in use, a list of
//     empty ones kept mapped for reuse, and a hint where to map the next.
//   - registry: process-wide, two levels: 16 Ki roots, each a leaf of
//     16 Ki entries made on first use, one per 1 MiB granule, covering the
//     48-bit address space. Lookup is two atomic loads; a chunk owns whole
//     granules, and a granule belongs to at most one chunk.
//   - Memo: one chunk's tables remembered by one cache, so that the owner
//     of an address in that chunk is read without the registry: a
//     comparison and two loads.
//
// # Paths
//
// AllocPages(n), and AllocPagesFor(n, owner, place) for an owner that
// lock-free readers find by address:
//  1. First fit over the chunks in use, in the order of the in-use list
//     (which removing an emptied chunk reorders).
//  2. Else reuse the newest kept empty chunk, else map a new one: the
//     Source's MapAligned first tries the address just below the last
//     chunk (the kernel allocates top-down, so it is usually free and
//     aligned: one mmap), else maps chunk+align bytes and unmaps the
//     misaligned ends. A new chunk's pages are free and clean, counted as
//     released (MarkReleased); the chunk is registered, and advised to use
//     huge pages with HeapOptions.HugePages.
//  3. Count the run's clean pages as held again (Source.MarkHeld, which
//     refuses past a Limit: a new chunk refused so is kept as the empty
//     one, or unmapped). Mark the run used and dirty; dirty free pages
//     taken leave the retention budget. Call place, then record owner in
//     the page table and in the unit table for every unit the run covers
//     whole, with atomic stores, so that a reader never sees an owner
//     before it is complete. Report whether every page was clean (then the
//     run reads as zero), except in a Shared heap: its chunks are pages of
//     a memory file that another process may write into while they are
//     free, so no run is known to read as zero there.
//  4. A mapping refused with ErrNoMemory, while the Source retains memory:
//     let the Heap's lock go, call the reclaim function (SetReclaim: it
//     gives retained memory back, empty slabs to their chunks among it),
//     and try once more.
//
// FreePages: clear the owners of the run's pages and units, mark the run
// free. Its pages stay resident (dirty), charged to the Source's retention
// budget, if it has room; else they are released at once (MADV_DONTNEED,
// or a hole punched in a Shared heap's file) and become clean. A chunk
// left empty is kept mapped if retention is on and it is the only empty
// one, or it holds charged pages and the kept chunks are within the budget
// and its decay allowance; else it is deregistered, its owners cleared,
// marked gone and unmapped. TryFreePages is FreePages if the lock is free.
//
// Trim: unmap every kept empty chunk, and release the free dirty runs of
// the chunks in use, which makes them clean. TrimBytes(n), for the decay
// of retained memory: unmap kept empty chunks that hold charged pages,
// then release free dirty runs, until n bytes are given back.
// TryTrimEmpty unmaps the kept empty chunks if the lock is free.
//
// Free's lookups take no lock: Lookup(addr) in the registry, then
// Chunk.Owner(Page(addr)) in the page table; or Memo.Owner(addr), which
// reads the unit table, then the page table.
//
// # Memory states
//
// A chunk is in use, empty (kept mapped) or gone (unmapped; a stale *Chunk
// may still be held by a concurrent Lookup, or remembered by a Memo: every
// owner is cleared before the unmap, so such a reader finds no owner, and
// its caller falls back or refuses). A page is used, free and dirty
// (resident, charged to the retention budget), or free and clean (holds
// no memory, counted by the Source as released).
//
// # Invariants (Heap.Validate)
//
//	every chunk's state matches its list; a chunk in use has a used page,
//	  an empty one none
//	every chunk is registered, at its first and its last byte
//	a page is free iff its owner is nil; nfree == popcount(free)
//	a unit's entry, if not nil, is the owner of every page of the unit
//	the kept empty chunks beyond the first fit the budget and the decay
//	  allowance (Source.RetainCap)
//
// and, checked by package mmalloc, the Source's released bytes equal the
// clean free pages (Released), and its retained bytes the dirty free pages
// (Charged) plus the empty slabs and large mappings kept.
//
// # Locking
//
// Heap.mu protects every chunk's bitmaps, counts and state, and the Heap's
// lists and hint. Owners (the page table and the unit table) are written
// under Heap.mu with atomic stores and read with atomic loads, without the
// lock, by Free. The registry's entries are atomic; they are written under
// the owning Heap's lock, and leaves are created under a global mutex.
// The Source's calls run under Heap.mu; the reclaim function runs with it
// let go. A Memo has no lock: its cache's owner serialises it. Lock order:
// a slab's Central (package slabs), then Heap.mu.
package chunk
