// Package mappings is the engine of mmalloc's large allocations: the
// Registry gives each one a mapping of its own, keeps freed mappings for
// reuse within the retention budget, and recognises its mappings on Free.
// Package mmalloc is its only caller; package large exports RoundUp to
// programs. This is the whole design of the layer.
//
// # Structures
//
//   - Registry: the large mappings of one allocator. A map from each live
//     mapping's first address to its length; the kept mappings (freed and
//     kept for reuse, oldest first, at most maxKept of them); a ring of the
//     first addresses freed lately (recentFrees), to tell a double free
//     from a foreign pointer; the counts of allocations, frees and bytes in
//     use.
//
// # Paths
//
// Alloc(n): the usable size is always RoundUp(n), n rounded up to whole
// pages (the one cap rule).
//  1. Reuse the smallest kept mapping of at least that size that wastes
//     at most an eighth of itself, and unmap its spare pages; the caller
//     clears the bytes it hands out (memclr of resident pages costs far
//     less than faulting fresh ones in, a page fault per 4 KiB page).
//  2. Else, where mappings can be remapped (not in a reservation), grow the
//     largest kept mapping smaller than the request with mremap: its
//     resident pages stay, the pages added read as zero, so an allocation
//     that writes its bytes in order faults only past them. A refused
//     mremap keeps the mapping as it was.
//  3. Else map a fresh one: one mmap (PROT_READ|PROT_WRITE,
//     MAP_PRIVATE|MAP_ANONYMOUS, or a range of the Source's reservation),
//     which reads as zero and is never cleared. With SetHugePages, a
//     mapping of 2 MiB or more is advised to use transparent huge pages.
//
// AllocAtLeast(n), for a buffer that will grow into what it gets: the
// smallest kept mapping of at least n bytes whatever it wastes, else a
// fresh one.
//
// Free(addr): a live mapping's first address is kept for reuse while the
// Source's retention budget (bytes, shared with empty chunks and slabs)
// has room, the oldest kept mapping being unmapped past maxKept; without
// room it is one munmap of the same range, and the memory goes back to the
// OS at once. Any other address changes nothing and is classified by a
// scan (the error path only): inside a live mapping (errs.ErrInvalidPointer),
// a kept mapping or one freed lately (errs.ErrDoubleFree), or an address
// this Registry never handed out (errs.ErrForeignPointer).
//
// Remap(addr, n) (Realloc): one mremap(MREMAP_MAYMOVE) of a live mapping to
// RoundUp(n): the kernel moves page tables and copies no byte. The
// mapping is out of the map while the kernel works; a refusal puts it
// back unchanged. Usable(addr) tells a live mapping's size, or Free's
// error.
//
// Trim unmaps every kept mapping; TrimBytes(n), for the decay of retained
// memory, the oldest ones until n bytes are gone; TryTrim is Trim if the
// lock is free (the reclaim before a Limit would be passed). Walk lists
// every mapping, live or kept, for Resident.
//
// # Invariants (Registry.Validate)
//
//	every live mapping is page aligned and whole pages long
//	bytes in use == the sum of the live mappings' lengths
//	live mappings == allocations - frees
//	no mapping is both live and kept
//	the kept mappings' bytes <= the bytes charged to the retention budget
//
// # Locking
//
// A Registry is safe for concurrent use. Its mutex protects the map, the
// kept list, the recently-freed ring and the counts. The mmap, mremap and
// munmap calls of Alloc, Free, Remap and the trims run outside it; Close
// and Walk hold it throughout.
package mappings
