// Package slab is the public face of mmalloc's small objects: requests up
// to MaxSmallBytes (128 KiB) are served from slabs, runs of pages each
// holding objects of one size class. The design of the layer (structures,
// paths, invariants, locking) is in internal/slabs/doc.go, beside the code
// of its engine. See the mmalloc package for the overview.
//
// What a program calls here is the size-class table: ClassOf, ClassBytes
// and ClassSlabBytes say what a request really gets (the usable size that
// mmalloc's Allocator.UsableSize reports), so that buffers can be sized to
// fill their class; OwnedBytesBound is what one cache can hold beyond its
// live objects. The classes are numbered 1 to NumClasses-1 (89 of them):
// 8 B, then 16 B steps to 128 B, then eight per power of two, so that from
// 128 B up a request wastes less than 12.5% of its object, and every class
// of 16 B or more keeps objects 16-byte aligned.
//
// The engine is internal because package mmalloc is its only caller: its
// types and calls change with every change to the allocator's hot paths,
// and exported they would be frozen as public API. This package exports
// only what a program can use.
package slab
