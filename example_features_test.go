package mmalloc_test

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/mmalloc/mmalloc"
)

func ExampleAllocator_Realloc() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, _ := a.Alloc(100) // cap 112: its size class
	copy(b, "kept")
	c, _ := a.Realloc(b, 112) // within the usable size: the same memory
	fmt.Println(unsafe.SliceData(b) == unsafe.SliceData(c), string(c[:4]), c[111])

	big, _ := a.Realloc(c, 64<<20) // small to large: one copy of 100 bytes
	big[len(big)-1] = 1
	huge, _ := a.Realloc(big, 1<<30) // large to large: mremap, no byte copied
	fmt.Println(len(huge), string(huge[:4]), huge[64<<20-1], huge[1<<30-1])

	empty, err := a.Realloc(huge, 0) // frees
	fmt.Println(len(empty), err, a.Stats().Live)
	// Output:
	// true kept 0
	// 1073741824 kept 1 0
	// 0 <nil> 0
}

func ExampleSetProcessBudget() {
	// Go heap plus everything mmalloc maps: 4 GiB. With GOGC=off the
	// collector then runs only when the Go heap nears its share.
	if err := mmalloc.SetProcessBudget(4 << 30); err != nil {
		panic(err)
	}
	defer mmalloc.SetProcessBudget(0) // restores the previous limit
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	mib128 := func(n int64) int64 { return (n + 64<<20) / (128 << 20) * 128 } // round to 128 MiB
	before := debug.SetMemoryLimit(-1)
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()
	b, _ := a.Alloc(1 << 30)
	fmt.Println("Go limit lowered by about", mib128(before-debug.SetMemoryLimit(-1)), "MiB")
	_ = a.Free(b) // the freed GiB decays: it goes back within about a second
	_ = a.Trim()  // or at once
	fmt.Println("and back:", mib128(before-debug.SetMemoryLimit(-1)), "MiB")
	// Output:
	// Go limit lowered by about 1024 MiB
	// and back: 0 MiB
}
