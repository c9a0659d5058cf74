package stats_test

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"

	"github.com/mmalloc/mmalloc/stats"
)

func ExampleBytes() {
	fmt.Println(stats.Bytes(512), stats.Bytes(1536), stats.Bytes(12<<20))
	// Output: 512 B 1.5 KiB 12.0 MiB
}

// Publish serves any Snapshot under an expvar name (mmalloc's
// Allocator.Publish does this for an Allocator); /debug/vars shows it.
func ExamplePublish() {
	snap := func() stats.Snapshot {
		s := stats.Snapshot{Mapped: 4 << 20}
		s.Add(stats.Class{Size: 1024, Live: 3, InUse: 3 << 10, Allocs: 5, Frees: 2})
		return s
	}
	fmt.Println(stats.Publish("example_stats", snap))
	var got stats.Snapshot
	_ = json.Unmarshal([]byte(expvar.Get("example_stats").String()), &got)
	fmt.Println(got.Mapped, got.Live, got.InUse)
	err := stats.Publish("example_stats", snap)
	fmt.Println(errors.Is(err, stats.ErrNameTaken))
	// Output:
	// <nil>
	// 4194304 3 3072
	// true
}

// Add counts a row into the Snapshot's totals.
func ExampleSnapshot_Add() {
	var s stats.Snapshot
	s.Add(stats.Class{Size: 64, Live: 10, InUse: 640, Allocs: 12, Frees: 2})
	s.Add(stats.Class{Size: 128, Live: 1, InUse: 128, Allocs: 1})
	fmt.Println(s.Live, s.InUse, s.Allocs, s.Frees)
	// Output: 11 768 13 2
}

// exampleSnapshot is the figures of an Allocator after Alloc(1000) and
// Alloc(1 << 20) on a fresh one: a chunk with one slab of the 1024-byte
// class taken from it, and one large mapping.
func exampleSnapshot() stats.Snapshot {
	s := stats.Snapshot{
		Mapped: 5 << 20, Released: 4<<20 - 64<<10, PeakMapped: 1<<20 + 64<<10, Resident: -1,
		RetainLimit: 64 << 20, Mmaps: 2, Munmaps: 2, Chunks: 1, ChunkBytes: 4 << 20,
		Classes: make([]stats.Class, 89),
		Large:   stats.Class{Live: 1, InUse: 1 << 20, Allocs: 1},
	}
	s.Classes[32] = stats.Class{Size: 1024, SlabBytes: 64 << 10, Slabs: 1, Live: 1, InUse: 1024, Allocs: 1}
	for _, c := range s.Classes {
		s.Add(c)
	}
	s.Add(s.Large)
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
