package arena_test

import (
	"errors"
	"fmt"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
)

func ExampleRegion() {
	ar, err := arena.NewRegion(arena.RegionOptions{}) // nothing mapped yet
	if err != nil {
		panic(err)
	}

	type point struct{ X, Y float64 }
	for round := range 2 { // e.g. one round per request
		pts, _ := arena.MakeSlice[point](ar, 0, 1000)
		pts = append(pts, point{1, 2}, point{3, 4})
		p, _ := arena.NewValue[point](ar)
		p.X = float64(round)
		name, _ := ar.Alloc(32)
		copy(name, "off the Go heap")
		fmt.Println(round, len(pts), pts[1].Y, p.X, string(name[:15]))
		_ = ar.Reset() // forget everything, keep the chunk for the next round
	}
	fmt.Println("chunks mapped:", ar.Stats().Chunks)

	_, err = arena.NewValue[struct{ Name string }](ar)
	fmt.Println(errors.Is(err, mmalloc.ErrPointerType))

	fmt.Println(ar.Close())
	_, err = ar.Alloc(8)
	fmt.Println(errors.Is(err, mmalloc.ErrClosed))
	// Output:
	// 0 2 4 0 off the Go heap
	// 1 2 4 1 off the Go heap
	// chunks mapped: 1
	// true
	// <nil>
	// true
}

// A Region with a byte limit: an allocation past it fails with
// mmalloc.ErrOutOfMemory, and the Region stays usable.
func ExampleNewRegion() {
	ar, err := arena.NewRegion(arena.RegionOptions{ChunkBytes: 64 << 10, Limit: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer ar.Close()
	_, err = ar.Alloc(2 << 20)
	fmt.Println(errors.Is(err, mmalloc.ErrOutOfMemory))
	b, err := ar.Alloc(100)
	fmt.Println(len(b), err)
	// Output:
	// true
	// 100 <nil>
}

// MakeSlice gives a zeroed slice of a pointer-free type; append within its
// capacity stays in the Region.
func ExampleMakeSlice() {
	var ar arena.Region // the zero Region is ready to use
	defer ar.Close()
	xs, err := arena.MakeSlice[int64](&ar, 3, 8)
	if err != nil {
		panic(err)
	}
	xs = append(xs, 7)
	fmt.Println(xs, cap(xs))
	_, err = arena.MakeSlice[[]byte](&ar, 1, 1)
	fmt.Println(errors.Is(err, mmalloc.ErrPointerType))
	// Output:
	// [0 0 0 7] 8
	// true
}

// NewValue gives a pointer to a zeroed T in the Region.
func ExampleNewValue() {
	var ar arena.Region
	defer ar.Close()
	type header struct {
		Seq  uint64
		Size uint32
	}
	h, err := arena.NewValue[header](&ar)
	if err != nil {
		panic(err)
	}
	h.Seq = 42
	fmt.Printf("%+v\n", *h)
	// Output: {Seq:42 Size:0}
}
