package mmalloc_test

import (
	"errors"
	"fmt"

	"github.com/mmalloc/mmalloc"
)

// NewValue gives a zeroed T off the Go heap; FreeValue gives it back. A T
// that can hold Go pointers is refused.
func ExampleNewValue() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	type entry struct {
		Key, Value uint64
		Flags      uint32
	}
	e, err := mmalloc.NewValue[entry](a)
	if err != nil {
		panic(err)
	}
	e.Key, e.Value = 1, 2
	fmt.Printf("%+v\n", *e)
	fmt.Println(mmalloc.FreeValue(a, e))

	_, err = mmalloc.NewValue[struct{ Name string }](a)
	fmt.Println(errors.Is(err, mmalloc.ErrPointerType))
	// Output:
	// {Key:1 Value:2 Flags:0}
	// <nil>
	// true
}

// AllocUninit skips the clear: for a buffer about to be overwritten whole.
func ExampleAllocator_AllocUninit() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, err := a.AllocUninit(4096) // contents unspecified
	if err != nil {
		panic(err)
	}
	n := copy(b, make([]byte, 4096)) // e.g. a read that fills it
	fmt.Println(n, a.Free(b))
	// Output: 4096 <nil>
}

// UsableSize tells what a request really gets: its size class, or whole
// pages for a large one.
func ExampleAllocator_UsableSize() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	fmt.Println(a.UsableSize(100), a.UsableSize(1000), a.UsableSize(-1))
	// Output: 112 1024 0
}

// Trim gives back to the OS everything no allocation holds: after it,
// an Allocator with nothing live maps nothing.
func ExampleAllocator_Trim() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	bufs := make([][]byte, 1000)
	for i := range bufs {
		bufs[i], _ = a.Alloc(4096)
	}
	for _, b := range bufs {
		_ = a.Free(b)
	}
	fmt.Println(a.Trim())
	st := a.Stats()
	fmt.Println(st.Live, st.Mapped)
	// Output:
	// <nil>
	// 0 0
}

// In guard mode a write after Free is caught: CheckGuards finds the
// poison of the quarantined object broken.
func ExampleAllocator_CheckGuards() {
	a, _ := mmalloc.New(mmalloc.Options{Guard: true})
	defer a.Close()

	b, _ := a.Alloc(32)
	stale := b[:1] // a reference kept by mistake
	_ = a.Free(b)
	stale[0] = 'x' // a write after free: the page stays mapped, poisoned

	err := a.CheckGuards()
	fmt.Println(errors.Is(err, mmalloc.ErrCorrupted))
	// Output: true
}
