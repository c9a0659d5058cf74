// Package arena maps chunks of memory from the OS, finds the chunk of any
// address without a lock, carves chunks into runs of pages, and unmaps
// them when they are empty. See the mmalloc package for the overview.
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
//  1. First fit over the chunks in use, oldest first. Dirty free pages
//     taken leave the retention budget.
//  2. Else reuse a kept empty chunk, else map a new one: MapAligned first
//     tries the address just below the last chunk (the kernel allocates
//     top-down, so it is usually free and aligned: one mmap), else maps
//     chunk+align bytes and unmaps the misaligned ends.
//  3. Mark the run used and dirty, record its owner; report whether every
//     page was clean (then the run reads as zero).
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
// lists. Page owners are written under Heap.mu with atomic stores and read
// with atomic loads by Free without the lock. Registry leaves are created
// under a global mutex; entries are atomic.
package arena
