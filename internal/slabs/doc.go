// Package slabs is the engine of package slab's layer: the size-class
// table, the Slab records, each class's Central, and Local, the one cache
// front-end of the per-P caches and of mmalloc.Cache. Its design is
// documented in package slab.
package slabs
