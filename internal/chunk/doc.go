// Package chunk is the engine of package arena's layer: the Heap that maps
// chunks from an osmem.Source, carves them into page runs for package
// mmalloc's slabs, and unmaps them, and the process-wide registry that finds
// the chunk of any address. Its design is documented in package arena.
package chunk
