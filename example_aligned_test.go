package mmalloc_test

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/mmalloc/mmalloc"
)

// AllocAligned places a buffer at a multiple of a power of two: 64 bytes
// for Arrow's columns, the page for O_DIRECT. Free releases it.
func ExampleAllocator_AllocAligned() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	col, err := a.AllocAligned(1000, 64)
	if err != nil {
		panic(err)
	}
	page := os.Getpagesize()
	block, err := a.AllocAligned(3*page, page)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(col), cap(col) == a.UsableSize(1024), uintptr(unsafe.Pointer(&col[0]))%64)
	fmt.Println(len(block) == 3*page, uintptr(unsafe.Pointer(&block[0]))%uintptr(page))

	_, err = a.AllocAligned(100, 48)
	fmt.Println(err)

	fmt.Println(a.Free(col), a.Free(block))
	// Output:
	// 1000 true 0
	// true 0
	// mmalloc: invalid size: alignment 48 is not a power of two from 1 to the page size (4096)
	// <nil> <nil>
}
