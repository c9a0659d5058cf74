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
