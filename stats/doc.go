// Package stats holds the figures an allocator reports and prints them.
//
// The figures are counted where they change — the mapped, released,
// retained and peak bytes and the system calls by internal/osmem's Source,
// allocations and frees by the caches and internal/slabs' Centrals, the
// large row by internal/mappings — and gathered by mmalloc's
// Allocator.Stats; this package only holds and prints them, so it has no
// engine of its own.
//
// A Snapshot separates counters, which only grow (Allocs, Frees, Mmaps,
// Munmaps, Corrupted), from gauges, which go up and down (Mapped, Released,
// Retained, InUse, Live, ...), and keeps one high-water mark (PeakMapped).
//
// # What the figures mean
//
//   - Mapped is every byte mapped from the OS on the allocator's behalf:
//     every chunk (in use or kept empty) plus every large mapping (live or
//     kept for reuse).
//   - Released is the part of Mapped given back to the OS while still
//     mapped: free pages that hold no memory (never touched, or given back
//     with MADV_DONTNEED). Mapped - Released is what the process holds: the
//     figure Options.Limit bounds, PeakMapped records the most of, and
//     mmalloc.ProcessMapped sums over the process, the one to add to the
//     Go heap when budgeting the memory of the whole process.
//   - Resident is the part of Mapped resident in RAM: pages written and
//     not given back, which count in the process's RSS. Measuring it reads
//     the page table of every mapping (mincore), a cost that grows with
//     Mapped, not with the number of allocations; Allocator.Stats measures
//     it on every call. A Snapshot built without measuring it holds -1.
//   - Retained is the freed memory kept mapped for reuse (free pages of
//     chunks still resident, empty slabs, freed large mappings): at most
//     RetainLimit indefinitely, and Decaying beyond it for a while.
//   - InUse is the bytes of live allocations at their usable size (the size
//     class, or the page-rounded mapping), so Mapped - Released - InUse is
//     what the allocator holds beyond its live objects: the rounding to
//     size classes, partly used slabs, retained memory.
//   - Mmaps and Munmaps count system calls. A chunk can cost one mmap and
//     two munmaps (trimming to its alignment), so they need not be equal
//     when nothing is mapped.
//   - A class's Cached is the free objects the caches have reserved to
//     hand out. Quarantined and Corrupted are guard mode's.
//
// # Consistency
//
// Allocator.Stats reads the rows while other goroutines allocate and free,
// one cache at a time, without stopping them: no Live is ever negative,
// and a Snapshot is off from the truth by at most the calls it overlapped
// (mmalloc's Allocator.Stats gives the bound). The large row is read under
// one lock and is exact at that instant. Totals are the sums of rows
// (Snapshot.Add).
//
// # Publishing
//
// Publish (expvar.go) registers a func returning Snapshots with expvar, so
// that /debug/vars shows them as JSON beside the runtime's memstats;
// Allocator.Publish in package mmalloc uses it.
//
// Its String method prints a summary and one row per size class that was
// ever used, and the large row; after Alloc(1000) and Alloc(1 << 20) on a
// fresh Allocator (ExampleSnapshot_String):
//
//	mapped 5.0 MiB, 3.9 MiB of it released (peak held 1.1 MiB), in use 1.0 MiB in 2 live allocations, retained 0 B of 64.0 MiB
//	allocs 2, frees 0, mmaps 2, munmaps 2, chunks 1 in use + 0 empty of 4.0 MiB
//	  class  size  slabs  live   in use  allocs  frees
//	     33  1024      1     1  1.0 KiB       1      0
//	  large     -      -     1  1.0 MiB       1      0
package stats
