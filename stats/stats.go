// Package stats holds the allocator's counters and the snapshots it reports.
package stats

// Snapshot is a point-in-time copy of an allocator's figures.
type Snapshot struct {
	Mapped  int64  // bytes mapped from the OS now: chunks + large mappings
	InUse   int64  // bytes in live allocations, at their usable size
	Live    int64  // live allocations
	Allocs  uint64 // allocations ever made
	Frees   uint64 // allocations ever freed
	Mmaps   uint64 // mmap calls ever made
	Munmaps uint64 // munmap calls ever made
	Classes []Class
}

// Class is one size class's row of a Snapshot.
type Class struct {
	Size   int   // usable bytes of one object
	Slabs  int64 // slabs of this class now
	Live   int64 // live objects
	Allocs uint64
	Frees  uint64
}
