// Package large is the public face of mmalloc's large allocations: a
// request above the Allocator's LargeThreshold (128 KiB by default) gets a
// mapping of its own, kept for reuse within the retention budget once
// freed. The design of the layer (structures, paths, invariants, locking)
// is in internal/mappings/doc.go, beside the code of its engine. See the
// mmalloc package for the overview.
//
// What a program calls here is RoundUp, the usable size of a large
// allocation: the request rounded up to whole pages, the length of the
// mapping it gets, whether that mapping is fresh, reused or grown.
//
// The engine is internal because package mmalloc is its only caller: its
// types and calls change with the allocator, and exported they would be
// frozen as public API. This package exports only what a program can use.
package large
