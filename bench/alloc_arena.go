//go:build goexperiment.arenas

// The Go arena adapter, built only with GOEXPERIMENT=arenas.

package main

import (
	"arena"
	"fmt"
)

// arenaResetBytes is how much an arena hands out before it is freed and
// replaced, once nothing in it is live: the size of one runtime arena chunk
// (8 MiB on 64-bit Linux), so a reset happens at most once per chunk.
const arenaResetBytes = 8 << 20

func init() {
	kinds = append(kinds, Kind{
		Name: "go-arena",
		Doc: fmt.Sprintf("Go arena (GOEXPERIMENT=arenas) MakeSlice; Free only counts down, "+
			"and the whole arena is freed and replaced when nothing is live after %d MiB", arenaResetBytes>>20),
		Zeroed: true, Concurrent: false, FreesEach: false,
		New: func() (Allocator, error) { return &arenaAllocator{a: arena.NewArena()}, nil },
	})
}

// arenaHint is empty: arenas are built in.
const arenaHint = ""

// arenaAllocator allocates from a Go arena, which can free only everything
// at once. Not safe for concurrent use.
type arenaAllocator struct {
	a     *arena.Arena
	live  int // objects handed out and not yet given to Free
	bytes int // bytes handed out by a since it was made
}

// Alloc makes an n-byte slice in the current arena.
func (r *arenaAllocator) Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("go-arena: invalid size %d", n)
	}
	r.live++
	r.bytes += n
	return arena.MakeSlice[byte](r.a, n, n), nil
}

// Free counts one object down; the last one out of a full enough arena
// frees it and starts a new one.
func (r *arenaAllocator) Free([]byte) error {
	r.live--
	if r.live == 0 && r.bytes >= arenaResetBytes {
		r.a.Free()
		r.a = arena.NewArena()
		r.bytes = 0
	}
	return nil
}

// Close frees the current arena.
func (r *arenaAllocator) Close() error {
	r.a.Free()
	r.a = nil
	return nil
}
