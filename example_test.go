package mmalloc_test

import (
	"errors"
	"fmt"

	"github.com/mmalloc/mmalloc"
)

func ExampleNew() {
	a, err := mmalloc.New(mmalloc.Options{
		Limit: 1 << 30, // never map more than 1 GiB
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	b, err := a.Alloc(1 << 20)
	fmt.Println(len(b), err)
	fmt.Println(a.Free(b))
	// Output:
	// 1048576 <nil>
	// <nil>
}

func ExampleAllocator_Alloc() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, err := a.Alloc(100) // zeroed, like make([]byte, 100)
	if err != nil {
		panic(err)
	}
	copy(b, "off the Go heap")
	fmt.Printf("len %d, cap %d (the size class), %q\n", len(b), cap(b), b[:15])
	_ = a.Free(b)

	_, err = a.Alloc(-1)
	fmt.Println(errors.Is(err, mmalloc.ErrInvalidSize))
	// Output:
	// len 100, cap 112 (the size class), "off the Go heap"
	// true
}

func ExampleAllocator_Free() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, _ := a.Alloc(64)
	fmt.Println(a.Free(b[:10])) // a resliced buffer frees the allocation
	err := a.Free(b)
	fmt.Println(errors.Is(err, mmalloc.ErrDoubleFree))
	err = a.Free(make([]byte, 64)) // Go heap memory is not ours
	fmt.Println(errors.Is(err, mmalloc.ErrForeignPointer))
	// Output:
	// <nil>
	// true
	// true
}

func ExampleAllocator_Stats() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	small, _ := a.Alloc(1000)
	large, _ := a.Alloc(1 << 20)
	s := a.Stats()
	fmt.Printf("live %d, in use %d bytes, mapped %d bytes, mmaps >= 2: %v\n",
		s.Live, s.InUse, s.Mapped, s.Mmaps >= 2)
	_ = a.Free(small)
	_ = a.Free(large)
	_ = a.Trim()
	fmt.Println(a.Stats().Mapped)
	// Output:
	// live 2, in use 1049600 bytes, mapped 5242880 bytes, mmaps >= 2: true
	// 0
}

func ExampleAlloc() {
	b, err := mmalloc.Alloc(4096) // from the process-wide Default allocator
	if err != nil {
		panic(err)
	}
	defer mmalloc.Free(b)
	fmt.Println(len(b), b[0])
	// Output: 4096 0
}

func ExampleCache() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	// One Cache per goroutine: no lock, no atomic on its fast path.
	c := a.NewCache()
	defer c.Flush() // give its free objects back when the goroutine is done

	for i := range 3 {
		b, err := c.AllocUninit(512) // contents unspecified: overwrite it all
		if err != nil {
			panic(err)
		}
		n := copy(b, fmt.Sprintf("message %d", i))
		fmt.Println(string(b[:n]))
		if err := c.Free(b); err != nil {
			panic(err)
		}
	}
	// Output:
	// message 0
	// message 1
	// message 2
}
