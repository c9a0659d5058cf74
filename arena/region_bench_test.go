package arena

import (
	"fmt"
	"testing"
)

// objectsPerRound is how many objects a benchmark round allocates before
// freeing them all at once: a request's worth of small allocations.
const objectsPerRound = 4096

// benchRoundSizes are the object sizes of BenchmarkRegionRound.
var benchRoundSizes = []int{16, 64, 256, 1024}

// goArenaRound runs one round on Go's experimental arena package; it is set
// only when built with GOEXPERIMENT=arenas (region_goarena_bench_test.go).
var goArenaRound func(sink [][]byte, size int)

// BenchmarkRegionRound allocates objectsPerRound objects of one size,
// writes each, and frees them all at once, per op:
//
//   - region: Alloc each from a Region kept across rounds, then Reset
//     (a reused chunk is cleared all at once when it is first used);
//   - region-clear-each: the same, clearing each allocation alone;
//   - region-clear-8k: the same, clearing 8 KiB ahead at a time;
//   - region-new: New, Alloc each, Release (nothing kept across rounds);
//   - goheap: make([]byte, size) each, dropped for the GC;
//   - goarena: NewArena, MakeSlice each and Free of Go's arena package
//     (only with GOEXPERIMENT=arenas).
//
// Every variant stores each slice in the same sink, so the work besides
// allocating is identical.
func BenchmarkRegionRound(b *testing.B) {
	for _, size := range benchRoundSizes {
		sink := make([][]byte, objectsPerRound)
		run := func(name string, round func()) {
			b.Run(fmt.Sprintf("size=%d/%s", size, name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size * objectsPerRound))
				for b.Loop() {
					round()
				}
			})
		}
		for _, v := range []struct {
			name  string
			ahead uintptr
		}{{"region", DefaultRegionChunkBytes}, {"region-clear-each", 0}, {"region-clear-8k", 8 << 10}} {
			name := v.name
			a, err := NewRegion(RegionOptions{})
			if err != nil {
				b.Fatal(err)
			}
			a.clearAhead = v.ahead
			run(name, func() {
				for i := range sink {
					s, err := a.Alloc(size)
					if err != nil {
						b.Fatal(err)
					}
					s[0] = 1
					sink[i] = s
				}
				clear(sink)
				if err := a.Reset(); err != nil {
					b.Fatal(err)
				}
			})
			_ = a.Release()
		}
		run("region-new", func() {
			a, err := NewRegion(RegionOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for i := range sink {
				s, err := a.Alloc(size)
				if err != nil {
					b.Fatal(err)
				}
				s[0] = 1
				sink[i] = s
			}
			clear(sink)
			_ = a.Release()
		})
		run("goheap", func() {
			for i := range sink {
				s := make([]byte, size)
				s[0] = 1
				sink[i] = s
			}
			clear(sink)
		})
		if goArenaRound != nil {
			run("goarena", func() { goArenaRound(sink, size) })
		}
	}
}
