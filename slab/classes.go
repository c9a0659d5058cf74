package slab

import "github.com/mmalloc/mmalloc/internal/slabs"

// The size classes' bounds.
const (
	// NumClasses counts the size classes, plus class 0, which no request
	// gets: classes are numbered 1 to NumClasses-1.
	NumClasses = 90
	// MaxSmallBytes is the largest request the slabs serve (128 KiB);
	// an Allocator's LargeThreshold may lower it, never raise it.
	MaxSmallBytes = 128 << 10
)

// ClassOf returns the size class serving a request of n bytes, for
// 0 < n <= MaxSmallBytes, and 0 for any other n.
func ClassOf(n int) int { return slabs.ClassOf(n) }

// ClassBytes returns the object size of class c: the usable size of every
// allocation that class serves. It returns 0 for c outside
// [1, NumClasses).
func ClassBytes(c int) int {
	if c < 1 || c >= NumClasses {
		return 0
	}
	return slabs.ClassBytes(c)
}

// ClassSlabBytes returns the bytes of one slab of class c (a multiple of
// 64 KiB), or 0 for c outside [1, NumClasses).
func ClassSlabBytes(c int) int {
	if c < 1 || c >= NumClasses {
		return 0
	}
	return slabs.ClassSlabBytes(c)
}

// OwnedBytesBound returns the most slab bytes one cache (each P's, or one
// mmalloc.Cache) can hold beyond its live objects: one slab of every
// class. Memory freed and not yet given back stays within RetainBytes
// (and, while it decays, DecayBytes more) plus this bound per cache.
func OwnedBytesBound() int { return slabs.OwnedBytesBound() }
