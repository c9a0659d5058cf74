package stats_test

import (
	"fmt"

	"github.com/mmalloc/mmalloc/stats"
)

// exampleSnapshot is the figures of an Allocator after Alloc(1000) and
// Alloc(1 << 20) on a fresh one: a chunk with one slab of the 1024-byte
// class taken from it, and one large mapping.
func exampleSnapshot() stats.Snapshot {
	s := stats.Snapshot{
		Mapped: 5 << 20, Released: 4<<20 - 64<<10, Held: 1<<20 + 64<<10, PeakHeld: 1<<20 + 64<<10, Resident: -1,
		RetainBytes: 64 << 20, Mmaps: 2, Munmaps: 2, Chunks: 1, ChunkBytes: 4 << 20,
		InUse: 1<<20 + 1024, Live: 2, Allocs: 2, // the rows' sums
		Classes: make([]stats.Class, 89),
		Large:   stats.Class{Live: 1, InUse: 1 << 20, Allocs: 1},
	}
	s.Classes[32] = stats.Class{Size: 1024, SlabBytes: 64 << 10, Slabs: 1, Live: 1, InUse: 1024, Allocs: 1}
	return s
}

// String prints a summary, then one row per size class ever used and the
// large row. Package doc.go shows the same table.
func ExampleSnapshot_String() {
	fmt.Print(exampleSnapshot())
	// Output:
	// mapped 5.0 MiB, 3.9 MiB of it released (peak held 1.1 MiB), in use 1.0 MiB in 2 live allocations, retained 0 B of 64.0 MiB
	// allocs 2, frees 0, mmaps 2, munmaps 2, chunks 1 in use + 0 empty of 4.0 MiB
	//   class  size  slabs  live   in use  allocs  frees
	//      33  1024      1     1  1.0 KiB       1      0
	//   large     -      -     1  1.0 MiB       1      0
}
