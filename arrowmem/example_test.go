package arrowmem_test

import (
	"fmt"
	"unsafe"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arrowmem"
)

// An Arrow program switches with one line, memory.DefaultAllocator =
// arrowmem.New(a); here the Allocator is called as Arrow calls it.
func Example() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	mem := arrowmem.New(a) // memory.DefaultAllocator = mem

	buf := mem.Allocate(1000) // zeroed, 64-byte aligned, off the Go heap
	fmt.Println(len(buf), uintptr(unsafe.Pointer(&buf[0]))%64, mem.AllocatedBytes())

	buf = mem.Reallocate(1<<20, buf) // a mapping of its own from here on: later growth is mremap
	fmt.Println(len(buf), mem.AllocatedBytes())

	mem.Free(buf)
	fmt.Println(mem.AllocatedBytes(), a.Stats().Live, mem.BadFrees())
	// Output:
	// 1000 0 1000
	// 1048576 1048576
	// 0 0 0
}

// HeapFallback serves from the Go heap what mmalloc refuses for want of
// memory, instead of panicking; OnBadFree turns a refused Free into a
// panic, for tests.
func ExampleNew_options() {
	a, err := mmalloc.New(mmalloc.Options{Limit: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	mem := arrowmem.New(a, arrowmem.HeapFallback(), arrowmem.OnBadFree(func(err error) { panic(err) }))

	big := mem.Allocate(4 << 20) // past the Limit: from the Go heap
	fmt.Println(len(big), mem.Fallbacks())
	mem.Free(big) // recognised: not a bad Free
	fmt.Println(mem.BadFrees(), mem.AllocatedBytes())
	// Output:
	// 4194304 1
	// 0 0
}

// NewFromEnv lets a program's tests run under guard mode without a
// change: ARROWMEM_GUARD=1 go test ./... turns it on.
func ExampleNewFromEnv() {
	mem, err := arrowmem.NewFromEnv() // in TestMain: memory.DefaultAllocator = mem
	if err != nil {
		panic(err)
	}
	defer mem.Mmalloc().Close()

	buf := mem.Allocate(100)
	mem.Free(buf)
	fmt.Println(mem.Check()) // guard mode's findings and bad frees, if any
	// Output:
	// <nil>
}
