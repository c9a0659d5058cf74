package arena_test

import (
	"bytes"
	"fmt"

	"github.com/google/pprof/profile"

	"github.com/mmalloc/mmalloc/arena"
)

// With ProfileRate 1 a Region records every allocation; WriteHeapProfile
// writes them in the pprof format (go tool pprof reads it), and Reset
// counts them all as freed.
func ExampleRegion_WriteHeapProfile() {
	ar, err := arena.NewRegion(arena.RegionOptions{ProfileRate: 1})
	if err != nil {
		panic(err)
	}
	defer ar.Close()
	for range 10 {
		_, _ = ar.Alloc(1024)
	}
	inUse := func() (objects, bytes_ int64) {
		var buf bytes.Buffer
		if err := ar.WriteHeapProfile(&buf); err != nil {
			panic(err)
		}
		p, err := profile.Parse(&buf)
		if err != nil {
			panic(err)
		}
		for _, s := range p.Sample {
			objects += s.Value[2] // inuse_objects
			bytes_ += s.Value[3]  // inuse_space
		}
		return objects, bytes_
	}
	fmt.Println(inUse())
	_ = ar.Reset()
	fmt.Println(inUse())
	// Output:
	// 10 10240
	// 0 0
}
