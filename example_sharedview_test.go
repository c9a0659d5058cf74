package mmalloc_test

import (
	"errors"
	"fmt"

	"github.com/mmalloc/mmalloc"
)

// Both sides in one process, for brevity: in use, OpenShared runs in
// another process that got the file (see the example of Allocator.File).
func ExampleOpenShared() {
	a, _ := mmalloc.New(mmalloc.Options{Shared: true})
	defer a.Close()
	b, _ := a.Alloc(32)
	off, _ := a.Offset(b)

	v, err := mmalloc.OpenShared(a.File())
	if err != nil {
		panic(err)
	}
	defer v.Close()
	w, err := v.Bytes(off, len(b)) // the same memory, mapped again
	if err != nil {
		panic(err)
	}
	copy(w, "written through the view")
	fmt.Printf("%s\n", b[:24])

	_, err = v.Bytes(off, 1<<40) // past the file's end: an error, not a fault
	fmt.Println(errors.Is(err, mmalloc.ErrOutOfRange))
	_ = a.Free(b)
	// Output:
	// written through the view
	// true
}

// A reservation of 1 TiB costs neither memory nor commit charge: Mapped
// counts what is committed from it.
func ExampleOptions_reserve() {
	a, err := mmalloc.New(mmalloc.Options{Reserve: 1 << 40})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, _ := a.Alloc(1 << 20)
	fmt.Printf("mapped %d MiB\n", a.Stats().Mapped>>20)
	_ = a.Free(b)
	_ = a.Trim()
	fmt.Printf("mapped %d MiB\n", a.Stats().Mapped>>20)
	// Output:
	// mapped 1 MiB
	// mapped 0 MiB
}
