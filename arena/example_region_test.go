package arena_test

import (
	"errors"
	"fmt"

	"github.com/mmalloc/mmalloc/arena"
)

func ExampleArena() {
	ar, err := arena.New(arena.Options{}) // nothing mapped yet
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
	fmt.Println(errors.Is(err, arena.ErrPointerType))

	fmt.Println(ar.Release())
	_, err = ar.Alloc(8)
	fmt.Println(err)
	// Output:
	// 0 2 4 0 off the Go heap
	// 1 2 4 1 off the Go heap
	// chunks mapped: 1
	// true
	// <nil>
	// arena: arena is released
}
