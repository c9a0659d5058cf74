// Package stats holds the figures an allocator reports and prints them.
//
// A Snapshot separates counters, which only grow (Allocs, Frees, Mmaps,
// Munmaps), from gauges, which go up and down (Mapped, InUse, Live) and
// have a high-water mark where one is kept (PeakMapped).
//
// # What the figures mean
//
//   - Mapped is what the process holds from the OS on the allocator's
//     behalf: every chunk (in use or kept empty) plus every large mapping.
//     It is the figure Options.Limit bounds, and the one to add to the Go
//     heap when budgeting the memory of the whole process.
//   - Resident is the part of Mapped resident in RAM: pages written and
//     not given back, which count in the process's RSS. Measuring it reads
//     the page table of every mapping (mincore), a cost that grows with
//     Mapped, not with the number of allocations; Allocator.Stats measures
//     it on every call. A Snapshot built without measuring it holds -1.
//   - InUse is the bytes of live allocations at their usable size (the size
//     class, or the page-rounded mapping), so Mapped - InUse is the cost of
//     size classes, partly used slabs and kept chunks.
//   - Mmaps and Munmaps count system calls. A chunk can cost one mmap and
//     two munmaps (trimming to its alignment), so they need not be equal
//     when nothing is mapped.
//
// # Consistency
//
// Each row (a size class, the large mappings) is read under its own lock
// and is consistent in itself; different rows may be a few operations
// apart when other goroutines are allocating. Totals are the sums of rows.
//
// # Publishing
//
// Publish (expvar.go) registers a func returning Snapshots with expvar, so
// that /debug/vars shows them as JSON beside the runtime's memstats;
// Allocator.Publish in package mmalloc uses it.
//
// Allocator.Stats in package mmalloc fills a Snapshot; its String method
// prints a summary and one row per size class that was ever used:
//
//	mapped 4.0 MiB (peak 4.0 MiB), in use 1.1 KiB in 2 live allocations
//	allocs 2, frees 0, mmaps 1, munmaps 2, chunks 1 in use + 0 empty of 4.0 MiB
//	class  size  slabs  live   in use  allocs  frees
//	   33  1024      1     1  1.0 KiB       1      0
package stats
