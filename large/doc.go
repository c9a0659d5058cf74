// Package large is mmalloc's layer of large allocations: each gets a
// mapping of its own, and a registry recognises them on Free.
//
// What a program calls here is RoundUp, the usable size of a large
// allocation. The registry described below lives in internal/mappings,
// since only package mmalloc can call it.
//
// # Design
//
// A large allocation is one mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|
// MAP_ANONYMOUS) of the request rounded up to whole pages. Fresh mappings
// read as zero, so they are never cleared.
//
// On Free the mapping is kept for reuse while the Source's retention budget
// (bytes, shared with empty chunks and slabs) allows, at most 64 of them;
// past it, or with no budget, Free is one munmap of the same range and the
// memory goes back to the OS at once. A later Alloc reuses the smallest kept
// mapping that holds it with at most 12.5% to spare, unmaps the spare pages
// (so that every allocation's usable size is its request rounded up to
// pages, whichever way it was served), and says it may be dirty: the
// caller clears it (memclr of resident pages costs far less than faulting
// fresh ones in, a page fault per 4 KiB page). Trim unmaps
// every kept mapping.
//
// The registry maps each mapping's first address to its length. Free looks
// the address up: a hit is unmapped; a miss is classified by a scan (the
// error path only) as an interior pointer of a live mapping, a mapping freed
// recently (a double free), or an address this registry never handed out.
//
// # Locking
//
// A Registry is safe for concurrent use. Its mutex protects the map, the
// recently-freed ring and the counters; the mmap and munmap calls themselves
// run outside it.
//
// See the mmalloc package for the overview.
package large
