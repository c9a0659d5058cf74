package slab_test

import (
	"fmt"

	"github.com/mmalloc/mmalloc/slab"
)

// A request of 100 bytes is served by the 112-byte class: 12 bytes of the
// object are spare, and Allocator.UsableSize reports the 112.
func ExampleClassOf() {
	c := slab.ClassOf(100)
	fmt.Println(slab.ClassBytes(c), slab.ClassSlabBytes(c))
	fmt.Println(slab.ClassOf(0), slab.ClassOf(slab.MaxSmallBytes+1))
	// Output:
	// 112 65536
	// 0 0
}

// OwnedBytesBound is the most a cache keeps beyond its live objects.
func ExampleOwnedBytesBound() {
	fmt.Println(slab.OwnedBytesBound() > slab.ClassSlabBytes(slab.NumClasses-1))
	// Output: true
}
