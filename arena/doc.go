// Package arena is mmalloc's region allocator: a Region is what Go's
// experimental arena package calls an arena. Alloc, NewValue and MakeSlice
// bump a pointer through chunks the Region maps for itself, Reset forgets
// every allocation at once, Release unmaps every byte. See the mmalloc
// package for the overview.
//
// In this module "arena" means the Region allocator and nothing else. The
// chunks that mmalloc.Allocator carves its slabs from are another layer,
// internal/chunk, whose design is in internal/chunk/doc.go; it is internal
// because package mmalloc is its only caller, and exported it would freeze
// an engine that changes with the allocator as public API.
//
// A Region's errors are package mmalloc's sentinels (mmalloc.ErrInvalidSize,
// mmalloc.ErrOutOfMemory, ...), plus ErrReleased, which wraps
// mmalloc.ErrClosed.
//
// # Structures
//
// A Region maps chunks of RegionOptions.ChunkBytes (1 MiB by default) with
// plain mmap, through an osmem.Source of its own (no alignment, no registry:
// nothing is ever looked up by address), and keeps them in a list, in the
// order it uses them; a request above ChunkBytes/4 gets a mapping of its
// own (a big mapping). The bump pointer runs from the current chunk's
// start to its end.
//
// # Paths
//
// Alloc(n):
//  1. Round the bump pointer up to the alignment (16 bytes, or the type's
//     for NewValue and MakeSlice); if n fits before the fast path's limit
//     (the end of the current chunk, or the next sample before it), move
//     the pointer past it and return. That is the whole fast path: an add,
//     a compare, a few stores, and a memclr only if the object reaches
//     past the cleared mark.
//  2. n above ChunkBytes/4: map n rounded to pages on its own.
//  3. Else move to the next chunk of the list, mapping it if there is none,
//     and allocate from its start. The rest of the old chunk is wasted (at
//     most a quarter of it, by step 2).
//
// Memory states: a chunk's bytes are used (below the bump pointer, this
// round), dirty (used in an earlier round, below the chunk's dirty mark) or
// clean (never written since mapped). Reset makes every used byte dirty;
// a reused chunk's dirty bytes are cleared with one memclr when its first
// allocation is made, so Alloc always returns zeroed memory and the fast
// path only compares against the cleared mark. Clearing each allocation
// on its own, or a few KiB ahead at a time, measured slower for small
// objects (BenchmarkRegionRound's region-clear-each and region-clear-8k).
//
// Reset unmaps the big mappings and the chunks beyond
// RegionOptions.RetainBytes (16 MiB by default) and rewinds to the first
// chunk. Release unmaps the rest; later calls fail with ErrReleased.
//
// Sampled heap profiles (profile.go): with RegionOptions.ProfileRate set,
// the fast path's bound is the end of the chunk or the point where the
// next sample falls, whichever comes first, so sampling adds nothing to
// step 1; the allocation that passes the point takes the slow path and is
// recorded.
// Reset and Release count every live sample as freed. Off by default.
//
// # Invariants (validate, after every call in builds with the invariants tag)
//
//	no current chunk: the bump pointer and its end are 0
//	else the bump pointer lies in the current chunk, whose end is its
//	  base + ChunkBytes, and so do the cleared and dirty marks
//	the fast path's limit and the sample mark lie between the bump
//	  pointer and the end
//	bytes mapped == chunks × ChunkBytes + the big mappings' bytes, 0 once
//	  released
//
// # Locking
//
// A Region is used by one goroutine at a time and takes no lock (its
// profile, which WriteHeapProfile may read from any goroutine, has one).
package arena
